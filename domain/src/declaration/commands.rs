//! Commands to a declaration. Each carries the actor and the time from outside; filing and
//! amending also carry the reference data, the assessment policy, the risk rule set, the
//! importer's history and the random seed they need.

use super::events::{InspectionKind, InspectionResult};
use super::filing::RawFiling;
use crate::codes::Actor;
use crate::duty::AssessmentPolicy;
use crate::reference::ReferenceSnapshot;
use crate::risk::RuleSet;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::sync::Arc;
use uuid::Uuid;

/// Everything validation, assessment and lane assignment need, read by the command layer before
/// `decide` (the snapshot and rule set are shared, hence `Arc`).
#[derive(Debug, Clone)]
pub struct AssessmentContext {
    pub reference: Arc<ReferenceSnapshot>,
    pub policy: AssessmentPolicy,
    pub rules: Arc<RuleSet>,
    /// Fraud findings of earlier post-clearance audits of the importer or exporter.
    pub trader_fraud_findings: u32,
    /// Seed of the random inspection draw, recorded in `RiskAssessed`.
    pub seed: u64,
}

/// File a declaration. `declaration_id` is [`declaration_id`](super::declaration_id) of the
/// declarant and LRN (when they cannot be read, the command layer picks the stream).
#[derive(Debug, Clone)]
pub struct FileDeclaration {
    pub declaration_id: Uuid,
    pub filing: RawFiling,
    /// The filing date in the administration's time zone: the rates in force on it apply.
    pub filing_date: NaiveDate,
    pub context: AssessmentContext,
    pub actor: Actor,
    pub at: DateTime<Utc>,
}

/// Replace the declaration's data before acceptance; re-validated and re-assessed on the
/// original filing date. Declarant, LRN and declaration type cannot change.
#[derive(Debug, Clone)]
pub struct AmendDeclaration {
    pub filing: RawFiling,
    pub reason: String,
    pub context: AssessmentContext,
    pub actor: Actor,
    pub at: DateTime<Utc>,
}

/// Withdraw before acceptance.
#[derive(Debug, Clone)]
pub struct WithdrawDeclaration {
    pub reason: String,
    pub actor: Actor,
    pub at: DateTime<Utc>,
}

/// An officer records an inspection (yellow or red lane).
#[derive(Debug, Clone)]
pub struct RecordInspection {
    pub kind: InspectionKind,
    pub result: InspectionResult,
    pub notes: String,
    pub actor: Actor,
    pub at: DateTime<Utc>,
}

/// An officer accepts (clears) an inspected declaration.
#[derive(Debug, Clone)]
pub struct AcceptDeclaration {
    pub actor: Actor,
    pub at: DateTime<Utc>,
}

/// An officer refuses the declaration.
#[derive(Debug, Clone)]
pub struct RefuseDeclaration {
    pub reason: String,
    pub actor: Actor,
    pub at: DateTime<Utc>,
}

/// Record a payment in the national currency.
#[derive(Debug, Clone)]
pub struct RecordPayment {
    pub amount: Decimal,
    pub reference: String,
    pub actor: Actor,
    pub at: DateTime<Utc>,
}

/// Correct a cleared declaration after a post-clearance audit.
#[derive(Debug, Clone)]
pub struct CorrectDeclaration {
    pub additional_tax: Decimal,
    pub drawback: Decimal,
    pub reason: String,
    pub case_reference: Option<String>,
    pub actor: Actor,
    pub at: DateTime<Utc>,
}

/// Every command a declaration accepts.
#[derive(Debug, Clone)]
pub enum DeclarationCommand {
    File(FileDeclaration),
    Amend(AmendDeclaration),
    Withdraw(WithdrawDeclaration),
    RecordInspection(RecordInspection),
    Accept(AcceptDeclaration),
    Refuse(RefuseDeclaration),
    RecordPayment(RecordPayment),
    Correct(CorrectDeclaration),
}

impl DeclarationCommand {
    /// The command's name, as used in errors.
    pub fn name(&self) -> &'static str {
        match self {
            Self::File(_) => "fileDeclaration",
            Self::Amend(_) => "amendDeclaration",
            Self::Withdraw(_) => "withdrawDeclaration",
            Self::RecordInspection(_) => "recordInspection",
            Self::Accept(_) => "acceptDeclaration",
            Self::Refuse(_) => "refuseDeclaration",
            Self::RecordPayment(_) => "recordPayment",
            Self::Correct(_) => "correctDeclaration",
        }
    }
}
