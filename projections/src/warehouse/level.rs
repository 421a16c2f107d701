//! The warehouse's dimensions and their levels: which fact column holds each level, how its
//! members are written (`2020-03`, `84`, `KR`) and read back, and the hierarchies a drill-down
//! follows (year → quarter → month → day, HS section → chapter → heading → subheading → line,
//! region → country of origin).

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use chrono::{Datelike, NaiveDate};
use domain::codes::CountryCode;
use serde::{Deserialize, Serialize};

/// A dimension of the cube: the levels of one hierarchy share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Dimension {
    /// The filing date of the declaration (the day its rates were taken from).
    Date,
    Tariff,
    Origin,
    Dispatch,
    Trader,
    Declarant,
    Office,
    TransportMode,
    Lane,
    Regime,
    Preference,
    AuditOutcome,
}

/// One level of a dimension. Its members are codes: see [`Level::parse`] for their forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Level {
    /// `2020-03-15`
    Day,
    /// ISO week, `2020-W11`
    Week,
    /// `2020-03`
    Month,
    /// `2020-Q1`
    Quarter,
    /// `2020`
    Year,
    /// HS section, a Roman numeral `I`…`XXI`
    HsSection,
    /// `84`
    HsChapter,
    /// `8471`
    HsHeading,
    /// `847130`
    HsSubheading,
    /// The national tariff line, `8471300000`
    HsLine,
    /// ISO 3166-1 alpha-2, `CN`
    Origin,
    /// The continent of the country of origin: `AF`, `AN`, `AS`, `EU`, `NA`, `OC`, `SA`
    OriginRegion,
    /// Country of dispatch (imports) or export (exports), alpha-2
    Dispatch,
    /// The importer, or the exporter of an export
    Trader,
    Declarant,
    Office,
    /// The WCO code of the mode of transport at the border (`1` sea … `4` air … `9`); a KCS
    /// code (`40`) is read as its WCO code
    TransportMode,
    /// `green`, `yellow`, `red`
    Lane,
    /// `import`, `export`
    Regime,
    /// The preference applied (an agreement code such as `FCN1`), or `none` for the general rate
    Preference,
    /// `none` (not corrected after clearance), `additionalTax`, `drawback`,
    /// `additionalTaxAndDrawback`
    AuditOutcome,
}

/// A member as stored in a fact column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Int(i64),
    Text(String),
}

/// Why a member code does not fit its level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?} is not a member of {level}: expected {expected}")]
pub struct MemberError {
    pub level: Level,
    pub code: String,
    pub expected: &'static str,
}

impl Level {
    pub const ALL: [Level; 21] = [
        Level::Day,
        Level::Week,
        Level::Month,
        Level::Quarter,
        Level::Year,
        Level::HsSection,
        Level::HsChapter,
        Level::HsHeading,
        Level::HsSubheading,
        Level::HsLine,
        Level::Origin,
        Level::OriginRegion,
        Level::Dispatch,
        Level::Trader,
        Level::Declarant,
        Level::Office,
        Level::TransportMode,
        Level::Lane,
        Level::Regime,
        Level::Preference,
        Level::AuditOutcome,
    ];

    pub fn dimension(self) -> Dimension {
        use Level::*;
        match self {
            Day | Week | Month | Quarter | Year => Dimension::Date,
            HsSection | HsChapter | HsHeading | HsSubheading | HsLine => Dimension::Tariff,
            Origin | OriginRegion => Dimension::Origin,
            Dispatch => Dimension::Dispatch,
            Trader => Dimension::Trader,
            Declarant => Dimension::Declarant,
            Office => Dimension::Office,
            TransportMode => Dimension::TransportMode,
            Lane => Dimension::Lane,
            Regime => Dimension::Regime,
            Preference => Dimension::Preference,
            AuditOutcome => Dimension::AuditOutcome,
        }
    }

