//! Reference-data events. Each is published on a reference stream; the command layer folds them
//! into a [`ReferenceSnapshot`](super::ReferenceSnapshot) with
//! [`apply`](super::ReferenceSnapshot::apply).

use super::{ExchangeRate, ReferenceError, TariffLine};
use crate::codes::UnitCode;
use crate::event::domain_event;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A tariff line was published. The payload is the line itself. A line with the same code and
/// `valid_from` as an earlier one replaces it (a correction); otherwise it is added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TariffLinePublished(pub TariffLine);

/// An exchange rate was published. Same replacement rule as tariff lines (currency and
/// `valid_from`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExchangeRatePublished(pub ExchangeRate);

/// The list of valid unit codes (UN/ECE Recommendation 20) was published; it replaces the
/// previous list whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "UnitCodesFields")]
pub struct UnitCodesPublished {
    pub codes: BTreeSet<UnitCode>,
}

impl UnitCodesPublished {
    /// A non-empty list.
    pub fn new(codes: impl IntoIterator<Item = UnitCode>) -> Result<Self, ReferenceError> {
        UnitCodesFields {
            codes: codes.into_iter().collect(),
        }
        .try_into()
    }
}

#[derive(Deserialize)]
struct UnitCodesFields {
    codes: BTreeSet<UnitCode>,
}

impl TryFrom<UnitCodesFields> for UnitCodesPublished {
    type Error = ReferenceError;
    fn try_from(f: UnitCodesFields) -> Result<Self, Self::Error> {
        if f.codes.is_empty() {
            return Err(ReferenceError::NoUnits);
        }
        Ok(Self { codes: f.codes })
    }
}

pub use crate::risk::RiskRulesPublished;

/// Every reference-data event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReferenceEvent {
    TariffLinePublished(TariffLinePublished),
    ExchangeRatePublished(ExchangeRatePublished),
    UnitCodesPublished(UnitCodesPublished),
    RiskRulesPublished(RiskRulesPublished),
}

domain_event!(ReferenceEvent {
    TariffLinePublished(TariffLinePublished) = "TariffLinePublished",
    ExchangeRatePublished(ExchangeRatePublished) = "ExchangeRatePublished",
    UnitCodesPublished(UnitCodesPublished) = "UnitCodesPublished",
    RiskRulesPublished(RiskRulesPublished) = "RiskRulesPublished",
});
