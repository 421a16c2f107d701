//! The oracle's facts: a plain fold of the declaration events read back from the store, their
//! payloads decoded here as JSON. Nothing of the warehouse projection is used: the levels'
//! codes, the HS sections, the regions, the rounding to the stored scales and the
//! apportionment of corrections are written out again from their specification.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use domain::Decimal;
use eventstore::{EventStore, Filter};
use futures::TryStreamExt;
use projections::warehouse::Level;
use serde_json::Value;

/// Indexes of the stored sums (money in 0.01, mass and quantity in 0.001).
pub const CV: usize = 0;
pub const DUTY: usize = 1;
pub const VAT: usize = 2;
pub const ADD: usize = 3;
pub const BACK: usize = 4;
pub const INVOICE: usize = 5;
pub const MASS: usize = 6;
pub const QUANTITY: usize = 7;

/// One item of an accepted declaration as of some instant: its members and amounts.
#[derive(Debug, Clone)]
pub struct Fact {
    pub codes: BTreeMap<Level, String>,
    pub bases: [i128; 8],
}

/// An accepted declaration: its items as accepted, and the corrections made since.
#[derive(Debug, Clone)]
struct Cleared {
    items: Vec<Fact>,
    accepted_at: i64,
    /// (at, additional tax, drawback), amounts in 0.01.
    corrections: Vec<(i64, i128, i128)>,
}

/// What the events say.
#[derive(Debug, Default)]
pub struct Oracle {
    cleared: Vec<Cleared>,
}

/// One version of a declaration's data and what was assessed for it.
#[derive(Debug, Default)]
struct Version {
    data: Option<Value>,
    lane: Option<String>,
    assessment: Option<Value>,
}

impl Oracle {
    /// Folds every declaration event in the store.
    pub async fn read(store: &EventStore) -> Oracle {
        let mut versions: HashMap<(String, u64), Version> = HashMap::new();
        let mut cleared: HashMap<String, Cleared> = HashMap::new();
        let mut order = Vec::new();
        let mut events =
            std::pin::pin!(store.read_all(0, Filter::categories(["declaration"]), usize::MAX));
        while let Some(event) = events.try_next().await.unwrap() {
            let p: Value = serde_json::from_str(&event.payload).unwrap();
            let stream = event.stream_id.clone();
            let version = || (stream.clone(), p["version"].as_u64().unwrap());
            match event.event_type.as_str() {
                "DeclarationFiled" | "DeclarationAmended" => {
                    versions.entry(version()).or_default().data = Some(p["data"].clone());
                }
                "RiskAssessed" => {
                    let lane = p["outcome"]["lane"].as_str().unwrap().to_owned();
                    versions.entry(version()).or_default().lane = Some(lane);
                }
                "DutiesAssessed" => {
                    versions.entry(version()).or_default().assessment =
                        Some(p["assessment"].clone());
                }
                "DeclarationAccepted" => {
                    let v = &versions[&version()];
                    let items = facts_of(
                        v.data.as_ref().unwrap(),
                        v.lane.as_deref().unwrap(),
                        v.assessment.as_ref().unwrap(),
                    );
                    order.push(stream.clone());
                    cleared.insert(
                        stream.clone(),
                        Cleared {
                            items,
                            accepted_at: micros(&p["at"]),
                            corrections: Vec::new(),
                        },
                    );
                }
                "DeclarationCorrected" => {
                    let add = cents(&p["additionalTax"]);
                    let back = cents(&p["drawback"]);
                    cleared.get_mut(&stream).unwrap().corrections.push((
                        micros(&p["at"]),
                        add,
                        back,
                    ));
                }
                _ => {}
            }
        }
        Oracle {
            cleared: order.iter().map(|s| cleared[s].clone()).collect(),
        }
    }

