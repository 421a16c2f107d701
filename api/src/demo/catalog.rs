//! The reference data in force on the filing date, arranged for drawing: tariff lines weighted
//! like the KCS data, countries, offices, exchange rates; and the kinds of goods.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use commands::reference::sample_events;
use domain::codes::{CountryCode, CurrencyCode, UnitCode};
use domain::declaration::MAX_DESCRIPTION_CHARS;
use domain::reference::{ReferenceEvent, ReferenceSnapshot, TariffLine};
use rust_decimal::Decimal;

use super::DemoError;
use super::draw::{Draw, Weighted, counts};
use super::tables::{
    CHAPTERS_REST, DISPATCH_ELSEWHERE, HS6_TOP, IMPORTERS, LOCAL_CURRENCY, MODE_OFFICE,
    NO_RATE_CURRENCIES, ORIGINS,
};

/// The reference data in force on one date, arranged for drawing.
#[derive(Debug)]
pub struct Catalog {
    pub(super) lines: Vec<CatalogLine>,
    pub(super) codes: HashSet<String>,
    pub(super) by_line: Weighted<usize>,
    pub(super) origins: Weighted<CountryCode>,
    pub(super) dispatch_elsewhere: Weighted<CountryCode>,
    pub(super) mode_office: Weighted<(&'static str, &'static str)>,
    /// KRW per unit of each currency with a rate in force (KRW itself: 1).
    rates: HashMap<&'static str, (CurrencyCode, Decimal)>,
    /// ISO currencies with minor units and no rate in force.
    pub(super) without_rate: Vec<&'static str>,
}

#[derive(Debug)]
pub(super) struct CatalogLine {
    pub(super) tariff: TariffLine,
    pub(super) description: String,
    pub(super) goods: Goods,
    pub(super) unit: &'static str,
}

impl Catalog {
    /// The catalogue of the sample reference data shipped with aduana.
    pub fn sample(date: NaiveDate) -> Result<Self, DemoError> {
        let events = sample_events().map_err(|errors| {
            DemoError::Sample(errors.first().map_or_else(String::new, ToString::to_string))
        })?;
        Self::from_events(&events, date)
    }

    /// The catalogue of the given reference data on `date`.
    pub fn from_events(events: &[ReferenceEvent], date: NaiveDate) -> Result<Self, DemoError> {
        let snapshot = ReferenceSnapshot::from_events(events);
        let mut lines = Vec::new();
        let mut codes = HashSet::new();
        let mut rates = HashMap::from([("KRW", (CurrencyCode::krw(), Decimal::ONE))]);
        for event in events {
            match event {
                ReferenceEvent::TariffLinePublished(e) => {
                    let code = &e.0.hs_code;
                    if codes.contains(code.as_str()) {
                        continue;
                    }
                    if let Some(tariff) = snapshot.tariff_line(code, date) {
                        codes.insert(code.as_str().to_owned());
                        lines.push(CatalogLine::new(tariff.clone()));
                    }
                }
                ReferenceEvent::ExchangeRatePublished(e) => {
                    let c = e.0.currency;
                    if let Some(rate) = snapshot.exchange_rate(c, date) {
                        rates.insert(c.as_str(), (c, rate.rate));
                    }
                }
                _ => {}
            }
        }
        lines.sort_by(|a, b| a.tariff.hs_code.cmp(&b.tariff.hs_code));
        for unit in ["KGM", "LTR", "H87", "PR"] {
            if !UnitCode::parse(unit).is_ok_and(|u| snapshot.is_known_unit(&u)) {
                return Err(DemoError::UnknownUnit(unit));
            }
        }
        let countries = |table| {
            Weighted::new(counts(table).filter_map(|(c, n)| Some((CountryCode::parse(c).ok()?, n))))
        };
        let mode_office =
            counts(MODE_OFFICE).filter_map(|(pair, n)| Some((pair.split_once('/')?, n)));
        let without_rate = NO_RATE_CURRENCIES
            .into_iter()
            .filter(|c| CurrencyCode::parse(c).is_ok_and(|c| c.minor_units() >= 2))
            .filter(|c| !rates.contains_key(c))
            .collect();
        let catalog = Self {
            by_line: line_weights(&lines),
            codes,
            lines,
            origins: countries(ORIGINS),
            dispatch_elsewhere: countries(DISPATCH_ELSEWHERE),
            mode_office: Weighted::new(mode_office),
            rates,
            without_rate,
        };
        // `Weighted::pick` needs at least one value.
        if catalog.by_line.is_empty() {
            return Err(DemoError::NoTariff(date));
        }
        if catalog.origins.is_empty()
            || catalog.dispatch_elsewhere.is_empty()
            || catalog.mode_office.is_empty()
        {
            return Err(DemoError::EmptyTable);
        }
        Ok(catalog)
    }

