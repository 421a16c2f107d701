//! Currencies: ISO 4217 alphabetic codes from the `iso_currency` list (maintained; its data
//! includes the 2024-2025 changes such as ZWG and XCG), with their minor units.

use super::CodeError;
use iso_currency::Currency;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// An ISO 4217 currency that has minor units, e.g. `KRW` (0 minor units) or `USD` (2).
///
/// Codes without minor units (gold `XAU`, SDR `XDR` and other special units) are refused: an
/// invoice or a tax is never expressed in them. Superseded currencies are accepted here; whether
/// one can be used on a given date is decided by the exchange rates in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CurrencyCode(Currency);

impl CurrencyCode {
    /// Parses an upper-case ISO 4217 alphabetic code.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(CodeError::Currency(s.to_owned()));
        }
        let currency = Currency::from_code(s).ok_or_else(|| CodeError::Currency(s.to_owned()))?;
        match currency.exponent() {
            Some(_) => Ok(Self(currency)),
            None => Err(CodeError::CurrencyWithoutMinorUnits(s.to_owned())),
        }
    }

    /// Korean won, the national currency of the administration aduana is modelled on.
    pub fn krw() -> Self {
        Self(Currency::KRW)
    }

    /// The alphabetic code.
    pub fn as_str(&self) -> &'static str {
        self.0.code()
    }

    /// Number of digits after the decimal point (ISO 4217 "minor unit"): KRW 0, USD 2, KWD 3.
    pub fn minor_units(&self) -> u32 {
        // Proven at parse time: only currencies with an exponent are constructed.
        self.0.exponent().map_or(0, u32::from)
    }

    /// The English name.
    pub fn name(&self) -> &str {
        self.0.name()
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for CurrencyCode {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for CurrencyCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CurrencyCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn currencies_know_their_minor_units() {
        assert_eq!(CurrencyCode::parse("KRW").unwrap().minor_units(), 0);
        assert_eq!(CurrencyCode::parse("USD").unwrap().minor_units(), 2);
        assert_eq!(CurrencyCode::parse("JPY").unwrap().minor_units(), 0);
        assert_eq!(CurrencyCode::parse("KWD").unwrap().minor_units(), 3);
        assert_eq!(CurrencyCode::krw().as_str(), "KRW");
    }

    #[test]
    fn unknown_lower_case_and_unitless_currencies_are_refused() {
        for bad in ["ABC", "usd", "US", "USDD", "XAU", ""] {
            assert_eq!(
                CurrencyCode::parse(bad).unwrap_err().code(),
                "INVALID_CURRENCY",
                "{bad}"
            );
        }
    }

    #[test]
    fn a_currency_round_trips_through_json() {
        let eur = CurrencyCode::parse("EUR").unwrap();
        assert_eq!(serde_json::to_string(&eur).unwrap(), "\"EUR\"");
        assert_eq!(
            serde_json::from_str::<CurrencyCode>("\"EUR\"").unwrap(),
            eur
        );
        assert!(serde_json::from_str::<CurrencyCode>("\"EURO\"").is_err());
    }
}
