//! Code lists and identifiers, each a newtype parsed once and valid everywhere after.
//!
//! Every parser rejects what it cannot prove valid with a [`CodeError`] whose
//! [`code`](CodeError::code) is the stable validation code shown to declarants. Codes serialize
//! as their canonical string and deserialize through the same parser, so an event read back can
//! never hold an invalid code.

mod country;
mod currency;
mod declaration_type;
mod hs_code;
mod identifiers;
mod incoterm;
mod transport_mode;
mod unit;

pub use country::CountryCode;
pub use currency::CurrencyCode;
pub use declaration_type::DeclarationType;
pub use hs_code::HsCode;
pub use identifiers::{Actor, AgreementCode, Lrn, OfficeCode, PartyId};
pub use incoterm::Incoterm;
pub use transport_mode::TransportMode;
pub use unit::UnitCode;

/// Why a code or identifier could not be parsed. One variant per kind of code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("tariff code {0:?} is not 10 digits")]
    HsCode(String),
    #[error("{0:?} is not an ISO 3166-1 alpha-2 country code")]
    Country(String),
    #[error("{0:?} is not an ISO 4217 currency code")]
    Currency(String),
    #[error("currency {0} has no minor units (a commodity or special unit) and cannot be invoiced")]
    CurrencyWithoutMinorUnits(String),
    #[error("unit code {0:?} is not 2-3 characters of A-Z and 0-9 (UN/ECE Recommendation 20)")]
    Unit(String),
    #[error("local reference number {0:?} must be 1-35 characters of A-Z a-z 0-9 - _ / .")]
    Lrn(String),
    #[error("party id {0:?} must be 1-35 characters of A-Z a-z 0-9 - _ . :")]
    PartyId(String),
    #[error("customs office code {0:?} must be 2-8 characters of A-Z and 0-9")]
    OfficeCode(String),
    #[error("agreement code {0:?} must be 1-8 characters of A-Z and 0-9 (e.g. FCN1)")]
    AgreementCode(String),
    #[error("{0:?} is not an Incoterms 2020 rule (EXW FCA FAS FOB CFR CIF CPT CIP DAP DPU DDP)")]
    Incoterm(String),
    #[error("{0:?} is not a transport mode code (WCO 1-5, 7-9 or KCS 10-50, 70-90)")]
    TransportMode(String),
    #[error("{0:?} is not a declaration type (import or export)")]
    DeclarationType(String),
    #[error("actor {0:?} must be 1-200 characters without control characters")]
    Actor(String),
}

impl CodeError {
    /// The stable validation code (SCREAMING_SNAKE_CASE) for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::HsCode(_) => "INVALID_HS_CODE",
            Self::Country(_) => "INVALID_COUNTRY",
            Self::Currency(_) | Self::CurrencyWithoutMinorUnits(_) => "INVALID_CURRENCY",
            Self::Unit(_) => "INVALID_UNIT",
            Self::Lrn(_) => "INVALID_LRN",
            Self::PartyId(_) => "INVALID_PARTY_ID",
            Self::OfficeCode(_) => "INVALID_OFFICE",
            Self::AgreementCode(_) => "INVALID_AGREEMENT_CODE",
            Self::Incoterm(_) => "INVALID_INCOTERM",
            Self::TransportMode(_) => "INVALID_TRANSPORT_MODE",
            Self::DeclarationType(_) => "INVALID_DECLARATION_TYPE",
            Self::Actor(_) => "INVALID_ACTOR",
        }
    }
}

/// True when `s` is `min..=max` characters, each accepted by `allowed`.
pub(crate) fn chars_within(
    s: &str,
    min: usize,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> bool {
    let len = s.chars().count();
    (min..=max).contains(&len) && s.chars().all(allowed)
}

pub(crate) fn upper_alnum(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

/// Implements `Display`, `FromStr`, `TryFrom<String>`, `From<T> for String`, `AsRef<str>` and
/// string serde (deserializing through `parse`) for a newtype over `String`.
macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            /// The canonical text of this code.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::codes::CodeError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::codes::CodeError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = $crate::codes::CodeError;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(code: $name) -> String {
                code.0.into()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_ref())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                Self::parse(&s).map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_newtype;
