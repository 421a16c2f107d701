//! Validation errors: a stable code, a field path and a message.

use crate::codes::CodeError;
use crate::duty::AssessmentError;
use crate::money::AmountError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Stable validation codes, serialized in SCREAMING_SNAKE_CASE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ValidationCode {
    MissingField,
    FieldTooLong,
    InvalidDeclarationType,
    InvalidLrn,
    InvalidPartyId,
    InvalidOffice,
    InvalidTransportMode,
    InvalidCountry,
    InvalidIncoterm,
    InvalidCurrency,
    InvalidAmount,
    NegativeAmount,
    InvoiceTotalMismatch,
    InvalidHsCode,
    UnknownTariffCode,
    InvalidUnit,
    UnitMismatch,
    NetMassExceedsGross,
    InvalidAgreementCode,
    PreferenceNotValidForOrigin,
    NoExchangeRate,
    NoItems,
    TooManyItems,
    /// The declarant already has a declaration with this LRN (detected by the command layer,
    /// or by `decide` when the stream already holds a filing).
    DuplicateLrn,
}

impl ValidationCode {
    /// The code as text, e.g. `MISSING_FIELD`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingField => "MISSING_FIELD",
            Self::FieldTooLong => "FIELD_TOO_LONG",
            Self::InvalidDeclarationType => "INVALID_DECLARATION_TYPE",
            Self::InvalidLrn => "INVALID_LRN",
            Self::InvalidPartyId => "INVALID_PARTY_ID",
            Self::InvalidOffice => "INVALID_OFFICE",
            Self::InvalidTransportMode => "INVALID_TRANSPORT_MODE",
            Self::InvalidCountry => "INVALID_COUNTRY",
            Self::InvalidIncoterm => "INVALID_INCOTERM",
            Self::InvalidCurrency => "INVALID_CURRENCY",
            Self::InvalidAmount => "INVALID_AMOUNT",
            Self::NegativeAmount => "NEGATIVE_AMOUNT",
            Self::InvoiceTotalMismatch => "INVOICE_TOTAL_MISMATCH",
            Self::InvalidHsCode => "INVALID_HS_CODE",
            Self::UnknownTariffCode => "UNKNOWN_TARIFF_CODE",
            Self::InvalidUnit => "INVALID_UNIT",
            Self::UnitMismatch => "UNIT_MISMATCH",
            Self::NetMassExceedsGross => "NET_MASS_EXCEEDS_GROSS",
            Self::InvalidAgreementCode => "INVALID_AGREEMENT_CODE",
            Self::PreferenceNotValidForOrigin => "PREFERENCE_NOT_VALID_FOR_ORIGIN",
            Self::NoExchangeRate => "NO_EXCHANGE_RATE",
            Self::NoItems => "NO_ITEMS",
            Self::TooManyItems => "TOO_MANY_ITEMS",
            Self::DuplicateLrn => "DUPLICATE_LRN",
        }
    }

    pub(super) fn of_code_error(e: &CodeError) -> Self {
        match e {
            CodeError::HsCode(_) => Self::InvalidHsCode,
            CodeError::Country(_) => Self::InvalidCountry,
            CodeError::Currency(_) | CodeError::CurrencyWithoutMinorUnits(_) => {
                Self::InvalidCurrency
            }
            CodeError::Unit(_) => Self::InvalidUnit,
            CodeError::Lrn(_) => Self::InvalidLrn,
            CodeError::PartyId(_) | CodeError::Actor(_) => Self::InvalidPartyId,
            CodeError::OfficeCode(_) => Self::InvalidOffice,
            CodeError::AgreementCode(_) => Self::InvalidAgreementCode,
            CodeError::Incoterm(_) => Self::InvalidIncoterm,
            CodeError::TransportMode(_) => Self::InvalidTransportMode,
            CodeError::DeclarationType(_) => Self::InvalidDeclarationType,
        }
    }

    pub(super) fn of_amount_error(e: &AmountError) -> Self {
        match e {
            AmountError::Negative(_) => Self::NegativeAmount,
            _ => Self::InvalidAmount,
        }
    }

    pub(super) fn of_assessment_error(e: &AssessmentError) -> Self {
        match e {
            AssessmentError::NoExchangeRate { .. } => Self::NoExchangeRate,
            AssessmentError::UnknownTariffCode { .. } => Self::UnknownTariffCode,
            AssessmentError::UnitMismatch { .. } => Self::UnitMismatch,
            AssessmentError::UnknownAgreement { .. } | AssessmentError::OriginNotCovered { .. } => {
                Self::PreferenceNotValidForOrigin
            }
        }
    }
}

impl fmt::Display for ValidationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing wrong with a filing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationError {
    pub code: ValidationCode,
    /// camelCase path with indexes, e.g. `header.invoiceCurrency`, `items[3].hsCode`.
    pub path: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(code: ValidationCode, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            path: path.into(),
            message: message.into(),
        }
    }
}

impl From<&AssessmentError> for ValidationError {
    fn from(e: &AssessmentError) -> Self {
        Self::new(
            ValidationCode::of_assessment_error(e),
            e.path(),
            e.to_string(),
        )
    }
}
