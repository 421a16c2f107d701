//! A duty assessment as GraphQL output: per item the customs value, duty and VAT with every rate
//! used, the totals, and the exchange rate used with its validity, so that an auditor can
//! recompute every amount.

use async_graphql::{Enum, Object, SimpleObject};
use chrono::NaiveDate;
use domain::duty::{self, ItemAssessment as Item};
use domain::money::{Rounding as DomainRounding, RoundingMode as DomainRoundingMode};
use domain::reference::DutyRate as DomainDutyRate;

use crate::graphql::scalars::Decimal;

/// Duties and taxes of a declaration version, in the national currency.
#[derive(Debug)]
pub struct Assessment<'a>(pub &'a duty::Assessment);

/// Duties and taxes of a declaration version, in the national currency, with every rate used.
#[Object]
impl Assessment<'_> {
    /// The filing date, whose rates applied.
    async fn filing_date(&self) -> NaiveDate {
        self.0.filing_date
    }

    /// The currency of every assessed amount (ISO 4217).
    async fn national_currency(&self) -> &'static str {
        self.0.policy.national_currency.as_str()
    }

    /// How each item's customs value was rounded after conversion.
    async fn customs_value_rounding(&self) -> Rounding {
        self.0.policy.customs_value_rounding.into()
    }

    /// How each item's duty and VAT were rounded.
    async fn tax_rounding(&self) -> Rounding {
        self.0.policy.tax_rounding.into()
    }

    async fn invoice_currency(&self) -> &'static str {
        self.0.invoice_currency.as_str()
    }

    /// The exchange rate used; null when the invoice is in the national currency.
    async fn exchange_rate(&self) -> Option<ExchangeRate> {
        self.0.exchange_rate.as_ref().map(|rate| ExchangeRate {
            currency: rate.currency.as_str(),
            rate: rate.rate.into(),
            valid_from: rate.valid_from,
            valid_to: rate.valid_to,
        })
    }

    async fn incoterm(&self) -> &'static str {
        self.0.incoterm.as_str()
    }

    /// Whether freight was added to the invoice price (e.g. FOB, EXW).
    async fn freight_added(&self) -> bool {
        self.0.freight_added
    }

    /// Whether insurance was added to the invoice price (e.g. CFR, FOB).
    async fn insurance_added(&self) -> bool {
        self.0.insurance_added
    }

    /// Per item, in item order.
    async fn items(&self) -> Vec<ItemAssessment<'_>> {
        self.0.items.iter().map(ItemAssessment).collect()
    }

    /// The sums of the items (nothing is rounded at the total level).
    async fn totals(&self) -> AssessmentTotals {
        let t = &self.0.totals;
        AssessmentTotals {
            customs_value: t.customs_value.into(),
            duty: t.duty.into(),
            vat: t.vat.into(),
            taxes: t.taxes.into(),
        }
    }
}

/// Declaration totals in the national currency.
#[derive(Debug, SimpleObject)]
pub struct AssessmentTotals {
    pub customs_value: Decimal,
    pub duty: Decimal,
    pub vat: Decimal,
    /// Duty + VAT: the amount to pay.
    pub taxes: Decimal,
}

/// The exchange rate an assessment used: national currency per unit of `currency`, and the
/// period it was in force.
#[derive(Debug, SimpleObject)]
pub struct ExchangeRate {
    pub currency: &'static str,
    pub rate: Decimal,
    pub valid_from: NaiveDate,
    /// Null when open-ended.
    pub valid_to: Option<NaiveDate>,
}

/// How digits beyond the kept ones are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "domain::money::RoundingMode")]
pub enum RoundingMode {
    /// Half away from zero: 0.5 → 1.
    HalfUp,
    /// Toward zero: 0.99 → 0.
    Truncate,
}

/// A rounding rule: negative decimal places round to tens, hundreds, …
#[derive(Debug, SimpleObject)]
pub struct Rounding {
    pub mode: RoundingMode,
    pub decimal_places: i32,
}

impl From<DomainRounding> for Rounding {
    fn from(rounding: DomainRounding) -> Self {
        let mode: DomainRoundingMode = rounding.mode;
        Self {
            mode: mode.into(),
            decimal_places: rounding.decimal_places,
        }
    }
}

