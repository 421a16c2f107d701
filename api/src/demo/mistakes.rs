//! The mistakes of invalid lines: one per line, put into a valid filing.

use domain::codes::CountryCode;
use domain::declaration::RawFiling;
use rust_decimal::{Decimal, RoundingStrategy};

use super::InvalidKind;
use super::catalog::Catalog;
use super::draw::Draw;

/// Puts one mistake of `kind` into a valid filing; returns the kind made (a `NoExchangeRate`
/// becomes `UnknownCurrency` when every currency has a rate).
pub(super) fn spoil(
    c: &Catalog,
    d: &mut Draw,
    kind: InvalidKind,
    f: &mut RawFiling,
    lines: &[usize],
) -> InvalidKind {
    let i = d.below(f.items.len() as u64) as usize;
    let line = &c.lines[lines[i]];
    let amount = |s: &Option<String>| -> Decimal {
        s.as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or_default()
    };
    if kind == InvalidKind::InvoiceTotalMismatch {
        let total = amount(&f.header.invoice_amount);
        let freight = amount(&f.header.freight);
        let wrong = match f.items.last() {
            // The last item forgotten.
            Some(last) if f.items.len() > 1 => total - amount(&last.invoice_value),
            // The freight added.
            _ if !freight.is_zero() => total + freight,
            _ => total + (total / Decimal::TEN).round_dp(0).max(Decimal::ONE),
        };
        f.header.invoice_amount = Some(wrong.to_string());
        return kind;
    }
    let (h, item) = (&mut f.header, &mut f.items[i]);
    match kind {
        InvalidKind::UnknownTariffCode => {
            let hs6 = line.tariff.hs_code.subheading();
            let wrong = ["9999", "9000", "1090", "0090"]
                .iter()
                .map(|national| format!("{hs6}{national}"))
                .find(|code| !c.codes.contains(code));
            item.hs_code = Some(wrong.unwrap_or_else(|| "0000000000".to_owned()));
        }
        InvalidKind::InvalidCountry => {
            let wrong = *d.pick(&["UK", "EU", "XK", "CHN", "KO"]);
            let field = if d.per_mille(500) {
                &mut h.dispatch_country
            } else {
                &mut item.origin_country
            };
            set(field, wrong);
        }
        InvalidKind::NetMassExceedsGross => {
            let net = amount(&item.net_mass);
            let gross = (net * Decimal::new(9, 1))
                .round_dp_with_strategy(net.scale(), RoundingStrategy::ToZero);
            item.gross_mass = Some(gross.normalize().to_string());
        }
        InvalidKind::UnknownCurrency => {
            let wrong = *d.pick(&["RMB", "NTD", "YEN", "EURO", "US$"]);
            set(&mut h.invoice_currency, wrong);
        }
        InvalidKind::NoExchangeRate => {
            if c.without_rate.is_empty() {
                set(&mut h.invoice_currency, "RMB");
                return InvalidKind::UnknownCurrency;
            }
            h.invoice_currency = Some(d.pick(&c.without_rate).to_string());
        }
        InvalidKind::MissingField => {
            let field = match d.below(10) {
                0 => &mut h.importer,
                1 => &mut h.customs_office,
                2 => &mut h.incoterm,
                3 => &mut h.invoice_amount,
                4 => &mut item.hs_code,
                5 => &mut item.description,
                6 => &mut item.origin_country,
                7 => &mut item.unit,
                8 => &mut item.net_mass,
                _ => &mut item.invoice_value,
            };
            *field = None;
        }
        InvalidKind::PreferenceNotValidForOrigin => {
            let origin = item.origin_country.as_deref().map(CountryCode::parse);
            let prefs = &line.tariff.preferences;
            let excluded = prefs
                .iter()
                .find(|p| !matches!(origin, Some(Ok(o)) if p.origins.contains(&o)));
            let claim = match excluded {
                Some(p) => p.agreement.as_str(),
                // Not on the line: FCN1 is for CN only and FUS1 for US and PR, so the origin
                // never qualifies for both and a line that has both has one excluding it.
                None => ["FCN1", "FUS1", "FEU1", "FAS1", "FVN1"]
                    .into_iter()
                    .find(|a| prefs.iter().all(|p| p.agreement.as_str() != *a))
                    .unwrap_or("FCN1"),
            };
            set(&mut item.preference_claim, claim);
        }
        InvalidKind::NegativeAmount => {
            let field = match d.below(3) {
                0 if h.freight.is_some() => &mut h.freight,
                1 => &mut item.quantity,
                _ => &mut item.invoice_value,
            };
            let negative = match field.as_deref() {
                Some(v) if !amount(field).is_zero() => format!("-{v}"),
                _ => "-1".to_owned(),
            };
            *field = Some(negative);
        }
        InvalidKind::InvalidUnit => {
            // A line with a specific duty wants its own unit: a listed wrong one would also be
            // UNIT_MISMATCH, so it gets one that is not a unit code at all.
            let wrong = if line.tariff.duty.specific().is_some() {
                "kg"
            } else {
                *d.pick(&["NMB", "PCE", "PCS"])
            };
            set(&mut item.unit, wrong);
        }
        InvalidKind::InvoiceTotalMismatch => {}
    }
    kind
}

fn set(field: &mut Option<String>, value: &str) {
    *field = Some(value.to_owned());
}
