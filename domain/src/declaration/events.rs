//! Declaration events: past tense, stable type strings, schema version 1, camelCase JSON with
//! every decimal as a string. Each records the declaration id, when (from the command) and who.

use super::data::DeclarationData;
use super::filing::RawFiling;
use super::validation_error::ValidationError;
use crate::codes::{Actor, CurrencyCode};
use crate::duty::Assessment;
use crate::event::domain_event;
use crate::risk::RiskOutcome;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A valid declaration was lodged (version 1 of its data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeclarationFiled {
    pub declaration_id: Uuid,
    pub version: u32,
    pub data: DeclarationData,
    pub at: DateTime<Utc>,
    pub actor: Actor,
}

/// A filing failed validation. The filing is kept as sent, with every error, so the declarant
/// sees why. The declarant may file again under the same LRN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeclarationRejected {
    pub declaration_id: Uuid,
    pub filing: RawFiling,
    pub errors: Vec<ValidationError>,
    /// The filing date the filing was judged on (the reference data in force on it applied).
    pub filing_date: NaiveDate,
    pub at: DateTime<Utc>,
    pub actor: Actor,
}

/// The risk rules assigned a lane to a version of the declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskAssessed {
    pub declaration_id: Uuid,
    pub version: u32,
    pub outcome: RiskOutcome,
    pub at: DateTime<Utc>,
    pub actor: Actor,
}

/// Duties and taxes were assessed for a version of the declaration, with every rate used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DutiesAssessed {
    pub declaration_id: Uuid,
    pub version: u32,
    pub assessment: Assessment,
    pub at: DateTime<Utc>,
    pub actor: Actor,
}

/// The declarant replaced the declaration's data before acceptance; `version` is the new
/// version. The earlier versions stay in the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeclarationAmended {
    pub declaration_id: Uuid,
    pub version: u32,
    pub data: DeclarationData,
    pub reason: String,
    pub at: DateTime<Utc>,
    pub actor: Actor,
}

/// The declarant withdrew the declaration before acceptance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeclarationWithdrawn {
    pub declaration_id: Uuid,
    pub reason: String,
    pub at: DateTime<Utc>,
    pub actor: Actor,
}

/// What the officer examined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum InspectionKind {
    /// Documents only (yellow lane).
    Documentary,
    /// The goods themselves (required in the red lane).
    Physical,
}

/// What the officer found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum InspectionResult {
    /// The goods and documents match the declaration.
    Compliant,
    /// Something does not match; details in the notes.
    Discrepancies,
}

/// An officer recorded an inspection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InspectionRecorded {
    pub declaration_id: Uuid,
    /// The declaration version inspected.
    pub version: u32,
    pub kind: InspectionKind,
    pub result: InspectionResult,
    pub notes: String,
    pub at: DateTime<Utc>,
    /// The officer.
    pub actor: Actor,
}

/// The declaration was accepted: the goods are cleared. `automatic` for the green lane, where
/// the actor is `system`; otherwise the actor is the officer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeclarationAccepted {
    pub declaration_id: Uuid,
    pub version: u32,
    pub automatic: bool,
    pub at: DateTime<Utc>,
    pub actor: Actor,
}

/// An officer refused the declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeclarationRefused {
    pub declaration_id: Uuid,
    pub reason: String,
    pub at: DateTime<Utc>,
    pub actor: Actor,
}

/// A payment of assessed taxes was received (in the national currency).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRecorded {
    pub declaration_id: Uuid,
    pub amount: Decimal,
    pub currency: CurrencyCode,
    /// The bank's or the payment system's reference; unique per declaration.
    pub reference: String,
    pub at: DateTime<Utc>,
    pub actor: Actor,
}

/// After clearance, a post-clearance audit corrected the declaration: an additional tax to pay
/// and/or a drawback to refund, in the national currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeclarationCorrected {
    pub declaration_id: Uuid,
    pub additional_tax: Decimal,
    pub drawback: Decimal,
    pub currency: CurrencyCode,
    pub reason: String,
    /// The audit case or notice it stems from, if any.
    pub case_reference: Option<String>,
    pub at: DateTime<Utc>,
    pub actor: Actor,
}

/// Every event of a declaration stream (`declaration-<uuid>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeclarationEvent {
    DeclarationFiled(DeclarationFiled),
    DeclarationRejected(DeclarationRejected),
    RiskAssessed(RiskAssessed),
    DutiesAssessed(DutiesAssessed),
    DeclarationAmended(DeclarationAmended),
    DeclarationWithdrawn(DeclarationWithdrawn),
    InspectionRecorded(InspectionRecorded),
    DeclarationAccepted(DeclarationAccepted),
    DeclarationRefused(DeclarationRefused),
    PaymentRecorded(PaymentRecorded),
    DeclarationCorrected(DeclarationCorrected),
}

domain_event!(DeclarationEvent {
    DeclarationFiled(DeclarationFiled) = "DeclarationFiled",
    DeclarationRejected(DeclarationRejected) = "DeclarationRejected",
    RiskAssessed(RiskAssessed) = "RiskAssessed",
    DutiesAssessed(DutiesAssessed) = "DutiesAssessed",
    DeclarationAmended(DeclarationAmended) = "DeclarationAmended",
    DeclarationWithdrawn(DeclarationWithdrawn) = "DeclarationWithdrawn",
    InspectionRecorded(InspectionRecorded) = "InspectionRecorded",
    DeclarationAccepted(DeclarationAccepted) = "DeclarationAccepted",
    DeclarationRefused(DeclarationRefused) = "DeclarationRefused",
    PaymentRecorded(PaymentRecorded) = "PaymentRecorded",
    DeclarationCorrected(DeclarationCorrected) = "DeclarationCorrected",
});
