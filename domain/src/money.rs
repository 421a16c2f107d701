//! Decimal amounts, percentages and rounding.
//!
//! Money and quantities are [`Decimal`]s; nothing here is ever `f64`. Amounts from outside are
//! parsed with [`parse_decimal`], which accepts only plain decimal text (`-12.50`, no exponent,
//! no separators) and bounds the magnitude so that every product the assessment forms (amount ×
//! exchange rate × percentage) stays far inside `Decimal`'s 28 digits: no calculation can
//! overflow.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The largest amount or quantity accepted from outside: 10^15 (a quadrillion units).
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(0xA4C6_8000, 0x0003_8D7E, 0, false, 0);

/// The most digits accepted after the decimal point.
pub const MAX_DECIMAL_PLACES: u32 = 6;

/// Why decimal text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("{0:?} is not a decimal number (digits, an optional '.', an optional leading '-')")]
    NotADecimal(String),
    #[error("{0} is negative")]
    Negative(Decimal),
    #[error("{0} is larger than the largest accepted amount (10^15)")]
    TooLarge(Decimal),
    #[error("{value} has more than {max} decimal places")]
    TooManyDecimals { value: Decimal, max: u32 },
}

impl AmountError {
    /// The stable validation code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Negative(_) => "NEGATIVE_AMOUNT",
            Self::NotADecimal(_) | Self::TooLarge(_) | Self::TooManyDecimals { .. } => {
                "INVALID_AMOUNT"
            }
        }
    }
}

/// Parses plain decimal text: `-?[0-9]+(\.[0-9]+)?`, at most [`MAX_DECIMAL_PLACES`] decimals and
/// at most [`MAX_AMOUNT`] in magnitude. The scale written is kept (`"20.00"` stays `20.00`).
pub fn parse_decimal(s: &str) -> Result<Decimal, AmountError> {
    let not = || AmountError::NotADecimal(s.to_owned());
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || !frac.is_none_or(all_digits) || int.len() > 16 {
        return Err(not());
    }
    if frac.is_some_and(|f| f.len() > MAX_DECIMAL_PLACES as usize) {
        let value = Decimal::from_str_exact(s).map_err(|_| not())?;
        return Err(AmountError::TooManyDecimals {
            value,
            max: MAX_DECIMAL_PLACES,
        });
    }
    let value = Decimal::from_str_exact(s).map_err(|_| not())?;
    if value.abs() > MAX_AMOUNT {
        return Err(AmountError::TooLarge(value));
    }
    Ok(value)
}

/// Parses a non-negative amount with at most `max_decimals` decimal places (a currency's minor
/// units for money).
pub fn parse_amount(s: &str, max_decimals: u32) -> Result<Decimal, AmountError> {
    let value = parse_decimal(s)?;
    if value.is_sign_negative() && !value.is_zero() {
        return Err(AmountError::Negative(value));
    }
    if value.scale() > max_decimals {
        return Err(AmountError::TooManyDecimals {
            value,
            max: max_decimals,
        });
    }
    Ok(value)
}

/// How the digits beyond the kept ones are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RoundingMode {
    /// Round half up (half away from zero): 0.5 → 1, 0.49 → 0 (ROUND_HALF_UP).
    HalfUp,
    /// Truncate (toward zero): 0.99 → 0 (ROUND_DOWN, Korean 절사).
    Truncate,
}

/// A rounding rule: a mode and the number of decimal places kept. Negative places round to tens,
/// hundreds, …: `-1` keeps whole tens (Korean taxes drop amounts under 10 won).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rounding {
    pub mode: RoundingMode,
    pub decimal_places: i32,
}

impl Rounding {
    /// Half up to `decimal_places`.
    pub const fn half_up(decimal_places: i32) -> Self {
        Self {
            mode: RoundingMode::HalfUp,
            decimal_places,
        }
    }

    /// Truncate to `decimal_places`.
    pub const fn truncate(decimal_places: i32) -> Self {
        Self {
            mode: RoundingMode::Truncate,
            decimal_places,
        }
    }

    /// Rounds `value`; the result carries exactly `max(decimal_places, 0)` decimals, so `20`
    /// rounded to 2 places reads `20.00`.
    pub fn apply(self, value: Decimal) -> Decimal {
        let strategy = match self.mode {
            RoundingMode::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            RoundingMode::Truncate => RoundingStrategy::ToZero,
        };
        let mut rounded = if self.decimal_places >= 0 {
            value.round_dp_with_strategy(self.decimal_places.unsigned_abs(), strategy)
        } else {
            // 10^18 is the largest step a u64 holds; no currency rounds to more than thousands.
            let step = Decimal::from(10_u64.pow(self.decimal_places.unsigned_abs().min(18)));
            (value / step).round_dp_with_strategy(0, strategy) * step
        };
        rounded.rescale(self.decimal_places.max(0).unsigned_abs());
        rounded
    }
}

