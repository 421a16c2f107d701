//! Tariff codes: the 6-digit Harmonized System code followed by 4 national digits (HSK).

use super::{CodeError, string_newtype};

/// A 10-digit tariff code: chapter (2) · heading (4) · HS subheading (6) · national digits.
///
/// Only the format is proven here; whether the code is in the tariff schedule in force is a
/// question for the [`ReferenceSnapshot`](crate::reference::ReferenceSnapshot).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HsCode(String);

string_newtype!(HsCode);

impl HsCode {
    /// Parses exactly 10 ASCII digits. Dots and spaces, as printed in tariff books
    /// (`8471.30-0000`), are not accepted: the caller strips presentation characters.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        if s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(CodeError::HsCode(s.to_owned()))
        }
    }

    /// The HS chapter, e.g. `"84"`.
    pub fn chapter(&self) -> &str {
        &self.0[..2]
    }

    /// The HS heading, e.g. `"8471"`.
    pub fn heading(&self) -> &str {
        &self.0[..4]
    }

    /// The internationally harmonised 6-digit subheading, e.g. `"847130"`.
    pub fn subheading(&self) -> &str {
        &self.0[..6]
    }

    /// The 4 national digits after the HS subheading.
    pub fn national_suffix(&self) -> &str {
        &self.0[6..]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_ten_digit_code_exposes_chapter_heading_and_subheading() {
        let code = HsCode::parse("8471300000").unwrap();
        assert_eq!(code.chapter(), "84");
        assert_eq!(code.heading(), "8471");
        assert_eq!(code.subheading(), "847130");
        assert_eq!(code.national_suffix(), "0000");
    }

    #[test]
    fn codes_of_other_lengths_or_with_punctuation_are_refused() {
        for bad in [
            "847130",
            "84713000000",
            "8471.30.000",
            "",
            "847130000a",
            "８４７１３０００００",
        ] {
            let err = HsCode::parse(bad).unwrap_err();
            assert_eq!(err.code(), "INVALID_HS_CODE", "{bad}");
        }
    }

    #[test]
    fn a_code_round_trips_through_json_and_is_reparsed_when_read() {
        let code = HsCode::parse("0101210000").unwrap();
        let json = serde_json::to_string(&code).unwrap();
        assert_eq!(json, "\"0101210000\"");
        assert_eq!(serde_json::from_str::<HsCode>(&json).unwrap(), code);
        assert!(serde_json::from_str::<HsCode>("\"0101\"").is_err());
    }
}
