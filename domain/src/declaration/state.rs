//! The declaration's state, folded from its events by [`evolve`].

use super::data::DeclarationData;
use super::events::{DeclarationEvent, InspectionKind, InspectionResult};
use crate::duty::Assessment;
use crate::risk::Lane;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use uuid::Uuid;

/// Where a declaration is in its lifecycle.
///
/// ```text
/// new ─file─▶ rejected ─file─▶ …
///  └─file─▶ filed ▶ laneAssigned ▶ dutiesAssessed ─green─▶ accepted ─correct─▶ accepted
///                                        └─yellow/red─▶ awaitingInspection ─inspect─▶ inspected
/// awaitingInspection, inspected ─amend─▶ filed ▶ …   (re-validated, re-assessed)
/// awaitingInspection, inspected ─withdraw─▶ withdrawn;  ─refuse─▶ refused
/// inspected ─accept─▶ accepted;  payment: awaitingInspection, inspected, accepted
/// ```
/// `filed`, `laneAssigned` and `dutiesAssessed` only exist inside one command's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    #[default]
    New,
    Rejected,
    Filed,
    LaneAssigned,
    DutiesAssessed,
    AwaitingInspection,
    Inspected,
    Accepted,
    Refused,
    Withdrawn,
}

impl Status {
    /// The state name used in errors and read models.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Rejected => "rejected",
            Self::Filed => "filed",
            Self::LaneAssigned => "laneAssigned",
            Self::DutiesAssessed => "dutiesAssessed",
            Self::AwaitingInspection => "awaitingInspection",
            Self::Inspected => "inspected",
            Self::Accepted => "accepted",
            Self::Refused => "refused",
            Self::Withdrawn => "withdrawn",
        }
    }

    /// True before acceptance, while the declaration can still be amended or withdrawn.
    pub fn is_lodged_and_open(self) -> bool {
        matches!(self, Self::AwaitingInspection | Self::Inspected)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The latest inspection of the current version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastInspection {
    pub kind: InspectionKind,
    pub result: InspectionResult,
}

/// A declaration as its events left it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declaration {
    pub id: Option<Uuid>,
    pub status: Status,
    /// Version of the data (1 when filed, +1 per amendment); 0 before filing.
    pub version: u32,
    pub data: Option<DeclarationData>,
    pub lane: Option<Lane>,
    pub assessment: Option<Assessment>,
    pub last_inspection: Option<LastInspection>,
    pub rejections: u32,
    pub paid: Decimal,
    pub payment_references: BTreeSet<String>,
    pub additional_tax: Decimal,
    pub drawback: Decimal,
}

impl Declaration {
    /// Taxes due: assessed taxes plus additional tax minus drawback, minus payments. Negative
    /// when more was paid than is due.
    pub fn balance(&self) -> Decimal {
        let assessed = self
            .assessment
            .as_ref()
            .map_or(Decimal::ZERO, |a| a.totals.taxes);
        assessed + self.additional_tax - self.drawback - self.paid
    }
}

/// Applies one event to the state.
pub fn evolve(mut state: Declaration, event: &DeclarationEvent) -> Declaration {
    use DeclarationEvent as E;
    match event {
        E::DeclarationFiled(e) => {
            state.id = Some(e.declaration_id);
            state.status = Status::Filed;
            state.version = e.version;
            state.data = Some(e.data.clone());
        }
        E::DeclarationRejected(e) => {
            state.id = Some(e.declaration_id);
            state.status = Status::Rejected;
            state.rejections += 1;
        }
        E::DeclarationAmended(e) => {
            state.status = Status::Filed;
            state.version = e.version;
            state.data = Some(e.data.clone());
            state.lane = None;
            state.assessment = None;
            state.last_inspection = None;
        }
        E::RiskAssessed(e) => {
            state.status = Status::LaneAssigned;
            state.lane = Some(e.outcome.lane);
        }
        E::DutiesAssessed(e) => {
            state.assessment = Some(e.assessment.clone());
            state.status = match state.lane {
                Some(Lane::Yellow | Lane::Red) => Status::AwaitingInspection,
                _ => Status::DutiesAssessed,
            };
        }
        E::InspectionRecorded(e) => {
            state.status = Status::Inspected;
            state.last_inspection = Some(LastInspection {
                kind: e.kind,
                result: e.result,
            });
        }
        E::DeclarationAccepted(_) => state.status = Status::Accepted,
        E::DeclarationRefused(_) => state.status = Status::Refused,
        E::DeclarationWithdrawn(_) => state.status = Status::Withdrawn,
        E::PaymentRecorded(e) => {
            state.paid += e.amount;
            state.payment_references.insert(e.reference.clone());
        }
        E::DeclarationCorrected(e) => {
            state.additional_tax += e.additional_tax;
            state.drawback += e.drawback;
        }
    }
    state
}

/// Folds a stream's events into its state.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a DeclarationEvent>) -> Declaration {
    events.into_iter().fold(Declaration::default(), evolve)
}
