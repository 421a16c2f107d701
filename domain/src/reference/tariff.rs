//! Tariff lines: duty (ad valorem, specific or compound), VAT and preferential rates for one
//! 10-digit code over a validity period.

use super::{ReferenceError, check_validity, in_force};
use crate::codes::{AgreementCode, CountryCode, HsCode, UnitCode};
use crate::money::Percent;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};

/// How the duty of a tariff line is computed. Specific amounts are in the national currency per
/// one `unit` of the declared quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum DutyRate {
    /// A percentage of the customs value.
    AdValorem { pct: Percent },
    /// An amount per unit of quantity, e.g. 1,300 won per `KGM`.
    Specific { amount: Decimal, unit: UnitCode },
    /// Both, added together: value × pct + quantity × amount.
    Compound {
        pct: Percent,
        amount: Decimal,
        unit: UnitCode,
    },
}

impl DutyRate {
    /// The ad-valorem percentage, if the rate has one.
    pub fn ad_valorem(&self) -> Option<Percent> {
        match self {
            Self::AdValorem { pct } | Self::Compound { pct, .. } => Some(*pct),
            Self::Specific { .. } => None,
        }
    }

    /// The specific amount and its unit, if the rate has one.
    pub fn specific(&self) -> Option<(Decimal, &UnitCode)> {
        match self {
            Self::Specific { amount, unit } | Self::Compound { amount, unit, .. } => {
                Some((*amount, unit))
            }
            Self::AdValorem { .. } => None,
        }
    }
}

/// A preferential (FTA) ad-valorem rate for goods originating in one of `origins`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreferentialRate {
    /// The agreement as coded in the tariff, e.g. `FCN1`.
    pub agreement: AgreementCode,
    /// Countries of origin the agreement covers.
    pub origins: BTreeSet<CountryCode>,
    /// The ad-valorem percentage that replaces the line's general one.
    pub pct: Percent,
}

/// One line of the tariff schedule, in force from `valid_from` to `valid_to` inclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "TariffLineFields")]
pub struct TariffLine {
    pub hs_code: HsCode,
    pub description: String,
    pub duty: DutyRate,
    pub vat_pct: Percent,
    pub preferences: Vec<PreferentialRate>,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

impl TariffLine {
    /// A tariff line, checked: a description, a validity that does not end before it starts, no
    /// negative specific duty, each agreement at most once and with at least one origin.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        hs_code: HsCode,
        description: impl Into<String>,
        duty: DutyRate,
        vat_pct: Percent,
        preferences: Vec<PreferentialRate>,
        valid_from: NaiveDate,
        valid_to: Option<NaiveDate>,
    ) -> Result<Self, ReferenceError> {
        TariffLineFields {
            hs_code,
            description: description.into(),
            duty,
            vat_pct,
            preferences,
            valid_from,
            valid_to,
        }
        .try_into()
    }

    /// True when the line is in force on `date`.
    pub fn in_force_on(&self, date: NaiveDate) -> bool {
        in_force(self.valid_from, self.valid_to, date)
    }

    /// The preferential rate of `agreement`, if the line has one.
    pub fn preference(&self, agreement: &AgreementCode) -> Option<&PreferentialRate> {
        self.preferences.iter().find(|p| &p.agreement == agreement)
    }

    /// The preferential rate of `agreement` when goods of `origin` qualify for it.
    pub fn preference_for(
        &self,
        agreement: &AgreementCode,
        origin: CountryCode,
    ) -> Option<&PreferentialRate> {
        self.preference(agreement)
            .filter(|p| p.origins.contains(&origin))
    }
}

/// The fields of a tariff line before its rules are checked (what serde reads).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TariffLineFields {
    hs_code: HsCode,
    description: String,
    duty: DutyRate,
    vat_pct: Percent,
    #[serde(default)]
    preferences: Vec<PreferentialRate>,
    valid_from: NaiveDate,
    #[serde(default)]
    valid_to: Option<NaiveDate>,
}

impl TryFrom<TariffLineFields> for TariffLine {
    type Error = ReferenceError;

