//! The generator: one declaration after another from the content stream, a mistake put into
//! some of them from the mistakes stream.

use domain::codes::CountryCode;
use domain::declaration::{RawFiling, RawHeader, RawItem};
use rust_decimal::{Decimal, RoundingStrategy};

use super::catalog::{Catalog, importer_id, local_currency};
use super::draw::{Draw, mass, money};
use super::tables::{AIR_INCOTERMS, ITEM_COUNT_ENDS, SEA_INCOTERMS};
use super::{DemoConfig, Generated, InvalidKind, mistakes};

/// Generates declarations; an iterator of [`Generated`].
#[derive(Debug)]
pub struct Generator<'a> {
    catalog: &'a Catalog,
    config: DemoConfig,
    content: Draw,
    mistakes: Draw,
    /// A declaration is spoilt when a 53-bit draw falls below this.
    threshold: u64,
    next: u64,
}

impl<'a> Generator<'a> {
    pub fn new(catalog: &'a Catalog, config: DemoConfig) -> Self {
        // The product is within 0..=2^53, exact in f64; the cast saturates anyway.
        let threshold = (config.invalid_rate.clamp(0.0, 1.0) * (1u64 << 53) as f64) as u64;
        Self {
            catalog,
            content: Draw::new(config.seed),
            mistakes: Draw::new(config.seed ^ 0x6d69_7374_616b_6573),
            threshold,
            next: 1,
            config,
        }
    }

    /// Declaration `n`, valid, and the catalogue index of each item's tariff line.
    fn declaration(&mut self, n: u64) -> (RawFiling, Vec<usize>) {
        let (c, d) = (self.catalog, &mut self.content);
        let &(mode, office) = c.mode_office.pick(d);
        let origin = *c.origins.pick(d);
        let dispatch = if d.per_mille(800) {
            origin
        } else {
            *c.dispatch_elsewhere.pick(d)
        };
        let (code, currency, rate) = c.currency(local_currency(d, dispatch.as_str()));
        let places = currency.minor_units();
        let count = match self.config.items {
            Some(n) => usize::from(n),
            None => {
                let x = d.below(100);
                1 + ITEM_COUNT_ENDS.partition_point(|&end| end <= x)
            }
        };
        let (mut items, mut lines) = (Vec::with_capacity(count), Vec::with_capacity(count));
        let mut total = Decimal::ZERO;
        for i in 0..count {
            // Most invoices come from one supplier: the first item's origin, mostly.
            let item_origin = if i == 0 || d.per_mille(850) {
                origin
            } else {
                *c.origins.pick(d)
            };
            let (item, line, value) = item(c, d, item_origin, rate, places);
            total += value;
            items.push(item);
            lines.push(line);
        }
        let sea = mode == "10";
        let incoterm = *d.pick(if sea { &SEA_INCOTERMS } else { &AIR_INCOTERMS });
        let freight_per_mille = if sea {
            d.between(20, 80)
        } else {
            d.between(50, 150)
        };
        let freight = money(total * Decimal::new(freight_per_mille as i64, 3), places);
        let insurance_per_10k = d.between(5, 30) as i64;
        let insurance = money(
            (total + freight) * Decimal::new(insurance_per_10k, 4),
            places,
        );
        // What the price leaves out (Incoterm::adds_freight, Incoterm::adds_insurance).
        let (adds_freight, adds_insurance) = match incoterm {
            "EXW" | "FCA" | "FOB" => (true, true),
            "CFR" | "CPT" => (false, true),
            _ => (false, false),
        };
        let header = RawHeader {
            declaration_type: Some("import".to_owned()),
            lrn: Some(format!("DEMO-{}-{n:06}", self.config.seed)),
            declarant: Some(self.config.declarant.clone()),
            importer: Some(importer_id(d)),
            exporter: None,
            customs_office: Some(office.to_owned()),
            transport_mode: Some(mode.to_owned()),
            dispatch_country: Some(dispatch.as_str().to_owned()),
            incoterm: Some(incoterm.to_owned()),
            invoice_currency: Some(code.to_owned()),
            invoice_amount: Some(total.to_string()),
            freight: adds_freight.then(|| freight.to_string()),
            insurance: adds_insurance.then(|| insurance.to_string()),
        };
        (RawFiling { header, items }, lines)
    }
}

/// One item of goods from `origin`: the item, its line's catalogue index and its invoice value
/// (`rate` KRW per unit of the invoice currency, which has `places` minor digits).
fn item(
    c: &Catalog,
    d: &mut Draw,
    origin: CountryCode,
    rate: Decimal,
    places: u32,
) -> (RawItem, usize, Decimal) {
    let index = *c.by_line.pick(d);
    let line = &c.lines[index];
    let krw = d.price_krw();
    let value = money(Decimal::from(krw) / rate, places);
    let density = d.log_uniform(line.goods.density());
    let net = mass(Decimal::from(krw) / Decimal::from(density));
    let packing = Decimal::new(1000 + d.between(10, 250) as i64, 3);
    let gross = (net * packing)
        .round_dp_with_strategy(net.scale(), RoundingStrategy::AwayFromZero)
        .normalize();
    let quantity = match line.unit {
        "H87" | "PR" => Decimal::from((krw / d.log_uniform(line.goods.piece_price())).max(1)),
        _ => net,
    };
    let claim = line.best_claim(origin).filter(|_| d.per_mille(565));
    let item = RawItem {
        hs_code: Some(line.tariff.hs_code.to_string()),
        description: Some(line.description.clone()),
        origin_country: Some(origin.as_str().to_owned()),
        preference_claim: claim.map(str::to_owned),
        quantity: Some(quantity.to_string()),
        unit: Some(line.unit.to_owned()),
        net_mass: Some(net.to_string()),
        gross_mass: Some(gross.to_string()),
        invoice_value: Some(value.to_string()),
    };
    (item, index, value)
}

impl Iterator for Generator<'_> {
    type Item = Generated;

    fn next(&mut self) -> Option<Generated> {
        let n = self.next;
        if n > self.config.declarations {
            return None;
        }
        self.next += 1;
        let (mut filing, lines) = self.declaration(n);
        let invalid_kind = if self.mistakes.next53() < self.threshold {
            let kind = *self.mistakes.pick(&InvalidKind::ALL);
            Some(mistakes::spoil(
                self.catalog,
                &mut self.mistakes,
                kind,
                &mut filing,
                &lines,
            ))
        } else {
            None
        };
        Some(Generated {
            filing,
            invalid_kind,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.config.declarations + 1 - self.next).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}