/// The assessment of one item, with every input and rate used.
#[derive(Debug)]
pub struct ItemAssessment<'a>(&'a Item);

/// The assessment of one item, with every input and rate used.
#[Object]
impl ItemAssessment<'_> {
    /// 1-based item number.
    async fn item(&self) -> i32 {
        i32::try_from(self.0.item).unwrap_or(i32::MAX)
    }
    async fn hs_code(&self) -> &str {
        self.0.hs_code.as_str()
    }
    /// Invoice value, in the invoice currency.
    async fn invoice_value(&self) -> Decimal {
        self.0.invoice_value.into()
    }
    /// The share of freight added, in the invoice currency.
    async fn freight(&self) -> Decimal {
        self.0.freight.into()
    }
    /// The share of insurance added, in the invoice currency.
    async fn insurance(&self) -> Decimal {
        self.0.insurance.into()
    }
    /// CIF value converted to the national currency, rounded.
    async fn customs_value(&self) -> Decimal {
        self.0.customs_value.into()
    }
    /// Start of validity of the tariff line used.
    async fn tariff_line_valid_from(&self) -> NaiveDate {
        self.0.tariff_line_valid_from
    }
    /// The line's general duty rate as published.
    async fn duty_rate(&self) -> DutyRate {
        (&self.0.duty_rate).into()
    }
    /// The preference applied, when one was claimed.
    async fn preference(&self) -> Option<AppliedPreference> {
        self.0.preference.as_ref().map(|p| AppliedPreference {
            agreement: p.agreement.as_str().to_owned(),
            pct: p.pct.into(),
        })
    }
    /// The ad-valorem percentage applied (general or preferential), if any.
    async fn ad_valorem_pct(&self) -> Option<Decimal> {
        self.0.ad_valorem_pct.map(Decimal::from)
    }
    /// Ad-valorem part of the duty, before rounding.
    async fn ad_valorem_duty(&self) -> Decimal {
        self.0.ad_valorem_duty.into()
    }
    /// Specific part of the duty, before rounding.
    async fn specific_duty(&self) -> Decimal {
        self.0.specific_duty.into()
    }
    async fn quantity(&self) -> Decimal {
        self.0.quantity.into()
    }
    async fn unit(&self) -> &str {
        self.0.unit.as_str()
    }
    /// Duty, rounded.
    async fn duty(&self) -> Decimal {
        self.0.duty.into()
    }
    async fn vat_pct(&self) -> Decimal {
        self.0.vat_pct.into()
    }
    /// Customs value + duty.
    async fn vat_base(&self) -> Decimal {
        self.0.vat_base.into()
    }
    /// VAT, rounded.
    async fn vat(&self) -> Decimal {
        self.0.vat.into()
    }
}

/// How a tariff line's duty is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum DutyRateKind {
    /// A percentage of the customs value.
    AdValorem,
    /// An amount per unit of quantity.
    Specific,
    /// Both, added together.
    Compound,
}

/// A duty rate: `pct` for ad-valorem and compound, `amount` per `unit` for specific and
/// compound.
#[derive(Debug, SimpleObject)]
pub struct DutyRate {
    pub kind: DutyRateKind,
    pub pct: Option<Decimal>,
    pub amount: Option<Decimal>,
    pub unit: Option<String>,
}

impl From<&DomainDutyRate> for DutyRate {
    fn from(rate: &DomainDutyRate) -> Self {
        let kind = match rate {
            DomainDutyRate::AdValorem { .. } => DutyRateKind::AdValorem,
            DomainDutyRate::Specific { .. } => DutyRateKind::Specific,
            DomainDutyRate::Compound { .. } => DutyRateKind::Compound,
        };
        let specific = rate.specific();
        Self {
            kind,
            pct: rate.ad_valorem().map(Decimal::from),
            amount: specific.map(|(amount, _)| amount.into()),
            unit: specific.map(|(_, unit)| unit.as_str().to_owned()),
        }
    }
}

/// A preferential rate that replaced the general one.
#[derive(Debug, SimpleObject)]
pub struct AppliedPreference {
    /// The agreement, e.g. `FCN1`.
    pub agreement: String,
    pub pct: Decimal,
}