    /// The rate of `code` on the date, else of USD, else KRW.
    pub(super) fn currency(&self, code: &str) -> (&'static str, CurrencyCode, Decimal) {
        [code, "USD", "KRW"]
            .into_iter()
            .find_map(|c| self.rates.get_key_value(c))
            .map_or(("KRW", CurrencyCode::krw(), Decimal::ONE), |(k, (c, r))| {
                (k, *c, *r)
            })
    }
}

/// Weights of the tariff lines: KCS frequency of the top HS6 codes, then of the chapters.
fn line_weights(lines: &[CatalogLine]) -> Weighted<usize> {
    const SCALE: u64 = 1_000_000;
    let mut by_subheading: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        by_subheading
            .entry(line.tariff.hs_code.subheading())
            .or_default()
            .push(i);
    }
    let mut weights = Vec::new();
    let mut top = HashSet::new();
    for (hs6, n) in counts(HS6_TOP) {
        top.insert(hs6);
        let same = by_subheading.get(hs6).map_or(&[][..], Vec::as_slice);
        weights.extend(same.iter().map(|&i| (i, n * SCALE / same.len() as u64)));
    }
    for (chapter, n) in counts(CHAPTERS_REST) {
        let rest: Vec<usize> = (0..lines.len())
            .filter(|&i| {
                let code = &lines[i].tariff.hs_code;
                code.chapter() == chapter && !top.contains(code.subheading())
            })
            .collect();
        weights.extend(rest.iter().map(|&i| (i, n * SCALE / rest.len() as u64)));
    }
    Weighted::new(weights)
}

impl CatalogLine {
    fn new(tariff: TariffLine) -> Self {
        let chapter = tariff.hs_code.chapter().parse().unwrap_or(0);
        let goods = Goods::of_chapter(chapter);
        let unit = match tariff.duty.specific() {
            Some((_, u)) if u.as_str() == "KGM" => "KGM",
            _ => goods.unit(),
        };
        Self {
            description: description(&tariff.description),
            tariff,
            goods,
            unit,
        }
    }

    /// The agreement with the lowest rate that goods of `origin` qualify for.
    pub(super) fn best_claim(&self, origin: CountryCode) -> Option<&str> {
        let qualifying = self
            .tariff
            .preferences
            .iter()
            .filter(|p| p.origins.contains(&origin));
        qualifying
            .min_by_key(|p| p.pct.value())
            .map(|p| p.agreement.as_str())
    }
}

/// The tariff text as the goods description (at most 255 characters in the sample; validation
/// allows 512), without the sample's "HS 2017 subheading" note.
fn description(text: &str) -> String {
    let text = text.split("; HS 2017 subheading").next().unwrap_or(text);
    text.chars().take(MAX_DESCRIPTION_CHARS).collect()
}

/// Kinds of goods: value density (KRW per kg, `lo` and doublings above it), unit, and for
/// goods counted in pieces the price of one piece.
#[derive(Debug, Clone, Copy)]
pub(super) enum Goods {
    Bulk,
    Beverage,
    Industrial,
    Pharma,
    Textile,
    Apparel,
    Footwear,
    Jewellery,
    Machinery,
    Vehicle,
    Consumer,
}