    fn try_from(f: TariffLineFields) -> Result<Self, Self::Error> {
        check_validity(f.valid_from, f.valid_to)?;
        if f.description.trim().is_empty() {
            return Err(ReferenceError::EmptyDescription);
        }
        if let Some((amount, _)) = f.duty.specific()
            && amount.is_sign_negative()
            && !amount.is_zero()
        {
            return Err(ReferenceError::NegativeSpecificDuty(amount));
        }
        let mut seen = HashSet::new();
        for p in &f.preferences {
            if !seen.insert(&p.agreement) {
                return Err(ReferenceError::DuplicateAgreement(p.agreement.to_string()));
            }
            if p.origins.is_empty() {
                return Err(ReferenceError::PreferenceWithoutOrigin(
                    p.agreement.to_string(),
                ));
            }
        }
        Ok(Self {
            hs_code: f.hs_code,
            description: f.description,
            duty: f.duty,
            vat_pct: f.vat_pct,
            preferences: f.preferences,
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

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn line(valid_to: Option<&str>) -> Result<TariffLine, ReferenceError> {
        TariffLine::new(
            HsCode::parse("6907220000").unwrap(),
            "Ceramic flags",
            DutyRate::AdValorem {
                pct: Percent::new(dec!(8)).unwrap(),
            },
            Percent::new(dec!(10)).unwrap(),
            vec![PreferentialRate {
                agreement: AgreementCode::parse("FCN1").unwrap(),
                origins: [CountryCode::parse("CN").unwrap()].into(),
                pct: Percent::new(dec!(5.2)).unwrap(),
            }],
            date("2026-01-01"),
            valid_to.map(date),
        )
    }

    #[test]
    fn a_line_is_in_force_on_both_ends_of_its_validity() {
        let l = line(Some("2026-12-31")).unwrap();
        assert!(l.in_force_on(date("2026-01-01")));
        assert!(l.in_force_on(date("2026-12-31")));
        assert!(!l.in_force_on(date("2025-12-31")));
        assert!(!l.in_force_on(date("2027-01-01")));
        assert!(line(None).unwrap().in_force_on(date("2099-01-01")));
    }

    #[test]
    fn a_validity_ending_before_it_starts_is_refused() {
        assert!(matches!(
            line(Some("2025-01-01")),
            Err(ReferenceError::InvertedValidity { .. })
        ));
    }

    #[test]
    fn a_preference_applies_only_to_listed_origins() {
        let l = line(None).unwrap();
        let fcn1 = AgreementCode::parse("FCN1").unwrap();
        assert!(
            l.preference_for(&fcn1, CountryCode::parse("CN").unwrap())
                .is_some()
        );
        assert!(
            l.preference_for(&fcn1, CountryCode::parse("VN").unwrap())
                .is_none()
        );
        assert!(
            l.preference(&AgreementCode::parse("FEU1").unwrap())
                .is_none()
        );
    }

    #[test]
    fn a_line_round_trips_through_json_with_rates_as_strings() {
        let l = line(None).unwrap();
        let json = serde_json::to_value(&l).unwrap();
        assert_eq!(
            json["duty"],
            serde_json::json!({"kind": "adValorem", "pct": "8"})
        );
        assert_eq!(json["vatPct"], "10");
        assert_eq!(json["preferences"][0]["origins"], serde_json::json!(["CN"]));
        let back: TariffLine = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, l);
        let mut inverted = json;
        inverted["validTo"] = "2020-01-01".into();
        assert!(serde_json::from_value::<TariffLine>(inverted).is_err());
    }

    #[test]
    fn compound_rates_expose_both_parts() {
        let kgm = UnitCode::parse("KGM").unwrap();
        let rate = DutyRate::Compound {
            pct: Percent::new(dec!(3)).unwrap(),
            amount: dec!(100),
            unit: kgm.clone(),
        };
        assert_eq!(rate.ad_valorem().unwrap().value(), dec!(3));
        assert_eq!(rate.specific(), Some((dec!(100), &kgm)));
        let json = serde_json::to_value(&rate).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "compound", "pct": "3", "amount": "100", "unit": "KGM"})
        );
    }
}
