//! The reference data in force, in memory: built by folding reference events, read by validation
//! and assessment. Pure: the command layer loads the events and passes the snapshot in.

use super::events::ReferenceEvent;
use super::{ExchangeRate, TariffLine};
use crate::codes::{CurrencyCode, HsCode, UnitCode};
use crate::risk::RuleSet;
use chrono::NaiveDate;
use std::collections::{BTreeMap, BTreeSet};

/// Tariff lines, exchange rates, unit codes and the latest risk rule set, as published.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReferenceSnapshot {
    /// Per code, the published lines ordered by `valid_from`.
    tariff: BTreeMap<HsCode, Vec<TariffLine>>,
    /// Per currency, the published rates ordered by `valid_from`.
    rates: BTreeMap<CurrencyCode, Vec<ExchangeRate>>,
    units: BTreeSet<UnitCode>,
    risk_rules: Option<RuleSet>,
}

impl ReferenceSnapshot {
    /// An empty snapshot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds reference events, in order, into a snapshot.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a ReferenceEvent>) -> Self {
        let mut snapshot = Self::new();
        for e in events {
            snapshot.apply(e);
        }
        snapshot
    }

    /// Applies one published event.
    pub fn apply(&mut self, event: &ReferenceEvent) {
        match event {
            ReferenceEvent::TariffLinePublished(e) => self.add_tariff_line(e.0.clone()),
            ReferenceEvent::ExchangeRatePublished(e) => self.add_exchange_rate(e.0.clone()),
            ReferenceEvent::UnitCodesPublished(e) => self.units = e.codes.clone(),
            ReferenceEvent::RiskRulesPublished(e) => self.set_rule_set(e.0.clone()),
        }
    }

    /// Adds a tariff line, replacing one with the same code and `valid_from`.
    pub fn add_tariff_line(&mut self, line: TariffLine) {
        let lines = self.tariff.entry(line.hs_code.clone()).or_default();
        match lines.binary_search_by_key(&line.valid_from, |l| l.valid_from) {
            Ok(i) => lines[i] = line,
            Err(i) => lines.insert(i, line),
        }
    }

    /// Adds an exchange rate, replacing one with the same currency and `valid_from`.
    pub fn add_exchange_rate(&mut self, rate: ExchangeRate) {
        let rates = self.rates.entry(rate.currency).or_default();
        match rates.binary_search_by_key(&rate.valid_from, |r| r.valid_from) {
            Ok(i) => rates[i] = rate,
            Err(i) => rates.insert(i, rate),
        }
    }

    /// Replaces the unit code list.
    pub fn set_units(&mut self, units: impl IntoIterator<Item = UnitCode>) {
        self.units = units.into_iter().collect();
    }

    /// Keeps `rules` when its version is newer than the one held.
    pub fn set_rule_set(&mut self, rules: RuleSet) {
        if self
            .risk_rules
            .as_ref()
            .is_none_or(|held| held.version() < rules.version())
        {
            self.risk_rules = Some(rules);
        }
    }

    /// The tariff line for `code` in force on `date`: of the lines covering the date, the one
    /// that started last.
    pub fn tariff_line(&self, code: &HsCode, date: NaiveDate) -> Option<&TariffLine> {
        self.tariff
            .get(code)?
            .iter()
            .rev()
            .find(|l| l.in_force_on(date))
    }

    /// The exchange rate for `currency` in force on `date`: of the rates covering the date, the
    /// one that started last.
    pub fn exchange_rate(&self, currency: CurrencyCode, date: NaiveDate) -> Option<&ExchangeRate> {
        self.rates
            .get(&currency)?
            .iter()
            .rev()
            .find(|r| r.in_force_on(date))
    }

    /// True when `unit` is in the published unit code list.
    pub fn is_known_unit(&self, unit: &UnitCode) -> bool {
        self.units.contains(unit)
    }

    /// The newest published risk rule set.
    pub fn risk_rules(&self) -> Option<&RuleSet> {
        self.risk_rules.as_ref()
    }

    /// Tariff lines in force on `date` matching `query`, at most `limit`, in code order: digits
    /// match the start of the code, anything else a word of the description (any case).
    pub fn search_tariff(&self, query: &str, date: NaiveDate, limit: usize) -> Vec<&TariffLine> {
        let query = query.trim();
        if query.is_empty() || limit == 0 {
            return Vec::new();
        }
        fn in_force(lines: &[TariffLine], date: NaiveDate) -> Option<&TariffLine> {
            lines.iter().rev().find(|l| l.in_force_on(date))
        }
        if query.bytes().all(|b| b.is_ascii_digit()) {
            return self
                .tariff
                .iter()
                .skip_while(|(code, _)| code.as_str() < query)
                .take_while(|(code, _)| code.as_str().starts_with(query))
                .filter_map(|(_, lines)| in_force(lines, date))
                .take(limit)
                .collect();
        }
        let needle = query.to_lowercase();
        self.tariff
            .values()
            .filter_map(|lines| in_force(lines, date))
            .filter(|line| line.description.to_lowercase().contains(&needle))
            .take(limit)
            .collect()
    }

    /// The published unit codes, in order.
    pub fn units(&self) -> impl Iterator<Item = &UnitCode> {
        self.units.iter()
    }

    /// The currencies with at least one published exchange rate, in order.
    pub fn currencies(&self) -> impl Iterator<Item = CurrencyCode> + '_ {
        self.rates.keys().copied()
    }

    /// Number of tariff codes with at least one line.
    pub fn tariff_code_count(&self) -> usize {
        self.tariff.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::event::DomainEvent;
    use crate::money::Percent;
    use crate::reference::{
        DutyRate, ExchangeRatePublished, TariffLinePublished, UnitCodesPublished,
    };
    use rust_decimal_macros::dec;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn line(pct: rust_decimal::Decimal, from: &str, to: Option<&str>) -> TariffLine {
        TariffLine::new(
            HsCode::parse("8471300000").unwrap(),
            "Portable computers",
            DutyRate::AdValorem {
                pct: Percent::new(pct).unwrap(),
            },
            Percent::new(dec!(10)).unwrap(),
            vec![],
            date(from),
            to.map(date),
        )
        .unwrap()
    }

    fn usd(rate: rust_decimal::Decimal, from: &str, to: Option<&str>) -> ExchangeRate {
        ExchangeRate::new(
            CurrencyCode::parse("USD").unwrap(),
            rate,
            date(from),
            to.map(date),
        )
        .unwrap()
    }

    #[test]
    fn the_line_in_force_is_the_latest_one_covering_the_date() {
        let code = HsCode::parse("8471300000").unwrap();
        let snapshot = ReferenceSnapshot::from_events(&[
            ReferenceEvent::TariffLinePublished(TariffLinePublished(line(
                dec!(8),
                "2025-01-01",
                None,
            ))),
            ReferenceEvent::TariffLinePublished(TariffLinePublished(line(
                dec!(0),
                "2026-01-01",
                Some("2026-06-30"),
            ))),
        ]);
        let pct = |d| {
            snapshot
                .tariff_line(&code, date(d))
                .and_then(|l| l.duty.ad_valorem())
                .map(Percent::value)
        };
        assert_eq!(pct("2024-12-31"), None);
        assert_eq!(pct("2025-06-01"), Some(dec!(8)));
        assert_eq!(pct("2026-03-01"), Some(dec!(0)));
        assert_eq!(
            pct("2026-07-01"),
            Some(dec!(8)),
            "the open-ended older line covers again"
        );
        assert!(
            snapshot
                .tariff_line(&HsCode::parse("0101210000").unwrap(), date("2026-03-01"))
                .is_none()
        );
    }

    #[test]
    fn the_tariff_is_searched_by_code_prefix_or_by_words_of_the_description() {
        let mut snapshot = ReferenceSnapshot::new();
        snapshot.add_tariff_line(line(dec!(8), "2025-01-01", None));
        let mut horses = line(dec!(0), "2025-01-01", Some("2025-12-31"));
        horses.hs_code = HsCode::parse("0101210000").unwrap();
        horses.description = "Pure-bred breeding horses".to_owned();
        snapshot.add_tariff_line(horses);
        let codes = |query: &str, on: &str| {
            snapshot
                .search_tariff(query, date(on), 10)
                .iter()
                .map(|l| l.hs_code.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(codes("84", "2025-06-01"), ["8471300000"]);
        assert_eq!(codes("0101", "2025-06-01"), ["0101210000"]);
        assert_eq!(codes("HORSES", "2025-06-01"), ["0101210000"]);
        assert_eq!(
            codes("horses", "2026-06-01"),
            Vec::<String>::new(),
            "no longer in force"
        );
        assert_eq!(codes("o", "2025-06-01").len(), 2);
        assert!(codes("  ", "2025-06-01").is_empty());
        assert!(snapshot.search_tariff("o", date("2025-06-01"), 1).len() == 1);
    }

    #[test]
    fn republishing_a_line_with_the_same_start_corrects_it() {
        let code = HsCode::parse("8471300000").unwrap();
        let mut snapshot = ReferenceSnapshot::new();
        snapshot.add_tariff_line(line(dec!(8), "2025-01-01", None));
        snapshot.add_tariff_line(line(dec!(6.5), "2025-01-01", None));
        let l = snapshot.tariff_line(&code, date("2025-02-01")).unwrap();
        assert_eq!(l.duty.ad_valorem().unwrap().value(), dec!(6.5));
        assert_eq!(snapshot.tariff_code_count(), 1);
    }

    #[test]
    fn the_rate_in_force_follows_weekly_validity() {
        let mut snapshot = ReferenceSnapshot::new();
        snapshot.apply(&ReferenceEvent::ExchangeRatePublished(
            ExchangeRatePublished(usd(dec!(1350), "2026-03-01", Some("2026-03-07"))),
        ));
        snapshot.apply(&ReferenceEvent::ExchangeRatePublished(
            ExchangeRatePublished(usd(dec!(1362.5), "2026-03-08", Some("2026-03-14"))),
        ));
        let usd_code = CurrencyCode::parse("USD").unwrap();
        assert_eq!(
            snapshot
                .exchange_rate(usd_code, date("2026-03-07"))
                .unwrap()
                .rate,
            dec!(1350)
        );
        assert_eq!(
            snapshot
                .exchange_rate(usd_code, date("2026-03-08"))
                .unwrap()
                .rate,
            dec!(1362.5)
        );
        assert!(
            snapshot
                .exchange_rate(usd_code, date("2026-03-15"))
                .is_none()
        );
        assert!(
            snapshot
                .exchange_rate(CurrencyCode::parse("EUR").unwrap(), date("2026-03-08"))
                .is_none()
        );
    }

    #[test]
    fn the_unit_list_is_replaced_whole() {
        let kgm = UnitCode::parse("KGM").unwrap();
        let nmb = UnitCode::parse("NMB").unwrap();
        let mut snapshot = ReferenceSnapshot::new();
        snapshot.apply(&ReferenceEvent::UnitCodesPublished(
            UnitCodesPublished::new([kgm.clone()]).unwrap(),
        ));
        assert!(snapshot.is_known_unit(&kgm));
        snapshot.apply(&ReferenceEvent::UnitCodesPublished(
            UnitCodesPublished::new([nmb.clone()]).unwrap(),
        ));
        assert!(!snapshot.is_known_unit(&kgm));
        assert!(snapshot.is_known_unit(&nmb));
        assert!(UnitCodesPublished::new([]).is_err());
    }

    #[test]
    fn reference_events_have_stable_types_and_decode_from_their_payload() {
        let event = ReferenceEvent::TariffLinePublished(TariffLinePublished(line(
            dec!(8),
            "2025-01-01",
            None,
        )));
        assert_eq!(event.event_type(), "TariffLinePublished");
        assert_eq!(event.schema_version(), 1);
        let payload = event.payload().unwrap();
        assert_eq!(payload["hsCode"], "8471300000");
        let back = ReferenceEvent::decode("TariffLinePublished", 1, &payload.to_string()).unwrap();
        assert_eq!(back, event);
        assert!(ReferenceEvent::decode("TariffLinePublished", 2, &payload.to_string()).is_err());
        assert!(ReferenceEvent::decode("TariffLineRepealed", 1, "{}").is_err());
        assert_eq!(
            ReferenceEvent::EVENT_TYPES,
            [
                "TariffLinePublished",
                "ExchangeRatePublished",
                "UnitCodesPublished",
                "RiskRulesPublished"
            ]
        );
    }
}