    /// The instants at which the warehouse changed (acceptances and corrections, in µs).
    pub fn instants(&self) -> Vec<i64> {
        let mut all: Vec<i64> = self
            .cleared
            .iter()
            .flat_map(|c| std::iter::once(c.accepted_at).chain(c.corrections.iter().map(|x| x.0)))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// The facts as the warehouse stood at `as_of` (µs; `None`: now): declarations accepted
    /// by then, with the corrections made by then, cumulated and apportioned to the items by
    /// customs value.
    pub fn facts(&self, as_of: Option<i64>) -> Vec<Fact> {
        let by_then = |at: i64| as_of.is_none_or(|t| at <= t);
        let mut facts = Vec::new();
        for declaration in &self.cleared {
            if !by_then(declaration.accepted_at) {
                continue;
            }
            let (mut add, mut back) = (0i128, 0i128);
            for &(at, a, b) in &declaration.corrections {
                if by_then(at) {
                    add += a;
                    back += b;
                }
            }
            let weights: Vec<i128> = declaration.items.iter().map(|f| f.bases[CV]).collect();
            let outcome = match (add != 0, back != 0) {
                (false, false) => "none",
                (true, false) => "additionalTax",
                (false, true) => "drawback",
                (true, true) => "additionalTaxAndDrawback",
            };
            let adds = apportion(add, &weights);
            let backs = apportion(back, &weights);
            for (i, item) in declaration.items.iter().enumerate() {
                let mut fact = item.clone();
                fact.bases[ADD] = adds[i];
                fact.bases[BACK] = backs[i];
                fact.codes.insert(Level::AuditOutcome, outcome.to_owned());
                facts.push(fact);
            }
        }
        facts
    }
}

/// Every share but the last is the exact proportional share truncated toward zero; the last
/// takes the rest, so the shares add up to `total`. Equal shares when the weights add to 0.
fn apportion(total: i128, weights: &[i128]) -> Vec<i128> {
    let sum: i128 = weights.iter().sum();
    let n = weights.len();
    let mut shares: Vec<i128> = weights[..n - 1]
        .iter()
        .map(|w| {
            if sum == 0 {
                total / n as i128
            } else {
                total * w / sum
            }
        })
        .collect();
    shares.push(total - shares.iter().sum::<i128>());
    shares
}

fn micros(at: &Value) -> i64 {
    at.as_str()
        .unwrap()
        .parse::<DateTime<Utc>>()
        .unwrap()
        .timestamp_micros()
}

fn decimal(v: &Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

/// `mantissa × 10^-scale` to `places` decimals, half away from zero, as an integer count.
fn rounded(mantissa: i128, scale: u32, places: u32) -> i128 {
    if scale <= places {
        return mantissa * 10i128.pow(places - scale);
    }
    let unit = 10i128.pow(scale - places);
    let (q, r) = (mantissa / unit, mantissa % unit);
    if 2 * r.abs() >= unit {
        q + mantissa.signum()
    } else {
        q
    }
}

fn scaled(d: Decimal, places: u32) -> i128 {
    rounded(d.mantissa(), d.scale(), places)
}

fn cents(v: &Value) -> i128 {
    scaled(decimal(v), 2)
}

/// The facts of an accepted version: one per item.
fn facts_of(data: &Value, lane: &str, assessment: &Value) -> Vec<Fact> {
    let h = &data["header"];
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    let regime = text(&h["declarationType"]);
    let trader = match regime.as_str() {
        "import" => &h["importer"],
        _ => &h["exporter"],
    };
    let filed: NaiveDate = h["filingDate"].as_str().unwrap().parse().unwrap();
    let week = filed.iso_week();
    let mut common = BTreeMap::from([
        (Level::Day, filed.format("%Y-%m-%d").to_string()),
        (
            Level::Week,
            format!("{:04}-W{:02}", week.year(), week.week()),
        ),
        (Level::Month, filed.format("%Y-%m").to_string()),
        (
            Level::Quarter,
            format!("{:04}-Q{}", filed.year(), filed.month0() / 3 + 1),
        ),
        (Level::Year, filed.year().to_string()),
        (Level::Dispatch, text(&h["dispatchCountry"])),
        (Level::Trader, text(trader)),
        (Level::Declarant, text(&h["declarant"])),
        (Level::Office, text(&h["customsOffice"])),
        (Level::TransportMode, h["transportMode"].to_string()),
        (Level::Lane, lane.to_owned()),
        (Level::Regime, regime.clone()),
    ]);
    common.insert(Level::AuditOutcome, "none".to_owned());
    // The invoice value at the assessment's rate (none: the national currency).
    let rate = match &assessment["exchangeRate"] {
        Value::Null => Decimal::ONE,
        r => decimal(&r["rate"]),
    };
    let items = data["items"].as_array().unwrap();
    let amounts = assessment["items"].as_array().unwrap();
    assert_eq!(items.len(), amounts.len(), "one assessment per item");
    items
        .iter()
        .zip(amounts)
        .map(|(item, amount)| {
            let hs = text(&item["hsCode"]);
            let origin = text(&item["originCountry"]);
            let mut codes = common.clone();
            codes.insert(Level::HsSection, section(&hs[..2]).to_owned());
            codes.insert(Level::HsChapter, hs[..2].to_owned());
            codes.insert(Level::HsHeading, hs[..4].to_owned());
            codes.insert(Level::HsSubheading, hs[..6].to_owned());
            codes.insert(Level::HsLine, hs.clone());
            codes.insert(Level::OriginRegion, region(&origin).to_owned());
            codes.insert(Level::Origin, origin);
            let preference = match &amount["preference"] {
                Value::Null => "none".to_owned(),
                p => text(&p["agreement"]),
            };
            codes.insert(Level::Preference, preference);
            let invoice = decimal(&amount["invoiceValue"]);
            let mut bases = [0i128; 8];
            bases[CV] = cents(&amount["customsValue"]);
            bases[DUTY] = cents(&amount["duty"]);
            bases[VAT] = cents(&amount["vat"]);
            bases[INVOICE] = rounded(
                invoice.mantissa() * rate.mantissa(),
                invoice.scale() + rate.scale(),
                2,
            );
            bases[MASS] = scaled(decimal(&item["netMass"]), 3);
            bases[QUANTITY] = scaled(decimal(&item["quantity"]), 3);
            Fact { codes, bases }
        })
        .collect()
}

/// The HS sections, by the first and last chapter of each (HS 2022 nomenclature).
pub const SECTIONS: [(&str, u32, u32); 21] = [
    ("I", 1, 5),
    ("II", 6, 14),
    ("III", 15, 15),
    ("IV", 16, 24),
    ("V", 25, 27),
    ("VI", 28, 38),
    ("VII", 39, 40),
    ("VIII", 41, 43),
    ("IX", 44, 46),
    ("X", 47, 49),
    ("XI", 50, 63),
    ("XII", 64, 67),
    ("XIII", 68, 70),
    ("XIV", 71, 71),
    ("XV", 72, 83),
    ("XVI", 84, 85),
    ("XVII", 86, 89),
    ("XVIII", 90, 92),
    ("XIX", 93, 93),
    ("XX", 94, 96),
    ("XXI", 97, 99),
];

fn section(chapter: &str) -> &'static str {
    let n: u32 = chapter.parse().unwrap();
    SECTIONS
        .iter()
        .find(|s| (s.1..=s.2).contains(&n))
        .unwrap()
        .0
}

/// The section's number: sections order by number, not by numeral.
pub fn section_number(numeral: &str) -> i64 {
    SECTIONS.iter().position(|s| s.0 == numeral).unwrap() as i64 + 1
}

/// The continent of each country the histories use.
fn region(country: &str) -> &'static str {
    match country {
        "CN" | "JP" | "VN" | "IN" => "AS",
        "US" => "NA",
        "DE" | "IT" => "EU",
        "AU" => "OC",
        "BR" => "SA",
        "ZA" => "AF",
        other => panic!("no region for {other}"),
    }
}
