//! Identifiers chosen outside customs: the declarant's local reference number, party ids,
//! customs office codes and trade agreement codes.

use super::{CodeError, chars_within, string_newtype, upper_alnum};

/// The declarant's local reference number (WCO "LRN"): 1-35 characters of
/// `A-Z a-z 0-9 - _ / .`. Unique per declarant: see [`declaration_id`](crate::declaration::declaration_id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lrn(String);

string_newtype!(Lrn);

impl Lrn {
    /// Parses 1-35 characters of `[A-Za-z0-9-_/.]`.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.');
        if chars_within(s, 1, 35, ok) {
            Ok(Self(s.to_owned()))
        } else {
            Err(CodeError::Lrn(s.to_owned()))
        }
    }
}

/// A party (declarant, importer, exporter, …) as registered with customs: 1-35 characters of
/// `A-Z a-z 0-9 - _ . :` (e.g. the KCS sample's `ZZR1LT6`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartyId(String);

string_newtype!(PartyId);

impl PartyId {
    /// Parses 1-35 characters of `[A-Za-z0-9-_.:]`.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
        if chars_within(s, 1, 35, ok) {
            Ok(Self(s.to_owned()))
        } else {
            Err(CodeError::PartyId(s.to_owned()))
        }
    }
}

/// A customs office code: 2-8 characters of `A-Z 0-9` (the KCS sample uses `20`, `30`, `40`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OfficeCode(String);

string_newtype!(OfficeCode);

impl OfficeCode {
    /// Parses 2-8 characters of `[A-Z0-9]`.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        if chars_within(s, 2, 8, upper_alnum) {
            Ok(Self(s.to_owned()))
        } else {
            Err(CodeError::OfficeCode(s.to_owned()))
        }
    }
}

/// A preferential trade agreement as coded in the tariff, e.g. `FCN1` (Korea-China FTA),
/// `FEU1` (Korea-EU), `FUS1` (Korea-US), `R` (least-developed-country preference), `E1`
/// (Asia-Pacific Trade Agreement): 1-8 characters of `A-Z 0-9`, as the KCS tax types are coded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgreementCode(String);

string_newtype!(AgreementCode);

impl AgreementCode {
    /// Parses 1-8 characters of `[A-Z0-9]`.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        if chars_within(s, 1, 8, upper_alnum) {
            Ok(Self(s.to_owned()))
        } else {
            Err(CodeError::AgreementCode(s.to_owned()))
        }
    }
}

/// Who acted: the authenticated principal as the command layer names it (`declarant/ACME`,
/// `officer/K123`, `system`). 1-200 characters without control characters, like the event
/// store's `actor` metadata.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Actor(String);

string_newtype!(Actor);

impl Actor {
    /// Parses 1-200 characters without control characters.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        if chars_within(s, 1, 200, |c| !c.is_control()) && !s.trim().is_empty() {
            Ok(Self(s.to_owned()))
        } else {
            Err(CodeError::Actor(s.to_owned()))
        }
    }

    /// The actor recorded for decisions the system takes by itself (automatic acceptance).
    pub fn system() -> Self {
        Self("system".to_owned())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_local_reference_number_allows_35_characters_of_its_alphabet() {
        assert!(Lrn::parse("2026/IMP-0001_a.b").is_ok());
        assert!(Lrn::parse(&"A".repeat(35)).is_ok());
        for bad in ["", "has space", "ünï", &"A".repeat(36)] {
            assert_eq!(Lrn::parse(bad).unwrap_err().code(), "INVALID_LRN", "{bad}");
        }
    }

    #[test]
    fn party_ids_offices_and_agreements_have_their_own_alphabets() {
        assert!(PartyId::parse("ZZR1LT6").is_ok());
        assert_eq!(
            PartyId::parse("a b").unwrap_err().code(),
            "INVALID_PARTY_ID"
        );
        assert!(OfficeCode::parse("30").is_ok());
        assert_eq!(OfficeCode::parse("3").unwrap_err().code(), "INVALID_OFFICE");
        assert!(AgreementCode::parse("FCN1").is_ok());
        assert_eq!(
            AgreementCode::parse("fcn1").unwrap_err().code(),
            "INVALID_AGREEMENT_CODE"
        );
    }
}
