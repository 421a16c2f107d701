//! Duty assessment: customs value, duty and VAT per item and in total, in decimals, with every
//! rate used recorded in the result so that an auditor can recompute it.
//!
//! # The calculation
//!
//! 1. **Additions.** The customs value is the CIF value at the place of importation. A CIF, CIP
//!    or D-term invoice is taken as is (a D-term price also covers carriage after arrival, which
//!    this model does not deduct). CFR and CPT add insurance. EXW, FCA, FAS and FOB add freight
//!    and insurance. For EXW the freight amount must also cover loading at the seller's premises,
//!    inland carriage to the place of export and export clearance costs: the buyer pays them all
//!    and the customs value includes them.
//! 2. **Allocation.** Freight and insurance are declared once for the whole invoice and are
//!    apportioned to the items in proportion to their invoice values (equally when all values are
//!    zero). Every item but the last gets its share truncated to the invoice currency's minor
//!    units; the last item gets the rest, so the shares add up to the declared amount exactly and
//!    none is negative.
//! 3. **Conversion.** Each item's CIF amount in the invoice currency is multiplied by the exchange
//!    rate in force on the filing date (national currency per unit) and rounded by the policy's
//!    customs-value rule. An invoice in the national currency is not converted.
//! 4. **Duty.** Ad valorem: customs value × percentage. Specific: declared quantity × amount per
//!    unit, only when the item is declared in the rate's unit. Compound: both added. A valid
//!    preference claim (the line lists the agreement and the origin is one of its origins)
//!    replaces the ad-valorem percentage; on a purely specific line, which has no percentage,
//!    it replaces the specific duty. The sum is rounded once by the policy's tax rule.
//! 5. **VAT.** (customs value + duty) × VAT percentage, rounded by the tax rule.
//! 6. **Totals** are the sums of the item amounts: nothing is rounded at the total level, so the
//!    totals always equal the sum of the items.
//!
//! Export declarations are not liable to import duty or VAT: they get customs values (the
//! statistical value) and zero taxes; their preference claims and specific-duty units are not
//! checked.

use crate::codes::{
    AgreementCode, CountryCode, CurrencyCode, DeclarationType, HsCode, Incoterm, UnitCode,
};
use crate::money::{Percent, Rounding};
use crate::reference::{DutyRate, ExchangeRate, ReferenceSnapshot};
use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// How amounts in the national currency are rounded. Recorded in every assessment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssessmentPolicy {
    pub national_currency: CurrencyCode,
    /// Rounding of each item's customs value after conversion.
    pub customs_value_rounding: Rounding,
    /// Rounding of each item's duty and VAT.
    pub tax_rounding: Rounding,
}

impl AssessmentPolicy {
    /// Korean practice, national currency KRW (0 minor units): the customs value is truncated to
    /// whole won and duty and VAT are truncated to whole tens of won (fractions of a won in the
    /// taxable value are dropped, and the National Treasury Management Act, Article 47, drops
    /// amounts under 10 won from sums collected by the state). This is why it is truncation, not
    /// ROUND_HALF_UP. Use [`AssessmentPolicy::half_up`] for the generic rule.
    pub fn korea() -> Self {
        Self {
            national_currency: CurrencyCode::krw(),
            customs_value_rounding: Rounding::truncate(0),
            tax_rounding: Rounding::truncate(-1),
        }
    }

    /// ROUND_HALF_UP of value and taxes to the national currency's minor units (KRW: whole won;
    /// EUR: cents).
    pub fn half_up(national_currency: CurrencyCode) -> Self {
        let places = i32::try_from(national_currency.minor_units()).unwrap_or(0);
        Self {
            national_currency,
            customs_value_rounding: Rounding::half_up(places),
            tax_rounding: Rounding::half_up(places),
        }
    }
}

/// What the assessment needs of a declaration (the declaration module builds it).
#[derive(Debug, Clone)]
pub struct AssessmentInput<'a> {
    pub declaration_type: DeclarationType,
    pub incoterm: Incoterm,
    pub invoice_currency: CurrencyCode,
    pub freight: Decimal,
    pub insurance: Decimal,
    pub filing_date: NaiveDate,
    pub items: Vec<ItemInput<'a>>,
}

/// One item as the assessment sees it.
#[derive(Debug, Clone)]
pub struct ItemInput<'a> {
    pub hs_code: &'a HsCode,
    pub origin: CountryCode,
    pub preference_claim: Option<&'a AgreementCode>,
    pub quantity: Decimal,
    pub unit: &'a UnitCode,
    pub invoice_value: Decimal,
}

/// Why a declaration cannot be assessed. Item numbers are 1-based, as printed on declarations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssessmentError {
    #[error("no exchange rate for {currency} is in force on {date}")]
    NoExchangeRate {
        currency: CurrencyCode,
        date: NaiveDate,
    },
    #[error("item {item}: tariff code {hs_code} is not in the tariff schedule in force on {date}")]
    UnknownTariffCode {
        item: usize,
        hs_code: HsCode,
        date: NaiveDate,
    },
    #[error(
        "item {item}: the specific duty is per {required}, but the quantity is declared in {declared}"
    )]
    UnitMismatch {
        item: usize,
        declared: UnitCode,
        required: UnitCode,
    },
    #[error("item {item}: the tariff line has no preferential rate under {agreement}")]
    UnknownAgreement {
        item: usize,
        agreement: AgreementCode,
    },
    #[error("item {item}: origin {origin} does not qualify for {agreement}")]
    OriginNotCovered {
        item: usize,
        agreement: AgreementCode,
        origin: CountryCode,
    },
}