    /// The fact column holding this level.
    pub(crate) fn column(self) -> &'static str {
        use Level::*;
        match self {
            Day => "day",
            Week => "week",
            Month => "month",
            Quarter => "quarter",
            Year => "year",
            HsSection => "hs_section",
            HsChapter => "hs_chapter",
            HsHeading => "hs_heading",
            HsSubheading => "hs_subheading",
            HsLine => "hs_line",
            Origin => "origin",
            OriginRegion => "origin_region",
            Dispatch => "dispatch",
            Trader => "trader",
            Declarant => "declarant",
            Office => "office",
            TransportMode => "transport_mode",
            Lane => "lane",
            Regime => "regime",
            Preference => "preference",
            AuditOutcome => "audit_outcome",
        }
    }

    /// Whether the column is an integer (dates and HS sections) rather than text.
    pub(crate) fn is_integer(self) -> bool {
        use Level::*;
        matches!(self, Day | Week | Month | Quarter | Year | HsSection)
    }

    /// The next finer level of the hierarchy: where a drill-down goes.
    pub fn finer(self) -> Option<Level> {
        use Level::*;
        match self {
            Year => Some(Quarter),
            Quarter => Some(Month),
            Month | Week => Some(Day),
            HsSection => Some(HsChapter),
            HsChapter => Some(HsHeading),
            HsHeading => Some(HsSubheading),
            HsSubheading => Some(HsLine),
            OriginRegion => Some(Origin),
            _ => None,
        }
    }

    /// The name in the API (`hsChapter`).
    pub fn name(self) -> &'static str {
        use Level::*;
        match self {
            Day => "day",
            Week => "week",
            Month => "month",
            Quarter => "quarter",
            Year => "year",
            HsSection => "hsSection",
            HsChapter => "hsChapter",
            HsHeading => "hsHeading",
            HsSubheading => "hsSubheading",
            HsLine => "hsLine",
            Origin => "origin",
            OriginRegion => "originRegion",
            Dispatch => "dispatch",
            Trader => "trader",
            Declarant => "declarant",
            Office => "office",
            TransportMode => "transportMode",
            Lane => "lane",
            Regime => "regime",
            Preference => "preference",
            AuditOutcome => "auditOutcome",
        }
    }

    fn expected(self) -> &'static str {
        use Level::*;
        match self {
            Day => "a date YYYY-MM-DD",
            Week => "an ISO week YYYY-Www",
            Month => "a month YYYY-MM",
            Quarter => "a quarter YYYY-Qn",
            Year => "a year YYYY",
            HsSection => "a Roman numeral I to XXI",
            HsChapter => "2 digits",
            HsHeading => "4 digits",
            HsSubheading => "6 digits",
            HsLine => "10 digits",
            Origin | Dispatch => "an ISO 3166-1 alpha-2 code",
            OriginRegion => "one of AF, AN, AS, EU, NA, OC, SA",
            Lane => "green, yellow or red",
            Regime => "import or export",
            AuditOutcome => "none, additionalTax, drawback or additionalTaxAndDrawback",
            TransportMode => "a WCO transport mode code 1-5 or 7-9 (or its KCS code, 10-90)",
            Trader | Declarant | Office | Preference => "1 to 64 characters",
        }
    }

    /// Reads a member code of this level into its stored form.
    pub fn parse(self, code: &str) -> Result<Key, MemberError> {
        use Level::*;
        let error = || MemberError {
            level: self,
            code: code.chars().take(80).collect(),
            expected: self.expected(),
        };
        let digits = |n: usize| code.len() == n && code.bytes().all(|b| b.is_ascii_digit());
        let key = match self {
            Day => NaiveDate::parse_from_str(code, "%Y-%m-%d")
                .ok()
                .filter(|_| code.len() == 10)
                .map(|d| Key::Int(day_key(d))),
            Week => parse_week(code).map(Key::Int),
            Month => parse_month(code).map(Key::Int),
            Quarter => parse_quarter(code).map(Key::Int),
            Year => digits(4).then(|| Key::Int(code.parse().unwrap_or_default())),
            HsSection => SECTIONS
                .iter()
                .position(|s| s.0 == code)
                .map(|i| Key::Int(i64::try_from(i).unwrap_or_default() + 1)),
            HsChapter => digits(2).then(|| Key::Text(code.to_owned())),
            HsHeading => digits(4).then(|| Key::Text(code.to_owned())),
            HsSubheading => digits(6).then(|| Key::Text(code.to_owned())),
            HsLine => digits(10).then(|| Key::Text(code.to_owned())),
            Origin | Dispatch => CountryCode::parse(code)
                .ok()
                .map(|c| Key::Text(c.as_str().to_owned())),
            OriginRegion => REGION_NAMES
                .iter()
                .any(|(r, _)| *r == code)
                .then(|| Key::Text(code.to_owned())),
            Lane => ["green", "yellow", "red"]
                .contains(&code)
                .then(|| Key::Text(code.to_owned())),
            Regime => ["import", "export"]
                .contains(&code)
                .then(|| Key::Text(code.to_owned())),
            AuditOutcome => AuditOutcomeCode::ALL
                .iter()
                .any(|o| o.as_str() == code)
                .then(|| Key::Text(code.to_owned())),
            // WCO codes (`4`), or the KCS ones (`40`) read as theirs: facts keep the WCO code.
            TransportMode => domain::codes::TransportMode::parse(code)
                .ok()
                .map(|mode| Key::Text(mode.to_string())),
            Trader | Declarant | Office | Preference => {
                (!code.is_empty() && code.len() <= 64 && !code.chars().any(char::is_control))
                    .then(|| Key::Text(code.to_owned()))
            }
        };
        key.ok_or_else(error)
    }

    /// Writes a stored member as its code.
    pub fn format(self, key: &Key) -> String {
        use Level::*;
        match (self, key) {
            (Day, Key::Int(n)) => format!("{:04}-{:02}-{:02}", n / 10000, n / 100 % 100, n % 100),
            (Week, Key::Int(n)) => format!("{:04}-W{:02}", n / 100, n % 100),
            (Month, Key::Int(n)) => format!("{:04}-{:02}", n / 100, n % 100),
            (Quarter, Key::Int(n)) => format!("{:04}-Q{}", n / 10, n % 10),
            (Year, Key::Int(n)) => n.to_string(),
            (HsSection, Key::Int(n)) => usize::try_from(*n - 1)
                .ok()
                .and_then(|i| SECTIONS.get(i))
                .map_or_else(|| n.to_string(), |s| s.0.to_owned()),
            (_, Key::Int(n)) => n.to_string(),
            (_, Key::Text(t)) => t.clone(),
        }
    }

    /// A readable name for a member code, where the warehouse knows one (HS sections, countries,
    /// regions); else the code itself.
    pub fn label(self, code: &str) -> String {
        use Level::*;
        let known = match self {
            HsSection => SECTIONS
                .iter()
                .find(|s| s.0 == code)
                .map(|s| s.1.to_owned()),
            Origin | Dispatch => CountryCode::parse(code).ok().map(|c| c.name().to_owned()),
            TransportMode => domain::codes::TransportMode::parse(code)
                .ok()
                .map(|mode| transport_mode_name(mode).to_owned()),
            OriginRegion => REGION_NAMES
                .iter()
                .find(|(r, _)| *r == code)
                .map(|(_, n)| (*n).to_owned()),
            _ => None,
        };
        known.unwrap_or_else(|| code.to_owned())
    }
}

