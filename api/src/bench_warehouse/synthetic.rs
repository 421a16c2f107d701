//! The synthetic warehouse of `aduana bench warehouse`: declarations drawn one after another
//! from a seeded ChaCha8 stream with integer arithmetic only, each written as the facts the
//! projection would have made of it. The distributions are described in the parent module.

use chrono::{Datelike, Days, NaiveDate, TimeZone, Utc};
use projections::warehouse::{AuditOutcomeCode, Fact, date_keys};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use uuid::Uuid;

/// Integer draws from a seeded ChaCha8 stream.
struct Draw(ChaCha8Rng);

impl Draw {
    /// Uniform in `0..n` (multiply-shift; the bias is negligible for these `n`).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.0.next_u64()) * u128::from(n)) >> 64) as u64
    }

    fn per_mille(&mut self, p: u64) -> bool {
        self.below(1000) < p
    }
}

/// Values drawn in proportion to integer weights.
struct Weighted<T> {
    values: Vec<T>,
    cumulative: Vec<u64>,
}

impl<T> Weighted<T> {
    fn new(pairs: impl IntoIterator<Item = (T, u64)>) -> Self {
        let mut values = Vec::new();
        let mut cumulative = Vec::new();
        let mut total = 0;
        for (value, weight) in pairs {
            total += weight;
            values.push(value);
            cumulative.push(total);
        }
        Self { values, cumulative }
    }

    /// Zipf's law: the k-th value (from 1) weighs 1/k.
    fn zipf(values: impl IntoIterator<Item = T>) -> Self {
        Self::new(
            values
                .into_iter()
                .enumerate()
                .map(|(k, v)| (v, 1_000_000 / (k as u64 + 1))),
        )
    }

    fn pick(&self, draw: &mut Draw) -> &T {
        let total = self.cumulative.last().copied().unwrap_or(1);
        let x = draw.below(total);
        let i = self.cumulative.partition_point(|&c| c <= x);
        &self.values[i.min(self.values.len() - 1)]
    }
}

/// Chapters heavier than the rest (weight 10): an importing economy's machinery, electronics,
/// fuels, vehicles, plastics, instruments, chemicals, steel and clothing.
const HEAVY_CHAPTERS: [(&str, u64); 25] = [
    ("85", 200),
    ("84", 180),
    ("27", 60),
    ("87", 50),
    ("39", 50),
    ("90", 40),
    ("29", 30),
    ("72", 30),
    ("73", 30),
    ("30", 30),
    ("62", 30),
    ("61", 30),
    ("94", 30),
    ("95", 20),
    ("64", 20),
    ("40", 20),
    ("38", 20),
    ("28", 20),
    ("48", 20),
    ("76", 20),
    ("44", 20),
    ("33", 20),
    ("03", 20),
    ("08", 20),
    ("02", 20),
];
/// The largest sources first; the other countries follow in the order of the region list.
const TOP_ORIGINS: [&str; 20] = [
    "CN", "US", "JP", "VN", "AU", "DE", "TW", "SA", "ID", "MY", "QA", "RU", "IT", "TH", "IN", "FR",
    "CA", "GB", "SG", "CL",
];
/// Agreements a preference may be claimed under, by origin.
const AGREEMENTS: [(&str, &str); 9] = [
    ("CN", "FCN1"),
    ("US", "FUS1"),
    ("VN", "FVN1"),
    ("AU", "FAU1"),
    ("IN", "FIN1"),
    ("CA", "FCA1"),
    ("DE", "FEU1"),
    ("FR", "FEU1"),
    ("IT", "FEU1"),
];

/// The synthetic warehouse: declarations drawn one after another, each as its facts.
pub(super) struct Synthetic {
    draw: Draw,
    next_id: u64,
    first_day: NaiveDate,
    days: u64,
    lines: Weighted<Vec<&'static str>>,
    origins: Weighted<&'static str>,
    traders: Weighted<u32>,
    declarants: Weighted<u32>,
    offices: Weighted<u32>,
    modes: Weighted<&'static str>,
    items: Weighted<u32>,
}

