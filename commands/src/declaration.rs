//! Declaration commands: authorise the caller, load the declaration's stream, let the domain
//! decide with the reference data in force, append with the expected version.
//!
//! Retransmission never duplicates: a filing's events carry a correlation id derived from the
//! declaration and the filing's content, so the same filing sent again finds its own events and
//! is answered with the declaration as it stands, without deciding again.

use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use domain::DomainEvent;
use domain::codes::{Actor, Lrn, PartyId};
use domain::declaration::{
    AcceptDeclaration, AmendDeclaration, AssessmentContext, CorrectDeclaration, Declaration,
    DeclarationCommand, DeclarationError, DeclarationEvent, FileDeclaration, RawFiling,
    RecordInspection, RecordPayment, RefuseDeclaration, Status, ValidationError,
    WithdrawDeclaration, decide, declaration_id, evolve,
};
use domain::duty::AssessmentPolicy;
use domain::risk::{RandomInspection, RuleSet};
use eventstore::{
    Direction, EventMetadata, EventStore, ExpectedVersion, NewEvent, StoreError, StreamId,
};
use futures::TryStreamExt;
use uuid::Uuid;

use crate::reference::ReferenceView;

/// Namespace of filing correlation ids.
const FILING_NAMESPACE: Uuid = Uuid::from_u128(0x3c8e_51f2_7d04_4b6a_a1e9_0f5d_6b2c_8e47);

/// What a caller may do, as the API authenticated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Declarant,
    Officer,
    Auditor,
    Admin,
    Integrator,
    /// Reads the warehouse's aggregates only: never a declaration, a batch or the log.
    Analyst,
}

/// The authenticated caller of a command.
#[derive(Debug, Clone)]
pub struct Caller {
    pub role: Role,
    /// The caller's organisation; a declarant acts only for it.
    pub organisation: Option<String>,
    /// Recorded on every event, e.g. `declarant/ACME` or `officer/K123`.
    pub actor: Actor,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The caller may not do this (or may not see this declaration).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("declaration {0} not found")]
    NotFound(Uuid),
    /// The domain refused the command (a business rule, with its own code).
    #[error(transparent)]
    Rejected(#[from] DeclarationError),
    /// Someone else changed the declaration since it was read; read it again and retry.
    #[error("declaration was changed concurrently (expected version {expected}, now {actual})")]
    Conflict { expected: u64, actual: u64 },
    #[error(transparent)]
    Store(StoreError),
    /// A stored event could not be read: the stream is not what this version understands.
    #[error("stored event unreadable: {0}")]
    Corrupt(String),
}

impl CommandError {
    /// A stable code for the API edge.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Rejected(e) => e.code(),
            Self::Conflict { .. } => "CONFLICT",
            Self::Store(e) => e.code(),
            Self::Corrupt(_) => "STORE_CORRUPT",
        }
    }
}

impl From<StoreError> for CommandError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::WrongExpectedVersion {
                expected, actual, ..
            } => Self::Conflict {
                expected: match expected {
                    ExpectedVersion::Exact(v) => v,
                    _ => 0,
                },
                actual,
            },
            other => Self::Store(other),
        }
    }
}

/// A declaration after a command: its state, its stream version, and for a rejected filing
/// every validation error.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub id: Uuid,
    /// The stream's version (number of events).
    pub stream_version: u64,
    pub state: Declaration,
    /// Errors of the latest rejected filing, when the declaration stands rejected.
    pub errors: Vec<ValidationError>,
    /// True when this was a retransmission answered from the stored events.
    pub replayed: bool,
}

/// The application service for declarations.
#[derive(Debug, Clone)]
pub struct DeclarationService {
    store: EventStore,
    reference: ReferenceView,
    policy: AssessmentPolicy,
    /// The administration's time zone, for the filing date (Korea: UTC+9).
    zone: FixedOffset,
    default_rules: Arc<RuleSet>,
}