impl fmt::Display for Rounding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            RoundingMode::HalfUp => "half up",
            RoundingMode::Truncate => "truncated",
        };
        write!(f, "{mode} to {} decimal places", self.decimal_places)
    }
}

/// A non-negative percentage, e.g. `8` for 8 %. Serialized as a decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct Percent(Decimal);

/// A percentage outside 0..=1000 or with more than 6 decimals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a percentage between 0 and 1000 with at most 6 decimals")]
pub struct PercentError(pub Decimal);

impl Percent {
    /// Zero percent.
    pub const ZERO: Percent = Percent(Decimal::ZERO);

    /// A percentage between 0 and 1000 (some specific-duty equivalents exceed 100 %).
    pub fn new(value: Decimal) -> Result<Self, PercentError> {
        if value.is_sign_negative() && !value.is_zero()
            || value > Decimal::ONE_THOUSAND
            || value.scale() > MAX_DECIMAL_PLACES
        {
            Err(PercentError(value))
        } else {
            Ok(Self(value))
        }
    }

    /// The percentage as a number (8 for 8 %).
    pub fn value(self) -> Decimal {
        self.0
    }

    /// `amount × pct / 100`, exact (not rounded).
    pub fn of(self, amount: Decimal) -> Decimal {
        amount * self.0 / Decimal::ONE_HUNDRED
    }
}

impl TryFrom<Decimal> for Percent {
    type Error = PercentError;
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Percent> for Decimal {
    fn from(p: Percent) -> Decimal {
        p.0
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn plain_decimal_text_is_read_with_its_scale() {
        assert_eq!(parse_decimal("20.00").unwrap().to_string(), "20.00");
        assert_eq!(parse_decimal("-3").unwrap(), dec!(-3));
        assert_eq!(MAX_AMOUNT, dec!(1_000_000_000_000_000));
        assert!(parse_decimal("1000000000000000").is_ok());
    }

    #[test]
    fn exponents_separators_signs_and_blanks_are_not_decimals() {
        for bad in [
            "", "1e5", "1_000", "+1", " 1", "1.", ".5", "1,5", "--1", "0x10", "NaN",
        ] {
            assert_eq!(
                parse_decimal(bad).unwrap_err().code(),
                "INVALID_AMOUNT",
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_decimal("1000000000000001"),
            Err(AmountError::TooLarge(_))
        ));
        assert!(matches!(
            parse_decimal("1.1234567"),
            Err(AmountError::TooManyDecimals { .. })
        ));
    }

    #[test]
    fn an_amount_is_non_negative_and_within_its_currency_minor_units() {
        assert_eq!(
            parse_amount("-0.01", 2).unwrap_err().code(),
            "NEGATIVE_AMOUNT"
        );
        assert_eq!(
            parse_amount("10.001", 2).unwrap_err().code(),
            "INVALID_AMOUNT"
        );
        assert_eq!(
            parse_amount("10.5", 0).unwrap_err().code(),
            "INVALID_AMOUNT"
        );
        assert_eq!(parse_amount("0", 0).unwrap(), Decimal::ZERO);
        assert_eq!(parse_amount("-0", 0).unwrap(), Decimal::ZERO);
    }

    #[test]
    fn half_up_rounds_midpoints_away_from_zero_and_keeps_the_scale() {
        let r = Rounding::half_up(2);
        assert_eq!(r.apply(dec!(20)).to_string(), "20.00");
        assert_eq!(r.apply(dec!(0.125)).to_string(), "0.13");
        assert_eq!(r.apply(dec!(0.1249)).to_string(), "0.12");
        assert_eq!(Rounding::half_up(0).apply(dec!(2.5)).to_string(), "3");
    }

    #[test]
    fn truncation_drops_digits_and_negative_places_keep_tens() {
        assert_eq!(
            Rounding::truncate(0).apply(dec!(1234.99)).to_string(),
            "1234"
        );
        assert_eq!(
            Rounding::truncate(-1).apply(dec!(1239.99)).to_string(),
            "1230"
        );
        assert_eq!(Rounding::half_up(-1).apply(dec!(1235)).to_string(), "1240");
    }

    #[test]
    fn a_percentage_is_between_0_and_1000() {
        assert_eq!(Percent::new(dec!(8)).unwrap().of(dec!(1000)), dec!(80));
        assert!(Percent::new(dec!(-1)).is_err());
        assert!(Percent::new(dec!(1000.01)).is_err());
        assert_eq!(
            serde_json::to_string(&Percent::new(dec!(5.2)).unwrap()).unwrap(),
            "\"5.2\""
        );
        assert!(serde_json::from_str::<Percent>("\"-5\"").is_err());
        assert!(
            serde_json::from_str::<Percent>("5").is_err(),
            "numbers must be strings"
        );
    }
}
