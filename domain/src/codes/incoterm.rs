//! Incoterms 2020: who pays transport and insurance up to which point, which decides what must
//! be added to the invoice price to reach the customs value (CIF at the border).

use super::CodeError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The eleven Incoterms 2020 rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum Incoterm {
    /// Ex Works.
    Exw,
    /// Free Carrier.
    Fca,
    /// Free Alongside Ship.
    Fas,
    /// Free On Board.
    Fob,
    /// Cost and Freight.
    Cfr,
    /// Cost, Insurance and Freight.
    Cif,
    /// Carriage Paid To.
    Cpt,
    /// Carriage and Insurance Paid To.
    Cip,
    /// Delivered At Place.
    Dap,
    /// Delivered at Place Unloaded.
    Dpu,
    /// Delivered Duty Paid.
    Ddp,
}

impl Incoterm {
    /// Every rule, in the order of the Incoterms 2020 publication.
    pub const ALL: [Incoterm; 11] = [
        Self::Exw,
        Self::Fca,
        Self::Fas,
        Self::Fob,
        Self::Cfr,
        Self::Cif,
        Self::Cpt,
        Self::Cip,
        Self::Dap,
        Self::Dpu,
        Self::Ddp,
    ];

    /// Parses the three-letter upper-case rule.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| CodeError::Incoterm(s.to_owned()))
    }

    /// The three-letter rule.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exw => "EXW",
            Self::Fca => "FCA",
            Self::Fas => "FAS",
            Self::Fob => "FOB",
            Self::Cfr => "CFR",
            Self::Cif => "CIF",
            Self::Cpt => "CPT",
            Self::Cip => "CIP",
            Self::Dap => "DAP",
            Self::Dpu => "DPU",
            Self::Ddp => "DDP",
        }
    }

    /// True when the price excludes the main carriage, so freight to the border is added.
    pub fn adds_freight(self) -> bool {
        matches!(self, Self::Exw | Self::Fca | Self::Fas | Self::Fob)
    }

    /// True when the price excludes insurance of the main carriage, so insurance is added.
    pub fn adds_insurance(self) -> bool {
        matches!(
            self,
            Self::Exw | Self::Fca | Self::Fas | Self::Fob | Self::Cfr | Self::Cpt
        )
    }
}

impl fmt::Display for Incoterm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Incoterm {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Incoterm {
    type Error = CodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Incoterm> for &'static str {
    fn from(t: Incoterm) -> Self {
        t.as_str()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_parses_from_its_own_name() {
        for term in Incoterm::ALL {
            assert_eq!(Incoterm::parse(term.as_str()).unwrap(), term);
        }
        assert_eq!(
            Incoterm::parse("fob").unwrap_err().code(),
            "INVALID_INCOTERM"
        );
        assert_eq!(
            Incoterm::parse("DAF").unwrap_err().code(),
            "INVALID_INCOTERM"
        );
    }

    #[test]
    fn f_terms_add_freight_and_insurance_c_terms_only_what_they_lack() {
        assert!(Incoterm::Fob.adds_freight() && Incoterm::Fob.adds_insurance());
        assert!(Incoterm::Exw.adds_freight() && Incoterm::Exw.adds_insurance());
        assert!(!Incoterm::Cfr.adds_freight() && Incoterm::Cfr.adds_insurance());
        assert!(!Incoterm::Cif.adds_freight() && !Incoterm::Cif.adds_insurance());
        assert!(!Incoterm::Ddp.adds_freight() && !Incoterm::Ddp.adds_insurance());
    }

    #[test]
    fn an_incoterm_serializes_as_its_name() {
        assert_eq!(serde_json::to_string(&Incoterm::Cif).unwrap(), "\"CIF\"");
        assert_eq!(
            serde_json::from_str::<Incoterm>("\"FOB\"").unwrap(),
            Incoterm::Fob
        );
    }
}
