//! Countries: ISO 3166-1 alpha-2, checked against the `rust_iso3166` code list.
//!
//! `rust_iso3166` is used instead of `isocountry`: isocountry's last release is from December
//! 2020 (and still depends on thiserror 1), while rust_iso3166 is released in 2026 with its data
//! regenerated from Debian's iso-codes, the maintained machine-readable copy of ISO 3166.

use super::CodeError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// An officially assigned ISO 3166-1 alpha-2 country code, e.g. `KR`.
///
/// User-assigned codes (`XK` for Kosovo, `EU`) are not ISO 3166-1 and are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountryCode(&'static str);

impl CountryCode {
    /// Parses an upper-case alpha-2 code present in ISO 3166-1.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        if s.len() != 2 || !s.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(CodeError::Country(s.to_owned()));
        }
        rust_iso3166::from_alpha2(s)
            .map(|c| Self(c.alpha2))
            .ok_or_else(|| CodeError::Country(s.to_owned()))
    }

    /// The alpha-2 code.
    pub fn as_str(&self) -> &'static str {
        self.0
    }

    /// The English short name from ISO 3166-1.
    pub fn name(&self) -> &'static str {
        rust_iso3166::from_alpha2(self.0).map_or("", |c| c.name)
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::str::FromStr for CountryCode {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for CountryCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for CountryCode {
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
    fn assigned_alpha2_codes_are_accepted() {
        for ok in ["KR", "CN", "US", "DE", "VN", "SS", "CW"] {
            assert_eq!(CountryCode::parse(ok).unwrap().as_str(), ok);
        }
        assert!(CountryCode::parse("KR").unwrap().name().contains("Korea"));
    }

    #[test]
    fn unknown_lower_case_alpha3_and_user_assigned_codes_are_refused() {
        for bad in ["ZZ", "kr", "KOR", "XK", "EU", "", "K"] {
            assert_eq!(
                CountryCode::parse(bad).unwrap_err().code(),
                "INVALID_COUNTRY",
                "{bad}"
            );
        }
    }

    #[test]
    fn a_country_deserializes_only_when_valid() {
        assert_eq!(
            serde_json::from_str::<CountryCode>("\"JP\"").unwrap(),
            CountryCode::parse("JP").unwrap()
        );
        assert!(serde_json::from_str::<CountryCode>("\"QQ\"").is_err());
    }
}