impl AssessmentError {
    /// The stable validation code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoExchangeRate { .. } => "NO_EXCHANGE_RATE",
            Self::UnknownTariffCode { .. } => "UNKNOWN_TARIFF_CODE",
            Self::UnitMismatch { .. } => "UNIT_MISMATCH",
            Self::UnknownAgreement { .. } | Self::OriginNotCovered { .. } => {
                "PREFERENCE_NOT_VALID_FOR_ORIGIN"
            }
        }
    }

    /// The field the error is about, in the filing's camelCase paths (`items[0].hsCode`).
    pub fn path(&self) -> String {
        match self {
            Self::NoExchangeRate { .. } => "header.invoiceCurrency".to_owned(),
            Self::UnknownTariffCode { item, .. } => format!("items[{}].hsCode", item - 1),
            Self::UnitMismatch { item, .. } => format!("items[{}].unit", item - 1),
            Self::UnknownAgreement { item, .. } | Self::OriginNotCovered { item, .. } => {
                format!("items[{}].preferenceClaim", item - 1)
            }
        }
    }
}

/// A preference that was applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedPreference {
    pub agreement: AgreementCode,
    pub pct: Percent,
}

/// The assessment of one item, with every input and rate used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemAssessment {
    /// 1-based item number.
    pub item: usize,
    pub hs_code: HsCode,
    /// Invoice value, allocated freight and allocated insurance, in the invoice currency.
    pub invoice_value: Decimal,
    pub freight: Decimal,
    pub insurance: Decimal,
    /// Customs value in the national currency, rounded.
    pub customs_value: Decimal,
    /// Start of validity of the tariff line used (the line is identified by code and start).
    pub tariff_line_valid_from: NaiveDate,
    /// The line's general duty rate as published.
    pub duty_rate: DutyRate,
    /// The preference applied, if a claim was made (a claim that is not valid is refused before).
    pub preference: Option<AppliedPreference>,
    /// The ad-valorem percentage actually applied (general or preferential), if any.
    pub ad_valorem_pct: Option<Percent>,
    /// Unrounded ad-valorem and specific parts.
    pub ad_valorem_duty: Decimal,
    pub specific_duty: Decimal,
    pub quantity: Decimal,
    pub unit: UnitCode,
    /// Duty, rounded.
    pub duty: Decimal,
    pub vat_pct: Percent,
    pub vat_base: Decimal,
    /// VAT, rounded.
    pub vat: Decimal,
}

/// Declaration totals in the national currency: sums of the items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssessmentTotals {
    pub customs_value: Decimal,
    pub duty: Decimal,
    pub vat: Decimal,
    /// Duty + VAT: the amount to pay.
    pub taxes: Decimal,
}

/// The full assessment of a declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assessment {
    pub declaration_type: DeclarationType,
    pub policy: AssessmentPolicy,
    pub filing_date: NaiveDate,
    pub invoice_currency: CurrencyCode,
    /// The rate used; `None` when the invoice is in the national currency.
    pub exchange_rate: Option<ExchangeRate>,
    pub incoterm: Incoterm,
    pub freight_added: bool,
    pub insurance_added: bool,
    pub items: Vec<ItemAssessment>,
    pub totals: AssessmentTotals,
}