impl Goods {
    fn of_chapter(chapter: u8) -> Self {
        match chapter {
            22 => Self::Beverage,
            1..=27 | 31 => Self::Bulk,
            30 | 33 => Self::Pharma,
            50..=60 => Self::Textile,
            42 | 43 | 61..=63 | 65..=67 => Self::Apparel,
            64 => Self::Footwear,
            71 => Self::Jewellery,
            84 | 85 | 90..=92 => Self::Machinery,
            86..=89 => Self::Vehicle,
            93..=97 => Self::Consumer,
            _ => Self::Industrial,
        }
    }

    pub(super) fn density(self) -> (u64, u32) {
        match self {
            Self::Bulk => (300, 6),
            Self::Beverage => (1_000, 6),
            Self::Industrial => (800, 7),
            Self::Pharma => (10_000, 7),
            Self::Textile => (2_000, 5),
            Self::Apparel => (15_000, 5),
            Self::Footwear => (10_000, 5),
            Self::Jewellery => (100_000, 9),
            Self::Machinery => (10_000, 7),
            Self::Vehicle => (5_000, 5),
            Self::Consumer => (5_000, 5),
        }
    }

    pub(super) fn unit(self) -> &'static str {
        match self {
            Self::Bulk | Self::Industrial | Self::Pharma | Self::Textile => "KGM",
            Self::Beverage => "LTR",
            Self::Footwear => "PR",
            _ => "H87",
        }
    }

    pub(super) fn piece_price(self) -> (u64, u32) {
        match self {
            Self::Apparel => (5_000, 5),
            Self::Footwear => (10_000, 5),
            Self::Jewellery => (30_000, 8),
            Self::Machinery => (10_000, 9),
            Self::Vehicle => (20_000, 9),
            _ => (3_000, 8),
        }
    }
}

/// The dispatch country's own currency as often as [`LOCAL_CURRENCY`] says, else KRW (5 %) or
/// USD.
pub(super) fn local_currency(d: &mut Draw, dispatch: &str) -> &'static str {
    let local = LOCAL_CURRENCY
        .iter()
        .find(|(country, _, _)| *country == dispatch);
    match local {
        Some(&(_, currency, per_mille)) if d.per_mille(per_mille) => currency,
        _ if d.per_mille(50) => "KRW",
        _ => "USD",
    }
}

/// One of [`IMPORTERS`] importer ids (7 characters, like the KCS ids), the first ones most
/// often (the chance of the k-th falls like ln(IMPORTERS / k)).
pub(super) fn importer_id(d: &mut Draw) -> String {
    const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let k = d.between(1, IMPORTERS);
    // splitmix64 of the index: fixed ids, the same in every run.
    let mut x = d.below(k).wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    (0..7)
        .map(|_| {
            let c = ALPHABET[(x % 36) as usize];
            x /= 36;
            char::from(c)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn every_table_entry_reads_and_names_a_real_country_or_office() {
        for table in [
            HS6_TOP,
            CHAPTERS_REST,
            ORIGINS,
            DISPATCH_ELSEWHERE,
            MODE_OFFICE,
        ] {
            assert_eq!(counts(table).count(), table.split_whitespace().count());
        }
        let unknown: Vec<_> = counts(ORIGINS)
            .chain(counts(DISPATCH_ELSEWHERE))
            .filter(|(country, _)| CountryCode::parse(country).is_err())
            .collect();
        assert_eq!(unknown, []);
        for (pair, _) in counts(MODE_OFFICE) {
            let (mode, office) = pair.split_once('/').unwrap();
            assert!(domain::codes::TransportMode::parse(mode).is_ok(), "{mode}");
            assert!(domain::codes::OfficeCode::parse(office).is_ok(), "{office}");
        }
        for (country, currency, _) in LOCAL_CURRENCY {
            assert!(CountryCode::parse(country).is_ok() && CurrencyCode::parse(currency).is_ok());
        }
        assert_eq!(counts(HS6_TOP).count(), 300);
    }

    #[test]
    fn descriptions_drop_the_hs_2017_note() {
        let text = "Olive oil; refined; HS 2017 subheading 1509.10 (not in HS 2022)";
        assert_eq!(description(text), "Olive oil; refined");
    }
}
