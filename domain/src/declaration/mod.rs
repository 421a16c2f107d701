//! The Declaration aggregate: an import or export declaration from filing to clearance.
//!
//! A stream `declaration-<uuid>` holds one declaration; its id is [`declaration_id`] of the
//! declarant and the LRN, so "one declaration per LRN" is enforced by the store (append with
//! expected version "no stream") and a retransmitted filing meets its own stream. `decide`
//! refuses a second filing on a lodged declaration with `DUPLICATE_LRN`; after a rejection the
//! declarant may file again under the same LRN.
//!
//! Filing validates the raw filing ([`validate`]) and either records `DeclarationRejected` with
//! every error, or records `DeclarationFiled`, `RiskAssessed`, `DutiesAssessed` and, in the green
//! lane, `DeclarationAccepted` — all in one decision, so a trader sees lane and duties at once.
//! The lifecycle is drawn on [`Status`].

mod commands;
mod data;
mod decide;
mod error;
mod events;
mod filing;
mod state;
mod validation;
mod validation_error;

pub use commands::{
    AcceptDeclaration, AmendDeclaration, AssessmentContext, CorrectDeclaration, DeclarationCommand,
    FileDeclaration, RecordInspection, RecordPayment, RefuseDeclaration, WithdrawDeclaration,
};
pub use data::{DeclarationData, Header, Item};
pub use decide::{MAX_REFERENCE_CHARS, MAX_TEXT_CHARS, decide};
pub use error::DeclarationError;
pub use events::{
    DeclarationAccepted, DeclarationAmended, DeclarationCorrected, DeclarationEvent,
    DeclarationFiled, DeclarationRefused, DeclarationRejected, DeclarationWithdrawn,
    DutiesAssessed, InspectionKind, InspectionRecorded, InspectionResult, PaymentRecorded,
    RiskAssessed,
};
pub use filing::{RawFiling, RawHeader, RawItem};
pub use state::{Declaration, LastInspection, Status, evolve, fold};
pub use validation::{MAX_DESCRIPTION_CHARS, MAX_ITEMS, ValidationContext, validate};
pub use validation_error::{ValidationCode, ValidationError};

use crate::codes::{Lrn, PartyId};
use uuid::Uuid;

/// The UUIDv5 namespace of declaration ids. Fixed forever: changing it would give every
/// declaration a new stream.
pub const DECLARATION_NAMESPACE: Uuid = Uuid::from_u128(0x8d65a3e6_08ee_4365_a4c9_777eeab796b8);

/// The stream id of a declarant's declaration: UUIDv5 in [`DECLARATION_NAMESPACE`] of the name
/// `"<declarant>\n<lrn>"` (UTF-8; neither part can contain a line feed).
pub fn declaration_id(declarant: &PartyId, lrn: &Lrn) -> Uuid {
    Uuid::new_v5(
        &DECLARATION_NAMESPACE,
        format!("{declarant}\n{lrn}").as_bytes(),
    )
}

#[cfg(test)]
mod tests;
