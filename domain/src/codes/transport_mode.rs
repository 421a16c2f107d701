//! Mode of transport at the border, WCO data element 7/4 (UN/ECE Recommendation 19 codes).

use super::CodeError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The mode of transport at the border, coded as in the WCO data model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum TransportMode {
    /// 1 — maritime.
    Sea,
    /// 2 — rail.
    Rail,
    /// 3 — road.
    Road,
    /// 4 — air.
    Air,
    /// 5 — postal consignment.
    Post,
    /// 7 — fixed transport installation (pipeline, power line).
    FixedInstallation,
    /// 8 — inland waterway.
    InlandWaterway,
    /// 9 — own propulsion (a vehicle or vessel crossing the border as the goods themselves).
    OwnPropulsion,
}

impl TransportMode {
    /// The WCO code, 1-5 or 7-9.
    pub fn code(self) -> u8 {
        match self {
            Self::Sea => 1,
            Self::Rail => 2,
            Self::Road => 3,
            Self::Air => 4,
            Self::Post => 5,
            Self::FixedInstallation => 7,
            Self::InlandWaterway => 8,
            Self::OwnPropulsion => 9,
        }
    }

    /// The mode for a WCO code.
    pub fn from_code(code: u8) -> Result<Self, CodeError> {
        Ok(match code {
            1 => Self::Sea,
            2 => Self::Rail,
            3 => Self::Road,
            4 => Self::Air,
            5 => Self::Post,
            7 => Self::FixedInstallation,
            8 => Self::InlandWaterway,
            9 => Self::OwnPropulsion,
            other => return Err(CodeError::TransportMode(other.to_string())),
        })
    }

    /// The mode for a Korea Customs Service code, which is the WCO code times ten (10 sea,
    /// 20 rail, 30 road, 40 air, 50 post, 70 fixed installation, 80 inland waterway).
    ///
    /// KCS `90` means "other" (기타); it maps to 9, the only WCO code left, though WCO 9 means
    /// own propulsion: keep the source code where that difference matters.
    pub fn from_kcs_code(code: u8) -> Result<Self, CodeError> {
        if !code.is_multiple_of(10) {
            return Err(CodeError::TransportMode(code.to_string()));
        }
        Self::from_code(code / 10).map_err(|_| CodeError::TransportMode(code.to_string()))
    }

    /// Parses text: a one-digit WCO code (`"4"`) or a two-digit KCS code (`"40"`).
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        let err = || CodeError::TransportMode(s.to_owned());
        if !(1..=2).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let n: u8 = s.parse().map_err(|_| err())?;
        if s.len() == 1 {
            Self::from_code(n)
        } else {
            Self::from_kcs_code(n)
        }
        .map_err(|_| err())
    }
}

impl fmt::Display for TransportMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

impl std::str::FromStr for TransportMode {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<u8> for TransportMode {
    type Error = CodeError;
    fn try_from(code: u8) -> Result<Self, Self::Error> {
        Self::from_code(code)
    }
}

impl From<TransportMode> for u8 {
    fn from(mode: TransportMode) -> u8 {
        mode.code()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn wco_codes_round_trip() {
        for code in [1, 2, 3, 4, 5, 7, 8, 9] {
            assert_eq!(TransportMode::from_code(code).unwrap().code(), code);
        }
        for bad in [0, 6, 10] {
            assert_eq!(
                TransportMode::from_code(bad).unwrap_err().code(),
                "INVALID_TRANSPORT_MODE"
            );
        }
    }

    #[test]
    fn kcs_codes_are_wco_codes_times_ten() {
        assert_eq!(
            TransportMode::from_kcs_code(10).unwrap(),
            TransportMode::Sea
        );
        assert_eq!(
            TransportMode::from_kcs_code(40).unwrap(),
            TransportMode::Air
        );
        assert_eq!(
            TransportMode::from_kcs_code(50).unwrap(),
            TransportMode::Post
        );
        assert_eq!(
            TransportMode::from_kcs_code(90).unwrap(),
            TransportMode::OwnPropulsion
        );
        assert!(TransportMode::from_kcs_code(41).is_err());
        assert!(TransportMode::from_kcs_code(60).is_err());
    }

    #[test]
    fn text_accepts_one_digit_wco_or_two_digit_kcs_codes() {
        assert_eq!(TransportMode::parse("4").unwrap(), TransportMode::Air);
        assert_eq!(TransportMode::parse("10").unwrap(), TransportMode::Sea);
        for bad in ["", "6", "45", "100", "a", "+4"] {
            assert!(TransportMode::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_string(&TransportMode::Air).unwrap(), "4");
    }
}
