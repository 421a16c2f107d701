//! Declarations over GraphQL: the commands from filing to clearance, one declaration as it
//! stands, its history (the auditors' replay) and its state at a past time or version.
//!
//! Who may do what is decided by the command layer ([`DeclarationService`]) for the calling
//! [`crate::auth::Principal`]: a declarant reads and changes only its own organisation's
//! declarations and learns nothing of others' (`NOT_FOUND`, as for an id that does not exist);
//! officers, auditors and admins read every declaration; officers inspect, accept and refuse.
//! A role that may not run a command gets `FORBIDDEN`; a caller without a token,
//! `UNAUTHENTICATED`. Business refusals carry the domain's code (`INVALID_STATE` with
//! `extensions.state`, `VALIDATION_FAILED` with `extensions.validationErrors`, ...), a lost race
//! `CONFLICT`.
//!
//! A rejected filing is not an error: it is recorded, and the result lists every validation
//! error with its path.

use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};
use commands::declaration::{Caller, DeclarationService};
use domain::DomainEvent;
use domain::declaration::{DeclarationEvent, Status as DomainStatus, evolve};
use eventstore::{Direction, EventStore, RecordedEvent, StoreError};
use futures::TryStreamExt;
use uuid::Uuid;

use crate::auth;
use crate::error::ApiError;
use crate::graphql::log::Event;
use crate::graphql::scalars::Decimal;

pub mod assessment;
mod input;
mod output;

pub use assessment::{
    AppliedPreference, Assessment, AssessmentTotals, DutyRate, DutyRateKind, ExchangeRate,
    ItemAssessment, Rounding, RoundingMode,
};
pub use input::{DeclarationHeaderInput, DeclarationInput, DeclarationItemInput};
pub use output::{
    Declaration, DeclarationHeader, DeclarationItem, DeclarationResult, Inspection, InspectionKind,
    InspectionResult, Lane, Status, ValidationError,
};

/// The declaration service and the caller, or `UNAUTHENTICATED`.
fn service<'a>(ctx: &Context<'a>) -> Result<(&'a DeclarationService, Caller), ApiError> {
    let caller = auth::principal(ctx)?.caller();
    let service = ctx
        .data::<DeclarationService>()
        .map_err(|_| ApiError::Internal("the schema has no declaration service".into()))?;
    Ok((service, caller))
}

fn store<'a>(ctx: &Context<'a>) -> Result<&'a EventStore, ApiError> {
    ctx.data::<EventStore>()
        .map_err(|_| ApiError::Internal("the schema has no event store".into()))
}

/// Every event of the declaration's stream, in order, once the caller may see it.
async fn visible_history(ctx: &Context<'_>, id: Uuid) -> Result<Vec<RecordedEvent>, ApiError> {
    let (service, caller) = service(ctx)?;
    // Reading it through the service applies the visibility rule of `declaration(id)`.
    service.get(&caller, id).await?;
    let stream = commands::declaration::stream(id);
    let events = store(ctx)?
        .read_stream(&stream, Direction::Forward, None, usize::MAX)
        .try_collect()
        .await?;
    Ok(events)
}

/// The state folded from `events`, with the errors of its latest rejection while rejected.
fn fold(id: Uuid, events: &[RecordedEvent]) -> Result<Declaration, ApiError> {
    let mut state = domain::declaration::Declaration::default();
    let mut rejection = None;
    let mut stream_version = 0;
    for recorded in events {
        let event = DeclarationEvent::decode(
            &recorded.event_type,
            recorded.schema_version,
            &recorded.payload,
        )
        .map_err(|error| {
            ApiError::from(StoreError::Corrupt(format!(
                "{} v{}: {error}",
                recorded.stream_id, recorded.stream_version
            )))
        })?;
        state = evolve(state, &event);
        if let DeclarationEvent::DeclarationRejected(rejected) = event {
            rejection = Some(rejected.errors);
        }
        stream_version = recorded.stream_version;
    }
    let errors = match state.status {
        DomainStatus::Rejected => rejection.unwrap_or_default(),
        _ => Vec::new(),
    };
    Ok(Declaration {
        id,
        stream_version,
        state,
        errors,
    })
}

/// How far `declarationAsOf` folds a declaration's events.
#[derive(Debug, Clone, Copy)]
enum Until {
    /// Every event recorded at or before this time.
    Time(DateTime<Utc>),
    /// The first events, up to this stream version.
    Version(u64),
}

impl Until {
    fn includes(self, event: &RecordedEvent) -> bool {
        match self {
            Self::Time(at) => event.recorded_at <= at,
            Self::Version(version) => event.stream_version <= version,
        }
    }
}

/// The declaration fields of the root query.
#[derive(Debug, Default)]
pub struct DeclarationQuery;