impl DeclarationService {
    pub fn new(store: EventStore, reference: ReferenceView) -> Self {
        Self {
            store,
            reference,
            policy: AssessmentPolicy::korea(),
            zone: korea_time(),
            default_rules: Arc::new(default_rules()),
        }
    }

    pub fn reference(&self) -> &ReferenceView {
        &self.reference
    }

    /// Files a declaration. The declarant files for its own organisation; an admin may file
    /// for any declarant (loading historical data).
    pub async fn file(&self, caller: &Caller, filing: RawFiling) -> Result<Outcome, CommandError> {
        self.file_dated(caller, filing, None).await
    }

    /// Files a declaration on a given filing date (today in Korea when none is given). Only an
    /// admin names the date: loading historical declarations such as the KCS sample.
    pub async fn file_dated(
        &self,
        caller: &Caller,
        mut filing: RawFiling,
        filing_date: Option<NaiveDate>,
    ) -> Result<Outcome, CommandError> {
        if filing_date.is_some() && caller.role != Role::Admin {
            return Err(CommandError::Forbidden(
                "only an admin loading historical data names the filing date",
            ));
        }
        // A declarant that leaves the declarant out files as itself.
        if caller.role == Role::Declarant
            && filing
                .header
                .declarant
                .as_deref()
                .is_none_or(|d| d.trim().is_empty())
        {
            filing.header.declarant = caller.organisation.clone();
        }
        let named = filing.header.declarant.as_deref().map(str::trim);
        match caller.role {
            Role::Declarant => {
                if named.is_some_and(|d| Some(d) != caller.organisation.as_deref()) {
                    return Err(CommandError::Forbidden(
                        "a declarant files only for its own organisation",
                    ));
                }
            }
            Role::Admin => {}
            _ => return Err(CommandError::Forbidden("only declarants file declarations")),
        }
        let declarant = named.and_then(|d| PartyId::parse(d).ok());
        let lrn = filing
            .header
            .lrn
            .as_deref()
            .and_then(|l| Lrn::parse(l.trim()).ok());
        let id = match (&declarant, &lrn) {
            (Some(d), Some(l)) => declaration_id(d, l),
            // Unreadable declarant or LRN: the rejection still needs a stream of its own.
            _ => Uuid::now_v7(),
        };
        let mut body =
            serde_json::to_string(&filing).map_err(|e| CommandError::Corrupt(e.to_string()))?;
        if let Some(date) = filing_date {
            body.push_str(&format!("\n{date}"));
        }
        let correlation = Uuid::new_v5(&FILING_NAMESPACE, format!("{id}\n{body}").as_bytes());

        let (state, version, stored) = self.load(id).await?;
        let retransmitted = stored
            .iter()
            .any(|(_, meta)| meta.correlation_id == Some(correlation));
        // A filing that was lodged is answered from its events. One that was rejected is decided
        // again below: the reference data may have changed since.
        if retransmitted && state.status != Status::Rejected {
            return Ok(self.outcome(id, version, state, &stored, true));
        }
        if caller.role == Role::Declarant
            && state.data.as_ref().is_some_and(|d| {
                Some(d.header.declarant.as_str()) != caller.organisation.as_deref()
            })
        {
            return Err(CommandError::Forbidden(
                "a declarant files only for its own organisation",
            ));
        }
        let now = Utc::now();
        let command = DeclarationCommand::File(FileDeclaration {
            declaration_id: id,
            filing,
            filing_date: filing_date.unwrap_or_else(|| self.today(now)),
            context: self.context(),
            actor: caller.actor.clone(),
            at: now,
        });
        if retransmitted {
            // Rejected again for the same reasons: nothing new to record.
            let events = decide(&state, command.clone())?;
            if let [DeclarationEvent::DeclarationRejected(again)] = events.as_slice()
                && latest_rejection(&stored).is_some_and(|errors| *errors == again.errors)
            {
                return Ok(self.outcome(id, version, state, &stored, true));
            }
        }
        self.decide_and_append(id, state, version, stored, command, Some(correlation))
            .await
    }

