//! Reference data: the tariff schedule, customs exchange rates and the unit code list, published
//! as events and effective-dated, and the in-memory [`ReferenceSnapshot`] that answers "what was
//! in force on this date".
//!
//! Validity periods are inclusive at both ends: a line with `valid_from = 2026-01-01` and
//! `valid_to = 2026-06-30` is in force on both of those days. An open `valid_to` means "until
//! further notice". The declaration events record every value they used, so replaying history
//! never depends on the reference data of the day.

mod events;
mod exchange;
mod snapshot;
mod tariff;

pub use events::{
    ExchangeRatePublished, ReferenceEvent, RiskRulesPublished, TariffLinePublished,
    UnitCodesPublished,
};
pub use exchange::ExchangeRate;
pub use snapshot::ReferenceSnapshot;
pub use tariff::{DutyRate, PreferentialRate, TariffLine};

use chrono::NaiveDate;

/// Reference data that breaks its own rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("validity ends ({valid_to}) before it starts ({valid_from})")]
    InvertedValidity {
        valid_from: NaiveDate,
        valid_to: NaiveDate,
    },
    #[error("an exchange rate must be positive, got {0}")]
    NonPositiveRate(rust_decimal::Decimal),
    #[error("a specific duty must not be negative, got {0}")]
    NegativeSpecificDuty(rust_decimal::Decimal),
    #[error("agreement {0} is listed twice on one tariff line")]
    DuplicateAgreement(String),
    #[error("preferential rate {0} lists no origin")]
    PreferenceWithoutOrigin(String),
    #[error("a tariff line needs a description")]
    EmptyDescription,
    #[error("the unit code list is empty")]
    NoUnits,
}

/// True when `date` is inside `[from, to]` (`to` open when `None`).
pub(crate) fn in_force(from: NaiveDate, to: Option<NaiveDate>, date: NaiveDate) -> bool {
    from <= date && to.is_none_or(|to| date <= to)
}

pub(crate) fn check_validity(from: NaiveDate, to: Option<NaiveDate>) -> Result<(), ReferenceError> {
    match to {
        Some(to) if to < from => Err(ReferenceError::InvertedValidity {
            valid_from: from,
            valid_to: to,
        }),
        _ => Ok(()),
    }
}