#[Object]
impl DeclarationQuery {
    /// One declaration as it stands. A declarant sees only its own organisation's declarations
    /// (`NOT_FOUND` otherwise); officers, auditors and admins see all.
    async fn declaration(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<Option<Declaration>> {
        let (service, caller) = service(ctx)?;
        let outcome = service.get(&caller, id).await.map_err(ApiError::from)?;
        Ok(Some(outcome.into()))
    }

    /// Every event of the declaration's stream, oldest first, with its version, position,
    /// time, actor, type and payload: the auditors' replay. Visible as `declaration(id)` is.
    async fn declaration_history(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<Option<Vec<Event>>> {
        let events = visible_history(ctx, id).await?;
        Ok(Some(events.into_iter().map(Event).collect()))
    }

    /// The declaration as it was, rebuilt from its events up to a time (`at`: every event
    /// recorded at or before it) or a stream version (`version`: its first `version` events).
    /// Give exactly one. Null when the declaration had no event yet at that time. Visible as
    /// `declaration(id)` is.
    async fn declaration_as_of(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        at: Option<DateTime<Utc>>,
        #[graphql(desc = "A stream version, from 1 to the declaration's `streamVersion`.")]
        version: Option<i32>,
    ) -> async_graphql::Result<Option<Declaration>> {
        let until = match (at, version) {
            (Some(at), None) => Until::Time(at),
            (None, Some(version)) => Until::Version(
                u64::try_from(version)
                    .ok()
                    .filter(|v| *v >= 1)
                    .ok_or_else(|| ApiError::invalid_argument("version", "must be at least 1"))?,
            ),
            _ => {
                return Err(ApiError::invalid_argument(
                    "at",
                    "give exactly one of `at` and `version`",
                )
                .into());
            }
        };
        let mut events = visible_history(ctx, id).await?;
        let last = events.last().map_or(0, |e| e.stream_version);
        if let Until::Version(version) = until
            && version > last
        {
            return Err(ApiError::invalid_argument(
                "version",
                format!("the declaration has {last} events"),
            )
            .into());
        }
        events.retain(|e| until.includes(e));
        if events.is_empty() {
            return Ok(None);
        }
        Ok(Some(fold(id, &events)?))
    }
}

/// The declaration commands of the root mutation.
#[derive(Debug, Default)]
pub struct DeclarationMutation;

#[Object]
impl DeclarationMutation {
    /// Files a declaration (declarants, for their own organisation; admins, for any). A filing
    /// that fails validation is recorded as rejected: `declarantErrors` lists every error, and
    /// the declarant may file again under the same LRN. A valid one gets its lane and duties at
    /// once; the green lane is accepted automatically. Sending the same filing again answers
    /// with the declaration as it stands and writes nothing.
    async fn file_declaration(
        &self,
        ctx: &Context<'_>,
        input: DeclarationInput,
    ) -> async_graphql::Result<DeclarationResult> {
        let (service, caller) = service(ctx)?;
        let outcome = service.file(&caller, input.into()).await;
        Ok(outcome.map_err(ApiError::from)?.into())
    }

    /// Replaces the data of an open declaration (its declarant only): a new version, validated
    /// and assessed again; the earlier versions stay in its history. An invalid amendment is
    /// refused with `VALIDATION_FAILED` and `extensions.validationErrors`.
    async fn amend_declaration(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: DeclarationInput,
        reason: String,
    ) -> async_graphql::Result<DeclarationResult> {
        let (service, caller) = service(ctx)?;
        let outcome = service.amend(&caller, id, input.into(), reason).await;
        Ok(outcome.map_err(ApiError::from)?.into())
    }

    /// Withdraws an open declaration (its declarant only).
    async fn withdraw_declaration(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        reason: String,
    ) -> async_graphql::Result<DeclarationResult> {
        let (service, caller) = service(ctx)?;
        let outcome = service.withdraw(&caller, id, reason).await;
        Ok(outcome.map_err(ApiError::from)?.into())
    }

    /// Records an inspection of a yellow- or red-lane declaration (officers). The red lane
    /// needs a `PHYSICAL` one; notes are required with `DISCREPANCIES`.
    async fn record_inspection(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        kind: InspectionKind,
        result: InspectionResult,
        notes: Option<String>,
    ) -> async_graphql::Result<DeclarationResult> {
        let (service, caller) = service(ctx)?;
        let outcome = service
            .record_inspection(
                &caller,
                id,
                kind.into(),
                result.into(),
                notes.unwrap_or_default(),
            )
            .await;
        Ok(outcome.map_err(ApiError::from)?.into())
    }

    /// Accepts (clears) an inspected declaration (officers).
    async fn accept_declaration(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> async_graphql::Result<DeclarationResult> {
        let (service, caller) = service(ctx)?;
        let outcome = service.accept(&caller, id).await;
        Ok(outcome.map_err(ApiError::from)?.into())
    }

    /// Refuses a declaration under review (officers).
    async fn refuse_declaration(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        reason: String,
    ) -> async_graphql::Result<DeclarationResult> {
        let (service, caller) = service(ctx)?;
        let outcome = service.refuse(&caller, id, reason).await;
        Ok(outcome.map_err(ApiError::from)?.into())
    }

    /// Records a payment of assessed taxes in the national currency (officers, admins and
    /// integrators such as banks). Each `reference` is recorded once per declaration.
    async fn record_payment(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        amount: Decimal,
        reference: String,
    ) -> async_graphql::Result<DeclarationResult> {
        let (service, caller) = service(ctx)?;
        let outcome = service
            .record_payment(&caller, id, amount.0, reference)
            .await;
        Ok(outcome.map_err(ApiError::from)?.into())
    }

    /// Corrects a cleared declaration after a post-clearance audit (auditors and officers): an
    /// additional tax to pay and/or a drawback to refund, in the national currency.
    async fn correct_declaration(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        #[graphql(default)] additional_tax: Decimal,
        #[graphql(default)] drawback: Decimal,
        reason: String,
        #[graphql(desc = "The audit case or notice the correction stems from.")]
        case_reference: Option<String>,
    ) -> async_graphql::Result<DeclarationResult> {
        let (service, caller) = service(ctx)?;
        let outcome = service
            .correct(
                &caller,
                id,
                additional_tax.0,
                drawback.0,
                reason,
                case_reference,
            )
            .await;
        Ok(outcome.map_err(ApiError::from)?.into())
    }
}
