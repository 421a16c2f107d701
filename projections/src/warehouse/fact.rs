//! The warehouse's facts: one row per goods item of an accepted declaration, with every
//! dimension's levels and the measures as scaled integers (exact sums on both backends).
//!
//! A declaration is staged ([`Pending`]) from its filing until it is accepted, following
//! amendments, the risk lane and the duty assessment of each version. Acceptance writes the
//! items' facts as revision 1. A post-clearance correction closes the current revision (sets
//! its `valid_to`) and writes the next one with the correction's additional tax and drawback
//! apportioned to the items; so the current revision is the latest truth and a query as of a
//! past instant reads the revision valid then. A declaration is never counted twice.

use chrono::{DateTime, NaiveDate, Utc};
use domain::Decimal;
use domain::codes::DeclarationType;
use domain::declaration::DeclarationData;
use domain::duty::Assessment;
use rust_decimal::RoundingStrategy;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::level::{AuditOutcomeCode, date_keys, region_of, section_of};

/// Money is kept to 0.01 of the national currency.
pub const MONEY_SCALE: u32 = 2;
/// Net mass (kg) and quantity are kept to 0.001.
pub const MASS_SCALE: u32 = 3;

/// `value` rounded half away from zero to `scale` decimals, as an integer count of 10^-scale;
/// `None` when it does not fit 64 bits.
pub fn scaled(value: Decimal, scale: u32) -> Option<i64> {
    let mut rounded = value.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(scale);
    (rounded.scale() == scale)
        .then(|| i64::try_from(rounded.mantissa()).ok())
        .flatten()
}

/// An integer count of 10^-scale as a decimal.
pub fn unscaled(value: i128, scale: u32) -> Decimal {
    Decimal::try_from_i128_with_scale(value, scale).unwrap_or(Decimal::MAX)
}

/// What the warehouse keeps of a declaration until it is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Pending {
    /// The data version (1 when filed, +1 per amendment).
    pub version: u32,
    pub filing_date: NaiveDate,
    pub regime: String,
    pub trader: String,
    pub declarant: String,
    pub office: String,
    pub transport_mode: String,
    pub dispatch: String,
    pub items: Vec<PendingItem>,
    /// The lane of `version`, once assessed.
    pub lane: Option<String>,
    /// The amounts of `version`, once assessed.
    pub amounts: Option<Vec<ItemAmounts>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PendingItem {
    pub hs_line: String,
    pub origin: String,
    pub net_mass: Decimal,
    pub quantity: Decimal,
}

/// An item's assessed amounts in the national currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ItemAmounts {
    pub customs_value: Decimal,
    pub duty: Decimal,
    pub vat: Decimal,
    /// The invoice value converted at the assessment's exchange rate.
    pub invoice_value: Decimal,
    /// The preference applied, else `none`.
    pub preference: String,
}

impl Pending {
    /// A filed or amended version's data, not yet assessed.
    pub fn of(version: u32, data: &DeclarationData) -> Self {
        let h = &data.header;
        Self {
            version,
            filing_date: h.filing_date,
            regime: match h.declaration_type {
                DeclarationType::Import => "import",
                DeclarationType::Export => "export",
            }
            .to_owned(),
            trader: data
                .trader()
                .map_or_else(|| "unknown".to_owned(), |p| p.as_str().to_owned()),
            declarant: h.declarant.as_str().to_owned(),
            office: h.customs_office.as_str().to_owned(),
            transport_mode: h.transport_mode.to_string(),
            dispatch: h.dispatch_country.as_str().to_owned(),
            items: data
                .items
                .iter()
                .map(|i| PendingItem {
                    hs_line: i.hs_code.as_str().to_owned(),
                    origin: i.origin_country.as_str().to_owned(),
                    net_mass: i.net_mass,
                    quantity: i.quantity,
                })
                .collect(),
            lane: None,
            amounts: None,
        }
    }

    /// Records the assessment of this version.
    pub fn assessed(&mut self, assessment: &Assessment) {
        let rate = assessment
            .exchange_rate
            .as_ref()
            .map_or(Decimal::ONE, |r| r.rate);
        self.amounts = Some(
            assessment
                .items
                .iter()
                .map(|i| ItemAmounts {
                    customs_value: i.customs_value,
                    duty: i.duty,
                    vat: i.vat,
                    invoice_value: i.invoice_value * rate,
                    preference: i
                        .preference
                        .as_ref()
                        .map_or_else(|| "none".to_owned(), |p| p.agreement.as_str().to_owned()),
                })
                .collect(),
        );
    }