    /// Amends an open declaration (its declarant only).
    pub async fn amend(
        &self,
        caller: &Caller,
        id: Uuid,
        filing: RawFiling,
        reason: String,
    ) -> Result<Outcome, CommandError> {
        let command = |_: &Declaration| {
            DeclarationCommand::Amend(AmendDeclaration {
                filing: filing.clone(),
                reason: reason.clone(),
                context: self.context(),
                actor: caller.actor.clone(),
                at: Utc::now(),
            })
        };
        self.run(caller, id, Access::OwnDeclarant, command).await
    }

    /// Withdraws an open declaration (its declarant only).
    pub async fn withdraw(
        &self,
        caller: &Caller,
        id: Uuid,
        reason: String,
    ) -> Result<Outcome, CommandError> {
        self.run(caller, id, Access::OwnDeclarant, |_| {
            DeclarationCommand::Withdraw(WithdrawDeclaration {
                reason: reason.clone(),
                actor: caller.actor.clone(),
                at: Utc::now(),
            })
        })
        .await
    }

    /// An officer records an inspection.
    pub async fn record_inspection(
        &self,
        caller: &Caller,
        id: Uuid,
        inspection: domain::declaration::InspectionKind,
        result: domain::declaration::InspectionResult,
        notes: String,
    ) -> Result<Outcome, CommandError> {
        self.run(caller, id, Access::Officer, |_| {
            DeclarationCommand::RecordInspection(RecordInspection {
                kind: inspection,
                result,
                notes: notes.clone(),
                actor: caller.actor.clone(),
                at: Utc::now(),
            })
        })
        .await
    }

    /// An officer accepts (clears) the declaration.
    pub async fn accept(&self, caller: &Caller, id: Uuid) -> Result<Outcome, CommandError> {
        self.run(caller, id, Access::Officer, |_| {
            DeclarationCommand::Accept(AcceptDeclaration {
                actor: caller.actor.clone(),
                at: Utc::now(),
            })
        })
        .await
    }

    /// An officer refuses the declaration.
    pub async fn refuse(
        &self,
        caller: &Caller,
        id: Uuid,
        reason: String,
    ) -> Result<Outcome, CommandError> {
        self.run(caller, id, Access::Officer, |_| {
            DeclarationCommand::Refuse(RefuseDeclaration {
                reason: reason.clone(),
                actor: caller.actor.clone(),
                at: Utc::now(),
            })
        })
        .await
    }

    /// Records a payment (officers, admins and integrators such as banks).
    pub async fn record_payment(
        &self,
        caller: &Caller,
        id: Uuid,
        amount: domain::Decimal,
        reference: String,
    ) -> Result<Outcome, CommandError> {
        self.run(caller, id, Access::Payment, |_| {
            DeclarationCommand::RecordPayment(RecordPayment {
                amount,
                reference: reference.clone(),
                actor: caller.actor.clone(),
                at: Utc::now(),
            })
        })
        .await
    }

    /// Corrects a cleared declaration after a post-clearance audit (auditors and officers).
    pub async fn correct(
        &self,
        caller: &Caller,
        id: Uuid,
        additional_tax: domain::Decimal,
        drawback: domain::Decimal,
        reason: String,
        case_reference: Option<String>,
    ) -> Result<Outcome, CommandError> {
        self.run(caller, id, Access::Audit, |_| {
            DeclarationCommand::Correct(CorrectDeclaration {
                additional_tax,
                drawback,
                reason: reason.clone(),
                case_reference: case_reference.clone(),
                actor: caller.actor.clone(),
                at: Utc::now(),
            })
        })
        .await
    }

    /// The declaration as it stands, if the caller may see it.
    pub async fn get(&self, caller: &Caller, id: Uuid) -> Result<Outcome, CommandError> {
        let (state, version, stored) = self.load(id).await?;
        if version == 0 {
            return Err(CommandError::NotFound(id));
        }
        authorise(caller, id, &state, &stored, Access::Read)?;
        Ok(self.outcome(id, version, state, &stored, false))
    }

