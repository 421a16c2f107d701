//! Customs exchange rates (in Korea, a weekly rate published by the customs service).

use super::{ReferenceError, check_validity, in_force};
use crate::codes::CurrencyCode;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The national-currency value of one unit of `currency`, in force from `valid_from` to
/// `valid_to` inclusive. Rates quoted per 100 units (JPY in Korea) are divided by 100 first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "ExchangeRateFields")]
pub struct ExchangeRate {
    pub currency: CurrencyCode,
    pub rate: Decimal,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

impl ExchangeRate {
    /// A rate, checked: positive, validity not inverted.
    pub fn new(
        currency: CurrencyCode,
        rate: Decimal,
        valid_from: NaiveDate,
        valid_to: Option<NaiveDate>,
    ) -> Result<Self, ReferenceError> {
        ExchangeRateFields {
            currency,
            rate,
            valid_from,
            valid_to,
        }
        .try_into()
    }

    /// True when the rate is in force on `date`.
    pub fn in_force_on(&self, date: NaiveDate) -> bool {
        in_force(self.valid_from, self.valid_to, date)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExchangeRateFields {
    currency: CurrencyCode,
    rate: Decimal,
    valid_from: NaiveDate,
    #[serde(default)]
    valid_to: Option<NaiveDate>,
}

impl TryFrom<ExchangeRateFields> for ExchangeRate {
    type Error = ReferenceError;

    fn try_from(f: ExchangeRateFields) -> Result<Self, Self::Error> {
        check_validity(f.valid_from, f.valid_to)?;
        if f.rate <= Decimal::ZERO {
            return Err(ReferenceError::NonPositiveRate(f.rate));
        }
        Ok(Self {
            currency: f.currency,
            rate: f.rate,
            valid_from: f.valid_from,
            valid_to: f.valid_to,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn a_rate_must_be_positive() {
        let usd = CurrencyCode::parse("USD").unwrap();
        let from = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert!(ExchangeRate::new(usd, dec!(0), from, None).is_err());
        assert!(ExchangeRate::new(usd, dec!(-1), from, None).is_err());
        let rate = ExchangeRate::new(usd, dec!(1350.25), from, None).unwrap();
        let json = serde_json::to_value(&rate).unwrap();
        assert_eq!(json["rate"], "1350.25");
        assert_eq!(serde_json::from_value::<ExchangeRate>(json).unwrap(), rate);
    }
}