fn transport_mode_name(mode: domain::codes::TransportMode) -> &'static str {
    use domain::codes::TransportMode::*;
    match mode {
        Sea => "Sea",
        Rail => "Rail",
        Road => "Road",
        Air => "Air",
        Post => "Post",
        FixedInstallation => "Fixed installation",
        InlandWaterway => "Inland waterway",
        OwnPropulsion => "Own propulsion",
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `yyyymmdd`
pub(crate) fn day_key(d: NaiveDate) -> i64 {
    i64::from(d.year()) * 10000 + i64::from(d.month()) * 100 + i64::from(d.day())
}

/// The date levels of a day as stored: (day, ISO week, month, quarter, year).
pub fn date_keys(d: NaiveDate) -> [i64; 5] {
    let week = d.iso_week();
    let year = i64::from(d.year());
    [
        day_key(d),
        i64::from(week.year()) * 100 + i64::from(week.week()),
        year * 100 + i64::from(d.month()),
        year * 10 + i64::from(d.month0() / 3 + 1),
        year,
    ]
}

fn parse_month(code: &str) -> Option<i64> {
    let (y, m) = code.split_once('-')?;
    let (y, m): (i64, i64) = (parse_fixed(y, 4)?, parse_fixed(m, 2)?);
    (1..=12).contains(&m).then_some(y * 100 + m)
}

fn parse_week(code: &str) -> Option<i64> {
    let (y, w) = code.split_once("-W")?;
    let (y, w): (i64, i64) = (parse_fixed(y, 4)?, parse_fixed(w, 2)?);
    (1..=53).contains(&w).then_some(y * 100 + w)
}

fn parse_quarter(code: &str) -> Option<i64> {
    let (y, q) = code.split_once("-Q")?;
    let (y, q): (i64, i64) = (parse_fixed(y, 4)?, parse_fixed(q, 1)?);
    (1..=4).contains(&q).then_some(y * 10 + q)
}

fn parse_fixed(text: &str, len: usize) -> Option<i64> {
    (text.len() == len && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// The HS sections: numeral, short title, and the last chapter of each (the first is the
/// previous section's last + 1). From the Harmonized System Nomenclature (2022 edition);
/// chapter 77 is reserved and falls in section XV.
const SECTIONS: [(&str, &str, u8); 21] = [
    ("I", "Live animals; animal products", 5),
    ("II", "Vegetable products", 14),
    ("III", "Animal, vegetable or microbial fats and oils", 15),
    (
        "IV",
        "Prepared foodstuffs; beverages, spirits, vinegar; tobacco",
        24,
    ),
    ("V", "Mineral products", 27),
    ("VI", "Products of the chemical or allied industries", 38),
    ("VII", "Plastics and rubber and articles thereof", 40),
    (
        "VIII",
        "Raw hides and skins, leather, furskins; travel goods",
        43,
    ),
    ("IX", "Wood, cork, straw and plaiting materials", 46),
    ("X", "Pulp of wood; paper and paperboard", 49),
    ("XI", "Textiles and textile articles", 63),
    (
        "XII",
        "Footwear, headgear, umbrellas; artificial flowers",
        67,
    ),
    (
        "XIII",
        "Articles of stone, plaster, cement; ceramics; glass",
        70,
    ),
    (
        "XIV",
        "Pearls, precious stones and metals; jewellery; coin",
        71,
    ),
    ("XV", "Base metals and articles of base metal", 83),
    (
        "XVI",
        "Machinery and mechanical appliances; electrical equipment",
        85,
    ),
    (
        "XVII",
        "Vehicles, aircraft, vessels and transport equipment",
        89,
    ),
    (
        "XVIII",
        "Optical, medical, measuring instruments; clocks; musical instruments",
        92,
    ),
    ("XIX", "Arms and ammunition", 93),
    ("XX", "Miscellaneous manufactured articles", 96),
    ("XXI", "Works of art, collectors' pieces and antiques", 99),
];

/// The HS section (1-21) of a chapter (`"84"` → 16).
pub(crate) fn section_of(chapter: &str) -> i64 {
    let chapter: u8 = chapter.parse().unwrap_or(99);
    let index = SECTIONS
        .iter()
        .position(|s| chapter <= s.2)
        .unwrap_or(SECTIONS.len() - 1);
    i64::try_from(index).unwrap_or_default() + 1
}

const REGION_NAMES: [(&str, &str); 7] = [
    ("AF", "Africa"),
    ("AN", "Antarctica"),
    ("AS", "Asia"),
    ("EU", "Europe"),
    ("NA", "North America"),
    ("OC", "Oceania"),
    ("SA", "South America"),
];

/// Country → continent, from `projections/data/country_regions.csv` (see
/// `scripts/gen-regions.py`).
static REGIONS: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    include_str!("../../data/country_regions.csv")
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split(',');
            Some((fields.next()?, fields.next()?))
        })
        .collect()
});

