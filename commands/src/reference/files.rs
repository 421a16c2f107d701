//! Reference-data files: CSV (the layout of `reference/*.csv`, recognised by its header row)
//! and JSON, read into reference events. Every row is checked; a file set with any bad row is
//! refused whole, with every error listed (file, line, column, message).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate};
use domain::codes::{AgreementCode, CountryCode, CurrencyCode, HsCode, UnitCode};
use domain::money::{Percent, parse_decimal};
use domain::reference::{
    DutyRate, ExchangeRate, ExchangeRatePublished, PreferentialRate, ReferenceEvent, TariffLine,
    TariffLinePublished, UnitCodesPublished,
};
use domain::risk::{RiskRulesPublished, RuleSet};
use serde::Deserialize;

/// One problem in one row of one file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    pub file: String,
    /// 1-based line number (the header is line 1); 0 for the file as a whole.
    pub line: u64,
    pub column: Option<String>,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(column) = &self.column {
            write!(f, " ({column})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The rows read so far from a set of files; `events()` turns them into reference events.
#[derive(Debug, Default)]
pub struct ReferenceFiles {
    tariff: Vec<(String, u64, TariffRow)>,
    preferences: Vec<(String, u64, PreferenceRow)>,
    rates: Vec<ExchangeRate>,
    units: BTreeSet<UnitCode>,
    /// Tariff lines given whole (JSON), preferences included.
    lines: Vec<TariffLine>,
    rules: Vec<RuleSet>,
    errors: Vec<RowError>,
}

#[derive(Debug)]
struct TariffRow {
    hs_code: HsCode,
    description: String,
    duty: DutyRate,
    vat: Percent,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
}

#[derive(Debug)]
struct PreferenceRow {
    hs_code: HsCode,
    rate: PreferentialRate,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
}

/// The JSON import format: the domain's own serialization of each record.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsonFile {
    #[serde(default)]
    tariff_lines: Vec<TariffLine>,
    #[serde(default)]
    exchange_rates: Vec<ExchangeRate>,
    #[serde(default)]
    units: Vec<UnitCode>,
    /// A risk rule set (see domain::risk::RuleSet for its shape).
    #[serde(default)]
    risk_rules: Option<RuleSet>,
}

/// A CSV row: column name → value.
type Record = BTreeMap<String, String>;

impl ReferenceFiles {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one file; its kind comes from its name (`.json`) or its CSV header row.
    pub fn add(&mut self, name: &str, text: &str) {
        if name.ends_with(".json") {
            match serde_json::from_str::<JsonFile>(text) {
                Ok(file) => {
                    self.lines.extend(file.tariff_lines);
                    self.rates.extend(file.exchange_rates);
                    self.units.extend(file.units);
                    self.rules.extend(file.risk_rules);
                }
                Err(e) => self.error(name, e.line() as u64, None, e.to_string()),
            }
            return;
        }
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = match reader.headers() {
            Ok(h) => h.clone(),
            Err(e) => return self.error(name, 1, None, format!("unreadable header: {e}")),
        };
        let has = |columns: &[&str]| columns.iter().all(|c| headers.iter().any(|h| h == *c));
        let kind = if has(&["hs_code", "description", "duty_rate", "vat_rate"]) {
            Kind::Tariff
        } else if has(&["hs_code", "agreement", "origins", "rate"]) {
            Kind::Preferences
        } else if has(&["currency", "rate", "valid_from"]) {
            Kind::Rates
        } else if has(&["code", "name"]) {
            Kind::Units
        } else {
            let found = headers.iter().collect::<Vec<_>>().join(",");
            return self.error(
                name,
                1,
                None,
                format!(
                    "unknown reference file: header {found:?} is none of tariff, preferences, \
                     exchange rates or units (see reference/README.md)"
                ),
            );
        };
        for (i, row) in reader.deserialize::<Record>().enumerate() {
            let line = i as u64 + 2;
            let record = match row {
                Ok(record) => record,
                Err(e) => {
                    self.error(name, line, None, e.to_string());
                    continue;
                }
            };
            let mut row = Row {
                file: name,
                line,
                record: &record,
                errors: Vec::new(),
            };
            match kind {
                Kind::Tariff => {
                    if let Some(r) = row.tariff() {
                        self.tariff.push((name.to_owned(), line, r));
                    }
                }
                Kind::Preferences => {
                    if let Some(r) = row.preference() {
                        self.preferences.push((name.to_owned(), line, r));
                    }
                }
                Kind::Rates => {
                    if let Some(r) = row.rate() {
                        self.rates.push(r);
                    }
                }
                Kind::Units => {
                    if let Some(code) = row.parse("code", UnitCode::parse) {
                        self.units.insert(code);
                    }
                }
            }
            self.errors.append(&mut row.errors);
        }
    }

    /// The reference events of every file read, or every error found.
    pub fn events(mut self) -> Result<Vec<ReferenceEvent>, Vec<RowError>> {
        let mut lines = std::mem::take(&mut self.lines);
        lines.extend(self.tariff_lines());
        if self.tariff.is_empty() && !self.preferences.is_empty() {
            let (file, _, _) = &self.preferences[0];
            let file = file.clone();
            self.error(
                &file,
                0,
                None,
                "preferences must be imported together with the tariff file they refine".into(),
            );
        }
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        let mut events: Vec<ReferenceEvent> = lines
            .into_iter()
            .map(|l| ReferenceEvent::TariffLinePublished(TariffLinePublished(l)))
            .collect();
        events.extend(
            self.rates
                .into_iter()
                .map(|r| ReferenceEvent::ExchangeRatePublished(ExchangeRatePublished(r))),
        );
        events.extend(
            std::mem::take(&mut self.rules)
                .into_iter()
                .map(|r| ReferenceEvent::RiskRulesPublished(RiskRulesPublished(r))),
        );
        if !self.units.is_empty() {
            match UnitCodesPublished::new(self.units) {
                Ok(units) => events.push(ReferenceEvent::UnitCodesPublished(units)),
                Err(e) => {
                    return Err(vec![RowError {
                        file: "units".into(),
                        line: 0,
                        column: None,
                        message: e.to_string(),
                    }]);
                }
            }
        }
        Ok(events)
    }

    /// Tariff rows with their preferences, split into periods so that each period's
    /// preferences are in force over all of it.
    fn tariff_lines(&mut self) -> Vec<TariffLine> {
        let mut preferences: BTreeMap<HsCode, Vec<&PreferenceRow>> = BTreeMap::new();
        for (_, _, p) in &self.preferences {
            preferences.entry(p.hs_code.clone()).or_default().push(p);
        }
        let mut lines = Vec::new();
        let mut errors = Vec::new();
        for (file, line, row) in &self.tariff {
            let prefs = preferences
                .get(&row.hs_code)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            for (from, to) in periods(row.valid_from, row.valid_to, prefs) {
                let in_force: Vec<PreferentialRate> = prefs
                    .iter()
                    .filter(|p| p.valid_from <= from && p.valid_to.is_none_or(|t| t >= from))
                    .map(|p| p.rate.clone())
                    .collect();
                match TariffLine::new(
                    row.hs_code.clone(),
                    row.description.clone(),
                    row.duty.clone(),
                    row.vat,
                    in_force,
                    from,
                    to,
                ) {
                    Ok(l) => lines.push(l),
                    Err(e) => errors.push(RowError {
                        file: file.clone(),
                        line: *line,
                        column: None,
                        message: e.to_string(),
                    }),
                }
            }
        }
        self.errors.extend(errors);
        lines
    }

    fn error(&mut self, file: &str, line: u64, column: Option<&str>, message: String) {
        self.errors.push(RowError {
            file: file.to_owned(),
            line,
            column: column.map(str::to_owned),
            message,
        });
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Tariff,
    Preferences,
    Rates,
    Units,
}

/// Consecutive periods covering `[from, to]`, cut wherever a preference starts or ends.
fn periods(
    from: NaiveDate,
    to: Option<NaiveDate>,
    prefs: &[&PreferenceRow],
) -> Vec<(NaiveDate, Option<NaiveDate>)> {
    let inside = |d: NaiveDate| d > from && to.is_none_or(|t| d <= t);
    let mut cuts: BTreeSet<NaiveDate> = BTreeSet::new();
    for p in prefs {
        if inside(p.valid_from) {
            cuts.insert(p.valid_from);
        }
        if let Some(next) = p.valid_to.and_then(|t| t.checked_add_days(Days::new(1)))
            && inside(next)
        {
            cuts.insert(next);
        }
    }
    let mut result = Vec::with_capacity(cuts.len() + 1);
    let mut start = from;
    for cut in cuts {
        result.push((start, cut.checked_sub_days(Days::new(1))));
        start = cut;
    }
    result.push((start, to));
    result
}

/// One CSV row being read; collects its errors.
struct Row<'a> {
    file: &'a str,
    line: u64,
    record: &'a Record,
    errors: Vec<RowError>,
}

impl Row<'_> {
    fn text(&self, column: &str) -> &str {
        self.record.get(column).map_or("", |s| s.trim())
    }

    fn fail(&mut self, column: &str, message: String) {
        self.errors.push(RowError {
            file: self.file.to_owned(),
            line: self.line,
            column: Some(column.to_owned()),
            message,
        });
    }

    fn parse<T, E: std::fmt::Display>(
        &mut self,
        column: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let value = self.text(column).to_owned();
        if value.is_empty() {
            self.fail(column, "is required".into());
            return None;
        }
        parse(&value)
            .map_err(|e| self.fail(column, format!("{value:?}: {e}")))
            .ok()
    }

    fn optional<T, E: std::fmt::Display>(
        &mut self,
        column: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<Option<T>> {
        if self.text(column).is_empty() {
            return Some(None);
        }
        self.parse(column, parse).map(Some)
    }

    fn date(&mut self, column: &str) -> Option<NaiveDate> {
        self.parse(column, |s| NaiveDate::parse_from_str(s, "%Y-%m-%d"))
    }

    fn optional_date(&mut self, column: &str) -> Option<Option<NaiveDate>> {
        self.optional(column, |s| NaiveDate::parse_from_str(s, "%Y-%m-%d"))
    }

    fn percent(&mut self, column: &str) -> Option<Percent> {
        self.parse(column, |s| {
            parse_decimal(s)
                .map_err(|e| e.to_string())
                .and_then(|d| Percent::new(d).map_err(|e| e.to_string()))
        })
    }

    fn tariff(&mut self) -> Option<TariffRow> {
        let hs_code = self.parse("hs_code", HsCode::parse);
        let description = self.text("description").to_owned();
        if description.is_empty() {
            self.fail("description", "is required".into());
        }
        let pct = self.percent("duty_rate");
        let specific = self.optional("specific_rate", parse_decimal);
        let unit = self.optional("specific_unit", UnitCode::parse);
        let vat = self.percent("vat_rate");
        let valid_from = self.date("valid_from");
        let valid_to = self.optional_date("valid_to");
        let duty = match (pct, specific?, unit?) {
            (Some(pct), None, None) => DutyRate::AdValorem { pct },
            // A zero ad-valorem part with a specific rate is a purely specific duty.
            (Some(pct), Some(amount), Some(unit)) if pct.value().is_zero() => {
                DutyRate::Specific { amount, unit }
            }
            (Some(pct), Some(amount), Some(unit)) => DutyRate::Compound { pct, amount, unit },
            (Some(_), Some(_), None) | (Some(_), None, Some(_)) => {
                self.fail(
                    "specific_unit",
                    "a specific rate needs its unit, and a unit needs a rate".into(),
                );
                return None;
            }
            (None, _, _) => return None,
        };
        if description.is_empty() {
            return None;
        }
        Some(TariffRow {
            hs_code: hs_code?,
            description,
            duty,
            vat: vat?,
            valid_from: valid_from?,
            valid_to: valid_to?,
        })
    }

    fn preference(&mut self) -> Option<PreferenceRow> {
        let hs_code = self.parse("hs_code", HsCode::parse);
        let agreement = self.parse("agreement", AgreementCode::parse);
        let origins = self.parse("origins", |s| {
            s.split_whitespace()
                .map(CountryCode::parse)
                .collect::<Result<BTreeSet<_>, _>>()
        });
        let pct = self.percent("rate");
        let valid_from = self.date("valid_from");
        let valid_to = self.optional_date("valid_to");
        Some(PreferenceRow {
            hs_code: hs_code?,
            rate: PreferentialRate {
                agreement: agreement?,
                origins: origins?,
                pct: pct?,
            },
            valid_from: valid_from?,
            valid_to: valid_to?,
        })
    }

    fn rate(&mut self) -> Option<ExchangeRate> {
        let currency = self.parse("currency", CurrencyCode::parse);
        let rate = self.parse("rate", parse_decimal);
        let valid_from = self.date("valid_from");
        let valid_to = self.optional_date("valid_to");
        match ExchangeRate::new(currency?, rate?, valid_from?, valid_to?) {
            Ok(r) => Some(r),
            Err(e) => {
                self.fail("rate", e.to_string());
                None
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const TARIFF: &str =
        "hs_code,description,duty_rate,specific_rate,specific_unit,vat_rate,valid_from,valid_to
0901210000,\"Coffee; roasted, not decaffeinated\",8,,,10,2020-01-01,
0703200000,Garlic,360,1800,KGM,10,2020-01-01,
0713100000,Peas,0,500,KGM,10,2020-01-01,2024-12-31
";
    const PREFS: &str = "hs_code,agreement,origins,rate,valid_from,valid_to
0901210000,FEU1,DE FR GB,0,2020-01-01,2020-12-31
0901210000,FEU1,DE FR,0,2021-01-01,
0901210000,FCN1,CN,4,2020-06-01,
";

    fn events(files: &[(&str, &str)]) -> Result<Vec<ReferenceEvent>, Vec<RowError>> {
        let mut set = ReferenceFiles::new();
        for (name, text) in files {
            set.add(name, text);
        }
        set.events()
    }

    fn lines(events: &[ReferenceEvent]) -> Vec<&TariffLine> {
        events
            .iter()
            .filter_map(|e| match e {
                ReferenceEvent::TariffLinePublished(l) => Some(&l.0),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn duties_are_ad_valorem_specific_or_compound_by_their_columns() {
        let events = events(&[("tariff.csv", TARIFF)]).unwrap();
        let lines = lines(&events);
        assert!(matches!(lines[0].duty, DutyRate::AdValorem { .. }));
        assert!(matches!(lines[1].duty, DutyRate::Compound { .. }));
        assert!(matches!(lines[2].duty, DutyRate::Specific { .. }));
        assert_eq!(lines[2].valid_to, NaiveDate::from_ymd_opt(2024, 12, 31));
    }

    #[test]
    fn a_line_is_split_where_its_preferences_start_or_end() {
        let events = events(&[("tariff.csv", TARIFF), ("preferences.csv", PREFS)]).unwrap();
        let coffee: Vec<_> = lines(&events)
            .into_iter()
            .filter(|l| l.hs_code.as_str() == "0901210000")
            .collect();
        let periods: Vec<_> = coffee
            .iter()
            .map(|l| (l.valid_from.to_string(), l.valid_to.map(|d| d.to_string())))
            .collect();
        assert_eq!(
            periods,
            vec![
                ("2020-01-01".into(), Some("2020-05-31".into())),
                ("2020-06-01".into(), Some("2020-12-31".into())),
                ("2021-01-01".into(), None),
            ]
        );
        let agreements = |l: &TariffLine| {
            l.preferences
                .iter()
                .map(|p| p.agreement.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(agreements(coffee[0]), vec!["FEU1"]);
        assert_eq!(agreements(coffee[1]), vec!["FEU1", "FCN1"]);
        let gb = CountryCode::parse("GB").unwrap();
        assert!(coffee[1].preferences[0].origins.contains(&gb));
        assert!(
            !coffee[2]
                .preferences
                .iter()
                .any(|p| p.origins.contains(&gb))
        );
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line_and_column_and_nothing_is_returned() {
        let bad =
            "hs_code,description,duty_rate,specific_rate,specific_unit,vat_rate,valid_from,valid_to
12345,Short code,8,,,10,2020-01-01,
0101210000,,8,,,10,2020-01-01,
0101290000,Horses,eight,,,10,2020-01-01,
0101300000,Asses,8,100,,10,2020-01-01,
0102210000,Cattle,8,,,10,2020-13-01,
";
        let errors = events(&[("tariff.csv", bad)]).unwrap_err();
        let at: Vec<_> = errors
            .iter()
            .map(|e| (e.line, e.column.clone().unwrap_or_default()))
            .collect();
        assert_eq!(
            at,
            vec![
                (2, "hs_code".into()),
                (3, "description".into()),
                (4, "duty_rate".into()),
                (5, "specific_unit".into()),
                (6, "valid_from".into()),
            ]
        );
        assert!(errors[0].to_string().starts_with("tariff.csv:2 (hs_code)"));
    }

    #[test]
    fn an_unknown_file_and_preferences_without_a_tariff_are_refused() {
        let errors = events(&[("x.csv", "a,b\n1,2\n")]).unwrap_err();
        assert!(errors[0].message.contains("unknown reference file"));
        let errors = events(&[("preferences.csv", PREFS)]).unwrap_err();
        assert!(errors[0].message.contains("together with the tariff"));
    }

    #[test]
    fn rates_and_units_are_read_from_csv_and_json() {
        let rates = "currency,rate,valid_from,valid_to\nUSD,1350.25,2026-11-22,2026-11-28\n";
        let units = "code,name\nKGM,kilogram\nC62,one\n";
        let json = r#"{"exchangeRates":[{"currency":"EUR","rate":"1500.5","validFrom":"2026-11-22","validTo":"2026-11-28"}],"units":["LTR"]}"#;
        let events = events(&[
            ("rates.csv", rates),
            ("units.csv", units),
            ("more.json", json),
        ])
        .unwrap();
        assert_eq!(events.len(), 3, "two rates and one unit list");
        match &events[2] {
            ReferenceEvent::UnitCodesPublished(u) => assert_eq!(u.codes.len(), 3),
            other => panic!("expected the unit list, got {other:?}"),
        }
    }
}