impl Synthetic {
    pub(super) fn new(seed: u64) -> Self {
        let mut chapters: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for line in include_str!("../../../reference/tariff.csv")
            .lines()
            .skip(1)
        {
            if let Some(code) = line.split(',').next().filter(|c| c.len() == 10) {
                chapters.entry(&code[..2]).or_default().push(code);
            }
        }
        let lines = Weighted::new(chapters.into_iter().map(|(chapter, lines)| {
            let weight = HEAVY_CHAPTERS
                .iter()
                .find(|(c, _)| *c == chapter)
                .map_or(10, |(_, w)| *w);
            (lines, weight)
        }));
        let countries = include_str!("../../../projections/data/country_regions.csv")
            .lines()
            .skip(1)
            .filter_map(|line| line.split(',').next())
            .filter(|c| !TOP_ORIGINS.contains(c));
        let origins = Weighted::zipf(TOP_ORIGINS.into_iter().chain(countries));
        let first_day = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
        let last_day = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap_or_default();
        Self {
            draw: Draw(ChaCha8Rng::seed_from_u64(seed)),
            next_id: 0,
            first_day,
            days: u64::try_from((last_day - first_day).num_days() + 1).unwrap_or(1),
            lines,
            origins,
            traders: Weighted::zipf(1..=20_000),
            declarants: Weighted::zipf(1..=400),
            offices: Weighted::zipf(1..=40),
            modes: Weighted::new([("1", 55), ("4", 38), ("3", 3), ("5", 3), ("2", 1)]),
            items: Weighted::new([(1, 30), (2, 20), (3, 15), (4, 12), (5, 12), (6, 11)]),
        }
    }

    /// A filing day: uniform over the period, weekends at a third of a weekday.
    fn day(&mut self) -> NaiveDate {
        loop {
            let day = self.first_day + Days::new(self.draw.below(self.days));
            let weekend = day.weekday().number_from_monday() > 5;
            if !weekend || self.draw.per_mille(333) {
                return day;
            }
        }
    }