    async fn run(
        &self,
        caller: &Caller,
        id: Uuid,
        access: Access,
        command: impl Fn(&Declaration) -> DeclarationCommand,
    ) -> Result<Outcome, CommandError> {
        let (state, version, stored) = self.load(id).await?;
        if version == 0 {
            return Err(CommandError::NotFound(id));
        }
        authorise(caller, id, &state, &stored, access)?;
        let command = command(&state);
        self.decide_and_append(id, state, version, stored, command, None)
            .await
    }

    async fn decide_and_append(
        &self,
        id: Uuid,
        state: Declaration,
        version: u64,
        mut stored: Vec<(DeclarationEvent, EventMetadata)>,
        command: DeclarationCommand,
        correlation: Option<Uuid>,
    ) -> Result<Outcome, CommandError> {
        let actor = command_actor(&command);
        let events = decide(&state, command)?;
        let metadata = EventMetadata {
            correlation_id: Some(correlation.unwrap_or_else(Uuid::now_v7)),
            causation_id: None,
            actor: Some(actor),
        };
        let mut new = Vec::with_capacity(events.len());
        for event in &events {
            let payload = event
                .payload()
                .map_err(|e| CommandError::Corrupt(e.to_string()))?;
            new.push(
                NewEvent::new(event.event_type(), payload)
                    .with_schema_version(event.schema_version())
                    .with_metadata(metadata.clone()),
            );
        }
        let result = self
            .store
            .append(&stream(id), ExpectedVersion::Exact(version), new)
            .await?;
        let mut state = state;
        for event in events {
            state = evolve(state, &event);
            stored.push((event, metadata.clone()));
        }
        Ok(self.outcome(id, result.next_version, state, &stored, false))
    }

    /// Reads and folds a declaration's stream.
    async fn load(
        &self,
        id: Uuid,
    ) -> Result<(Declaration, u64, Vec<(DeclarationEvent, EventMetadata)>), CommandError> {
        let mut state = Declaration::default();
        let mut version = 0;
        let mut stored = Vec::new();
        let mut events = std::pin::pin!(self.store.read_stream(
            &stream(id),
            Direction::Forward,
            None,
            usize::MAX
        ));
        while let Some(recorded) = events.try_next().await? {
            let event = DeclarationEvent::decode(
                &recorded.event_type,
                recorded.schema_version,
                &recorded.payload,
            )
            .map_err(|e| {
                CommandError::Corrupt(format!(
                    "{} v{}: {e}",
                    recorded.stream_id, recorded.stream_version
                ))
            })?;
            state = evolve(state, &event);
            version = recorded.stream_version;
            stored.push((event, recorded.metadata));
        }
        Ok((state, version, stored))
    }

    fn outcome(
        &self,
        id: Uuid,
        stream_version: u64,
        state: Declaration,
        stored: &[(DeclarationEvent, EventMetadata)],
        replayed: bool,
    ) -> Outcome {
        let errors = match (
            state.status,
            stored.iter().rev().find_map(|(e, _)| match e {
                DeclarationEvent::DeclarationRejected(r) => Some(r.errors.clone()),
                _ => None,
            }),
        ) {
            (domain::declaration::Status::Rejected, Some(errors)) => errors,
            _ => Vec::new(),
        };
        Outcome {
            id,
            stream_version,
            state,
            errors,
            replayed,
        }
    }

    fn context(&self) -> AssessmentContext {
        let snapshot = self.reference.snapshot();
        let rules = snapshot
            .risk_rules()
            .cloned()
            .map_or_else(|| self.default_rules.clone(), Arc::new);
        AssessmentContext {
            reference: snapshot,
            policy: self.policy,
            rules,
            // Post-clearance audit findings arrive with the audit subsystem.
            trader_fraud_findings: 0,
            seed: Uuid::new_v4().as_u64_pair().0,
        }
    }