    /// The facts of this version, accepted at `at` (revision 1).
    pub fn accept(&self, declaration_id: Uuid, at: DateTime<Utc>) -> Result<Vec<Fact>, String> {
        let lane = self
            .lane
            .clone()
            .ok_or("accepted before any risk assessment of its version")?;
        let amounts = self
            .amounts
            .as_ref()
            .ok_or("accepted before any duty assessment of its version")?;
        if amounts.len() != self.items.len() {
            return Err(format!(
                "the assessment has {} items, the declaration {}",
                amounts.len(),
                self.items.len()
            ));
        }
        let dates = date_keys(self.filing_date);
        self.items
            .iter()
            .zip(amounts)
            .enumerate()
            .map(|(index, (item, amounts))| {
                let money = |name: &str, value: Decimal| {
                    scaled(value, MONEY_SCALE).ok_or_else(|| format!("{name} {value} is too large"))
                };
                let mass = |name: &str, value: Decimal| {
                    scaled(value, MASS_SCALE).ok_or_else(|| format!("{name} {value} is too large"))
                };
                Ok(Fact {
                    declaration_id,
                    line: u32::try_from(index + 1).unwrap_or(u32::MAX),
                    revision: 1,
                    valid_from: micros(at),
                    valid_to: None,
                    dates,
                    hs_line: item.hs_line.clone(),
                    origin: item.origin.clone(),
                    dispatch: self.dispatch.clone(),
                    trader: self.trader.clone(),
                    declarant: self.declarant.clone(),
                    office: self.office.clone(),
                    transport_mode: self.transport_mode.clone(),
                    lane: lane.clone(),
                    regime: self.regime.clone(),
                    preference: amounts.preference.clone(),
                    audit_outcome: AuditOutcomeCode::None.as_str().to_owned(),
                    customs_value: money("customs value", amounts.customs_value)?,
                    duty: money("duty", amounts.duty)?,
                    vat: money("VAT", amounts.vat)?,
                    additional_tax: 0,
                    drawback: 0,
                    invoice_value: money("invoice value", amounts.invoice_value)?,
                    net_mass: mass("net mass", item.net_mass)?,
                    quantity: mass("quantity", item.quantity)?,
                })
            })
            .collect()
    }
}

/// One row of `warehouse_facts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub declaration_id: Uuid,
    /// The item's line, from 1.
    pub line: u32,
    /// 1 at acceptance, +1 per correction.
    pub revision: u32,
    /// Microseconds since the Unix epoch: when this revision became the truth, and when it
    /// stopped being it (`None`: it still is).
    pub valid_from: i64,
    pub valid_to: Option<i64>,
    /// Day, ISO week, month, quarter, year (see [`date_keys`]).
    pub dates: [i64; 5],
    pub hs_line: String,
    pub origin: String,
    pub dispatch: String,
    pub trader: String,
    pub declarant: String,
    pub office: String,
    pub transport_mode: String,
    pub lane: String,
    pub regime: String,
    pub preference: String,
    pub audit_outcome: String,
    /// In 10^-[`MONEY_SCALE`] of the national currency.
    pub customs_value: i64,
    pub duty: i64,
    pub vat: i64,
    pub additional_tax: i64,
    pub drawback: i64,
    pub invoice_value: i64,
    /// In 10^-[`MASS_SCALE`].
    pub net_mass: i64,
    pub quantity: i64,
}

impl Fact {
    pub fn hs_chapter(&self) -> &str {
        self.hs_line.get(..2).unwrap_or_default()
    }

    pub fn hs_heading(&self) -> &str {
        self.hs_line.get(..4).unwrap_or_default()
    }

    pub fn hs_subheading(&self) -> &str {
        self.hs_line.get(..6).unwrap_or_default()
    }

    pub fn hs_section(&self) -> i64 {
        section_of(self.hs_chapter())
    }

    pub fn origin_region(&self) -> &'static str {
        region_of(&self.origin)
    }
}

/// The next revision of a declaration's current facts after a correction at `at` that adds
/// `additional_tax` and refunds `drawback`. The declaration's cumulative amounts are
/// apportioned to its items by customs value ([`domain::duty::allocate`]).
pub(crate) fn corrected(
    current: &[Fact],
    additional_tax: Decimal,
    drawback: Decimal,
    at: DateTime<Utc>,
) -> Result<Vec<Fact>, String> {
    let add = scaled(additional_tax, MONEY_SCALE).ok_or("the additional tax is too large")?;
    let back = scaled(drawback, MONEY_SCALE).ok_or("the drawback is too large")?;
    let total = |f: fn(&Fact) -> i64| current.iter().map(|x| i128::from(f(x))).sum::<i128>();
    let total_add = total(|f| f.additional_tax) + i128::from(add);
    let total_back = total(|f| f.drawback) + i128::from(back);
    let weights: Vec<Decimal> = current
        .iter()
        .map(|f| Decimal::from(f.customs_value))
        .collect();
    let share = |amount: i128| -> Result<Vec<i64>, String> {
        let amount = Decimal::try_from_i128_with_scale(amount, 0)
            .map_err(|_| "the corrected amounts are too large".to_owned())?;
        domain::duty::allocate(amount, &weights, 0)
            .into_iter()
            .map(|s| i64::try_from(s.mantissa()).map_err(|_| "a share is too large".to_owned()))
            .collect()
    };
    let (adds, backs) = (share(total_add)?, share(total_back)?);
    let outcome = AuditOutcomeCode::of(total_add != 0, total_back != 0);
    Ok(current
        .iter()
        .zip(adds.into_iter().zip(backs))
        .map(|(fact, (add, back))| Fact {
            revision: fact.revision + 1,
            valid_from: micros(at),
            valid_to: None,
            additional_tax: add,
            drawback: back,
            audit_outcome: outcome.as_str().to_owned(),
            ..fact.clone()
        })
        .collect())
}

/// Microseconds since the Unix epoch.
pub fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}