/// The continent of a country (`KR` → `AS`); `ZZ` for one the map lacks.
pub(crate) fn region_of(country: &str) -> &'static str {
    REGIONS.get(country).copied().unwrap_or("ZZ")
}

/// What a post-clearance correction did to a declaration, cumulatively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcomeCode {
    None,
    AdditionalTax,
    Drawback,
    AdditionalTaxAndDrawback,
}

impl AuditOutcomeCode {
    pub const ALL: [AuditOutcomeCode; 4] = [
        Self::None,
        Self::AdditionalTax,
        Self::Drawback,
        Self::AdditionalTaxAndDrawback,
    ];

    /// From whether a declaration's corrections add tax and/or refund some, cumulatively.
    pub fn of(additional_tax: bool, drawback: bool) -> Self {
        match (additional_tax, drawback) {
            (true, true) => Self::AdditionalTaxAndDrawback,
            (true, false) => Self::AdditionalTax,
            (false, true) => Self::Drawback,
            (false, false) => Self::None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::AdditionalTax => "additionalTax",
            Self::Drawback => "drawback",
            Self::AdditionalTaxAndDrawback => "additionalTaxAndDrawback",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_level_reads_back_what_it_writes() {
        let samples = [
            (Level::Day, "2020-03-15"),
            (Level::Week, "2020-W11"),
            (Level::Month, "2020-03"),
            (Level::Quarter, "2020-Q1"),
            (Level::Year, "2020"),
            (Level::HsSection, "XVI"),
            (Level::HsChapter, "84"),
            (Level::HsHeading, "8471"),
            (Level::HsSubheading, "847130"),
            (Level::HsLine, "8471300000"),
            (Level::Origin, "CN"),
            (Level::OriginRegion, "AS"),
            (Level::Lane, "red"),
            (Level::AuditOutcome, "drawback"),
            (Level::Trader, "IMP-1"),
        ];
        for (level, code) in samples {
            let key = level.parse(code).unwrap();
            assert_eq!(level.format(&key), code, "{level}");
        }
    }

    #[test]
    fn bad_members_name_what_was_expected() {
        for (level, code) in [
            (Level::Month, "2020-13"),
            (Level::Month, "202003"),
            (Level::Day, "2020-02-30"),
            (Level::Quarter, "2020-Q5"),
            (Level::HsChapter, "8"),
            (Level::HsSection, "XXII"),
            (Level::Origin, "XX"),
            (Level::Lane, "blue"),
            (Level::Trader, ""),
            (Level::TransportMode, "6"),
            (Level::TransportMode, "45"),
        ] {
            let error = level.parse(code).unwrap_err();
            assert_eq!(error.level, level);
        }
    }

    #[test]
    fn transport_modes_are_wco_codes_and_kcs_codes_read_as_theirs() {
        let air = Level::TransportMode.parse("4").unwrap();
        assert_eq!(Level::TransportMode.parse("40").unwrap(), air);
        assert_eq!(Level::TransportMode.format(&air), "4");
        assert_eq!(Level::TransportMode.label("4"), "Air");
    }

    #[test]
    fn date_keys_follow_iso_weeks_and_quarters() {
        let d = NaiveDate::from_ymd_opt(2021, 1, 1).unwrap();
        // 1 January 2021 is a Friday of ISO week 53 of 2020.
        assert_eq!(date_keys(d), [20210101, 202053, 202101, 20211, 2021]);
    }

    #[test]
    fn chapters_fall_in_their_sections() {
        assert_eq!(section_of("01"), 1);
        assert_eq!(section_of("05"), 1);
        assert_eq!(section_of("06"), 2);
        assert_eq!(section_of("84"), 16);
        assert_eq!(section_of("85"), 16);
        assert_eq!(section_of("97"), 21);
        assert_eq!(Level::HsSection.format(&Key::Int(16)), "XVI");
    }

    #[test]
    fn countries_have_regions() {
        assert_eq!(region_of("KR"), "AS");
        assert_eq!(region_of("DE"), "EU");
        assert_eq!(region_of("BR"), "SA");
        assert_eq!(region_of("ZZ"), "ZZ");
    }
}