    /// Appends one declaration's facts: its items, and a second revision of each when it was
    /// corrected after clearance.
    pub(super) fn declaration(&mut self, out: &mut Vec<Fact>) {
        // Ascending ids (as UUIDv7 ones are): rows are appended to the primary key's end.
        self.next_id += 1;
        let id =
            Uuid::from_u128(u128::from(self.next_id) << 64 | u128::from(self.draw.below(u64::MAX)));
        let day = self.day();
        let d = &mut self.draw;
        let accepted = day
            .and_hms_opt(0, 0, 0)
            .map(|t| Utc.from_utc_datetime(&t))
            .map_or(0, |t| t.timestamp_micros())
            + i64::try_from(d.below(2 * 86_400_000_000)).unwrap_or_default();
        let import = d.per_mille(800);
        let origin = *self.origins.pick(d);
        let dispatch = if d.per_mille(800) {
            origin
        } else {
            *self.origins.pick(d)
        };
        let lane = match d.below(1000) {
            0..850 => "green",
            850..950 => "yellow",
            _ => "red",
        };
        let trader = format!("T{:06}", self.traders.pick(d));
        let declarant = format!("D{:04}", self.declarants.pick(d));
        let office = format!("{:03}", self.offices.pick(d) * 10);
        let mode = *self.modes.pick(d);
        let start = out.len();
        for line in 1..=*self.items.pick(d) {
            let chapter = self.lines.pick(d);
            let hs_line = chapter[usize::try_from(d.below(chapter.len() as u64)).unwrap_or(0)];
            let item_origin = if d.per_mille(700) {
                origin
            } else {
                *self.origins.pick(d)
            };
            let agreement = AGREEMENTS.iter().find(|(o, _)| *o == item_origin);
            let preference = match agreement {
                Some((_, code)) if import && d.per_mille(400) => *code,
                _ => "none",
            };
            // Money in 0.01 KRW: 10,000 to 999,000,000 KRW, log-uniform by decade.
            let customs_value =
                (100 + d.below(900)) as i64 * 10i64.pow(2 + d.below(5) as u32) * 100;
            let rate = if import && preference == "none" {
                [0, 3, 5, 8, 8, 8, 13][usize::try_from(d.below(7)).unwrap_or(0)]
            } else {
                0
            };
            let duty = customs_value * rate / 100;
            let vat = if import {
                (customs_value + duty) / 10
            } else {
                0
            };
            out.push(Fact {
                declaration_id: id,
                line,
                revision: 1,
                valid_from: accepted,
                valid_to: None,
                dates: date_keys(day),
                hs_line: hs_line.to_owned(),
                origin: item_origin.to_owned(),
                dispatch: dispatch.to_owned(),
                trader: trader.clone(),
                declarant: declarant.clone(),
                office: office.clone(),
                transport_mode: mode.to_owned(),
                lane: lane.to_owned(),
                regime: if import { "import" } else { "export" }.to_owned(),
                preference: preference.to_owned(),
                audit_outcome: AuditOutcomeCode::None.as_str().to_owned(),
                customs_value,
                duty,
                vat,
                additional_tax: 0,
                drawback: 0,
                invoice_value: customs_value / 1000 * (900 + d.below(100) as i64),
                // Grams: 100 g to 9.99 t.
                net_mass: (100 + d.below(900)) as i64 * 10i64.pow(d.below(5) as u32),
                quantity: (1 + d.below(1000)) as i64 * 1000,
            });
        }
        if d.per_mille(15) {
            // Corrected 30 to 400 days after acceptance: more tax, or a refund.
            let at = accepted + (30 + d.below(370)) as i64 * 86_400_000_000;
            let refund = d.per_mille(300);
            let outcome = AuditOutcomeCode::of(!refund, refund).as_str();
            let corrected: Vec<Fact> = out[start..]
                .iter_mut()
                .map(|fact| {
                    fact.valid_to = Some(at);
                    let share = fact.duty / 10;
                    Fact {
                        revision: 2,
                        valid_from: at,
                        valid_to: None,
                        additional_tax: if refund { 0 } else { share },
                        drawback: if refund { share } else { 0 },
                        audit_outcome: outcome.to_owned(),
                        ..fact.clone()
                    }
                })
                .collect();
            out.extend(corrected);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_facts_cover_the_tariff_and_skew_towards_the_heavy_chapters() {
        let mut synthetic = Synthetic::new(7);
        let mut facts = Vec::new();
        while facts.len() < 20_000 {
            synthetic.declaration(&mut facts);
        }
        let chapters: std::collections::BTreeSet<&str> =
            facts.iter().map(|f| f.hs_chapter()).collect();
        assert!(chapters.len() > 90, "{} chapters", chapters.len());
        let share = |chapter: &str| {
            facts.iter().filter(|f| f.hs_chapter() == chapter).count() as f64 / facts.len() as f64
        };
        assert!((0.07..0.14).contains(&share("84")), "{}", share("84"));
        assert!(share("01") < 0.02);
        let months: std::collections::BTreeSet<i64> = facts.iter().map(|f| f.dates[2]).collect();
        assert_eq!(months.len(), 36);
        // Every corrected item has a closed first revision and an open second one.
        let seconds = facts.iter().filter(|f| f.revision == 2).count();
        let closed = facts.iter().filter(|f| f.valid_to.is_some()).count();
        assert_eq!(seconds, closed);
        assert!(seconds > 0);
        assert!(
            facts
                .iter()
                .all(|f| (202401..=202612).contains(&f.dates[2]))
        );
    }

    #[test]
    fn weighted_draws_follow_their_weights() {
        let weighted = Weighted::new([("a", 1), ("b", 3)]);
        let mut draw = Draw(ChaCha8Rng::seed_from_u64(1));
        let b = (0..4000)
            .filter(|_| *weighted.pick(&mut draw) == "b")
            .count();
        assert!((2800..3200).contains(&b), "{b}");
    }
}
