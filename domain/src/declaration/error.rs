//! Business rejections of declaration commands. Each has a stable code for the API edge.

use super::state::Status;
use super::validation_error::ValidationError;
use rust_decimal::Decimal;
use uuid::Uuid;

/// Why a command was refused. The state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeclarationError {
    #[error("{command} is not possible while the declaration is {state}")]
    InvalidState {
        command: &'static str,
        state: Status,
    },
    #[error("the declarant already filed a declaration with this LRN ({declaration_id})")]
    DuplicateLrn { declaration_id: Uuid },
    #[error("declaration id {given} is not the one derived from the declarant and LRN ({derived})")]
    IdMismatch { given: Uuid, derived: Uuid },
    #[error("an amendment cannot change the {0}")]
    IdentityChanged(&'static str),
    #[error("the amendment is not valid ({} errors)", .0.len())]
    InvalidAmendment(Vec<ValidationError>),
    #[error("{0} is required")]
    MissingField(&'static str),
    #[error("{0} is longer than {1} characters")]
    FieldTooLong(&'static str, usize),
    #[error("{field} must be {rule}, got {value}")]
    InvalidAmount {
        field: &'static str,
        rule: &'static str,
        value: Decimal,
    },
    #[error("a correction needs an additional tax or a drawback")]
    EmptyCorrection,
    #[error("payment reference {0} is already recorded")]
    DuplicatePaymentReference(String),
    #[error("the red lane requires a physical inspection")]
    PhysicalInspectionRequired,
}

impl DeclarationError {
    /// The stable code (SCREAMING_SNAKE_CASE).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidState { .. } => "INVALID_STATE",
            Self::DuplicateLrn { .. } => "DUPLICATE_LRN",
            Self::IdMismatch { .. } => "DECLARATION_ID_MISMATCH",
            Self::IdentityChanged(_) => "AMENDMENT_CHANGES_IDENTITY",
            Self::InvalidAmendment(_) => "VALIDATION_FAILED",
            Self::MissingField(_) => "MISSING_FIELD",
            Self::FieldTooLong(..) => "FIELD_TOO_LONG",
            Self::InvalidAmount { .. } => "INVALID_AMOUNT",
            Self::EmptyCorrection => "EMPTY_CORRECTION",
            Self::DuplicatePaymentReference(_) => "DUPLICATE_PAYMENT_REFERENCE",
            Self::PhysicalInspectionRequired => "PHYSICAL_INSPECTION_REQUIRED",
        }
    }

    /// The current state, for [`DeclarationError::InvalidState`].
    pub fn state(&self) -> Option<Status> {
        match self {
            Self::InvalidState { state, .. } => Some(*state),
            _ => None,
        }
    }
}
