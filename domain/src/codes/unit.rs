//! Units of measure: UN/ECE Recommendation 20 common codes (`KGM`, `NMB`, `LTR`, `MTK`, …).
//!
//! Only the shape is proven here. Which codes are valid is reference data: the list published
//! with the reference data ([`ReferenceSnapshot::is_known_unit`](crate::reference::ReferenceSnapshot::is_known_unit)),
//! so the domain never carries a hand-typed copy of Recommendation 20.

use super::{CodeError, chars_within, string_newtype, upper_alnum};

/// A unit code of 2-3 characters `A-Z 0-9`, e.g. `KGM` (kilogram) or `C62` (one).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitCode(String);

string_newtype!(UnitCode);

impl UnitCode {
    /// Parses the format `[A-Z0-9]{2,3}`.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        if chars_within(s, 2, 3, upper_alnum) {
            Ok(Self(s.to_owned()))
        } else {
            Err(CodeError::Unit(s.to_owned()))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn rec20_shaped_codes_are_accepted() {
        for ok in ["KGM", "NMB", "LTR", "C62", "U2"] {
            assert_eq!(UnitCode::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn codes_of_the_wrong_shape_are_refused() {
        for bad in ["kgm", "K", "KGMS", "KG-", ""] {
            assert_eq!(
                UnitCode::parse(bad).unwrap_err().code(),
                "INVALID_UNIT",
                "{bad}"
            );
        }
    }
}