    /// Today in the administration's time zone: the filing date of a filing made now.
    pub fn filing_date_today(&self) -> NaiveDate {
        self.today(Utc::now())
    }

    fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.zone).date_naive()
    }
}

/// Who may run a command on an existing declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    OwnDeclarant,
    Officer,
    Payment,
    Audit,
}

fn authorise(
    caller: &Caller,
    id: Uuid,
    state: &Declaration,
    stored: &[(DeclarationEvent, EventMetadata)],
    access: Access,
) -> Result<(), CommandError> {
    let declarant = declarant_of(state, stored);
    let own = caller.role == Role::Declarant
        && caller.organisation.is_some()
        && declarant.as_deref() == caller.organisation.as_deref();
    let allowed = match access {
        Access::Read => own || matches!(caller.role, Role::Officer | Role::Auditor | Role::Admin),
        Access::OwnDeclarant => own,
        Access::Officer => caller.role == Role::Officer,
        Access::Payment => matches!(caller.role, Role::Officer | Role::Admin | Role::Integrator),
        Access::Audit => matches!(caller.role, Role::Auditor | Role::Officer),
    };
    if allowed {
        Ok(())
    } else if caller.role == Role::Declarant && !own {
        // A declarant learns nothing about other organisations' declarations.
        Err(CommandError::NotFound(id))
    } else {
        Err(CommandError::Forbidden("this role may not do that"))
    }
}

/// The declarant of a declaration: from its data, or from the rejected filing.
fn declarant_of(
    state: &Declaration,
    stored: &[(DeclarationEvent, EventMetadata)],
) -> Option<String> {
    if let Some(data) = &state.data {
        return Some(data.header.declarant.to_string());
    }
    stored.iter().rev().find_map(|(e, _)| match e {
        DeclarationEvent::DeclarationRejected(r) => r
            .filing
            .header
            .declarant
            .as_deref()
            .map(|d| d.trim().to_owned()),
        _ => None,
    })
}

/// The errors of the latest rejected filing.
fn latest_rejection(stored: &[(DeclarationEvent, EventMetadata)]) -> Option<&Vec<ValidationError>> {
    stored.iter().rev().find_map(|(e, _)| match e {
        DeclarationEvent::DeclarationRejected(r) => Some(&r.errors),
        _ => None,
    })
}

fn command_actor(command: &DeclarationCommand) -> String {
    let actor = match command {
        DeclarationCommand::File(c) => &c.actor,
        DeclarationCommand::Amend(c) => &c.actor,
        DeclarationCommand::Withdraw(c) => &c.actor,
        DeclarationCommand::RecordInspection(c) => &c.actor,
        DeclarationCommand::Accept(c) => &c.actor,
        DeclarationCommand::Refuse(c) => &c.actor,
        DeclarationCommand::RecordPayment(c) => &c.actor,
        DeclarationCommand::Correct(c) => &c.actor,
    };
    actor.to_string()
}

/// Korea Standard Time, UTC+9 (no daylight saving).
fn korea_time() -> FixedOffset {
    // 9 hours is within FixedOffset's ±24 h range.
    FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| unreachable!("UTC+9 is a valid offset"))
}

/// The stream category of declarations: one stream `declaration-<uuid>` per declaration.
pub const CATEGORY: &str = "declaration";

/// The stream of a declaration.
pub fn stream(id: Uuid) -> StreamId {
    // `declaration-` followed by a UUID is always a valid stream id.
    StreamId::parse(format!("{CATEGORY}-{id}")).unwrap_or_else(|e| unreachable!("{e}"))
}

/// The rule set used until risk rules are published: 5% random documentary review.
fn default_rules() -> RuleSet {
    let random = RandomInspection {
        ratio: domain::Decimal::new(5, 2),
        lane: domain::risk::Lane::Yellow,
    };
    RuleSet::new(1, Vec::new(), Some(random))
        .unwrap_or_else(|e| unreachable!("static rule set: {e}"))
}