/// Assesses a declaration with the reference data in `reference`. Every error is reported,
/// not just the first.
pub fn assess(
    input: &AssessmentInput<'_>,
    reference: &ReferenceSnapshot,
    policy: &AssessmentPolicy,
) -> Result<Assessment, Vec<AssessmentError>> {
    let mut errors = Vec::new();
    let date = input.filing_date;
    let exchange_rate = if input.invoice_currency == policy.national_currency {
        None
    } else {
        match reference.exchange_rate(input.invoice_currency, date) {
            Some(rate) => Some(rate.clone()),
            None => {
                errors.push(AssessmentError::NoExchangeRate {
                    currency: input.invoice_currency,
                    date,
                });
                None
            }
        }
    };
    let rate = exchange_rate.as_ref().map_or(Decimal::ONE, |r| r.rate);
    let freight_added = input.incoterm.adds_freight();
    let insurance_added = input.incoterm.adds_insurance();
    let values: Vec<Decimal> = input.items.iter().map(|i| i.invoice_value).collect();
    let places = input.invoice_currency.minor_units();
    let freight = allocate(
        if freight_added {
            input.freight
        } else {
            Decimal::ZERO
        },
        &values,
        places,
    );
    let insurance = allocate(
        if insurance_added {
            input.insurance
        } else {
            Decimal::ZERO
        },
        &values,
        places,
    );

    let mut items = Vec::with_capacity(input.items.len());
    for (index, item) in input.items.iter().enumerate() {
        let number = index + 1;
        let cif = item.invoice_value + freight[index] + insurance[index];
        let customs_value = policy.customs_value_rounding.apply(cif * rate);
        match assess_item(number, item, customs_value, input, reference, policy) {
            Ok(mut assessed) => {
                assessed.freight = freight[index];
                assessed.insurance = insurance[index];
                items.push(assessed);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let sum = |f: fn(&ItemAssessment) -> Decimal| items.iter().map(f).sum::<Decimal>();
    let (duty, vat) = (sum(|i| i.duty), sum(|i| i.vat));
    let totals = AssessmentTotals {
        customs_value: sum(|i| i.customs_value),
        duty,
        vat,
        taxes: duty + vat,
    };
    Ok(Assessment {
        declaration_type: input.declaration_type,
        policy: *policy,
        filing_date: date,
        invoice_currency: input.invoice_currency,
        exchange_rate,
        incoterm: input.incoterm,
        freight_added,
        insurance_added,
        items,
        totals,
    })
}

/// Duty and VAT of one item; the caller fills in the allocated freight and insurance.
fn assess_item(
    number: usize,
    item: &ItemInput<'_>,
    customs_value: Decimal,
    input: &AssessmentInput<'_>,
    reference: &ReferenceSnapshot,
    policy: &AssessmentPolicy,
) -> Result<ItemAssessment, Vec<AssessmentError>> {
    let date = input.filing_date;
    let Some(line) = reference.tariff_line(item.hs_code, date) else {
        return Err(vec![AssessmentError::UnknownTariffCode {
            item: number,
            hs_code: item.hs_code.clone(),
            date,
        }]);
    };
    let mut errors = Vec::new();
    // Exports are not liable: their preference claims and specific-duty units are not checked.
    let liable = input.declaration_type == DeclarationType::Import;
    let claim = item.preference_claim.filter(|_| liable);
    let preference = claim.and_then(|agreement| match line.preference(agreement) {
        None => {
            errors.push(AssessmentError::UnknownAgreement {
                item: number,
                agreement: agreement.clone(),
            });
            None
        }
        Some(p) if !p.origins.contains(&item.origin) => {
            errors.push(AssessmentError::OriginNotCovered {
                item: number,
                agreement: agreement.clone(),
                origin: item.origin,
            });
            None
        }
        Some(p) => Some(AppliedPreference {
            agreement: p.agreement.clone(),
            pct: p.pct,
        }),
    });
    let specific = match line.duty.specific().filter(|_| liable) {
        Some((_, unit)) if unit != item.unit => {
            errors.push(AssessmentError::UnitMismatch {
                item: number,
                declared: item.unit.clone(),
                required: unit.clone(),
            });
            None
        }
        // A valid preference on a purely specific line replaces the specific duty.
        Some(_) if preference.is_some() && line.duty.ad_valorem().is_none() => None,
        Some((amount, _)) => Some(amount),
        None => None,
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let ad_valorem_pct = if liable {
        preference
            .as_ref()
            .map(|p| p.pct)
            .or(line.duty.ad_valorem())
    } else {
        None
    };
    let ad_valorem_duty = ad_valorem_pct.map_or(Decimal::ZERO, |pct| pct.of(customs_value));
    let specific_duty = specific.map_or(Decimal::ZERO, |amount| item.quantity * amount);
    let duty = policy.tax_rounding.apply(ad_valorem_duty + specific_duty);
    let vat_pct = if liable { line.vat_pct } else { Percent::ZERO };
    let vat_base = customs_value + duty;
    let vat = policy.tax_rounding.apply(vat_pct.of(vat_base));
    Ok(ItemAssessment {
        item: number,
        hs_code: item.hs_code.clone(),
        invoice_value: item.invoice_value,
        freight: Decimal::ZERO,
        insurance: Decimal::ZERO,
        customs_value,
        tariff_line_valid_from: line.valid_from,
        duty_rate: line.duty.clone(),
        preference,
        ad_valorem_pct,
        ad_valorem_duty,
        specific_duty,
        quantity: item.quantity,
        unit: item.unit.clone(),
        duty,
        vat_pct,
        vat_base,
        vat,
    })
}

/// Apportions `total` to items in proportion to `weights` (equally when they sum to zero):
/// every share but the last truncated to `places` decimals, the last one the rest.
pub fn allocate(total: Decimal, weights: &[Decimal], places: u32) -> Vec<Decimal> {
    let n = weights.len();
    if n == 0 {
        return Vec::new();
    }
    let sum: Decimal = weights.iter().sum();
    let mut shares: Vec<Decimal> = weights[..n - 1]
        .iter()
        .map(|w| {
            let exact = if sum.is_zero() {
                total / Decimal::from(n)
            } else {
                total * *w / sum
            };
            let mut share = exact.round_dp_with_strategy(places, RoundingStrategy::ToZero);
            share.rescale(places);
            share
        })
        .collect();
    let allocated: Decimal = shares.iter().sum();
    shares.push(total - allocated);
    shares
}

#[cfg(test)]
#[path = "duty_tests.rs"]
mod tests;
