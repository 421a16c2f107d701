//! Reference data, risk rules, filings and actors (after the domain's own
//! `domain/src/declaration/tests/fixtures.rs`).

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use domain::Decimal;
use domain::codes::{Actor, CountryCode, CurrencyCode, HsCode, Lrn, PartyId, UnitCode};
use domain::declaration::{AssessmentContext, RawFiling, RawHeader, RawItem, declaration_id};
use domain::duty::AssessmentPolicy;
use domain::money::Percent;
use domain::reference::{DutyRate, ExchangeRate, ReferenceSnapshot, TariffLine};
use domain::risk::{Lane, RiskCondition, RiskRule, RuleSet};
use projections::declarations::Scope;
use uuid::Uuid;

pub const LAPTOPS: &str = "8471300000";
pub const SERVERS: &str = "8471410000";
pub const SHIRTS: &str = "6109100000";
pub const SHOTGUNS: &str = "9303200000";

pub fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

pub fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Minutes after 09:00 UTC on 5 March 2026.
pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 5, 9, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

pub fn reference() -> Arc<ReferenceSnapshot> {
    let pct = |s: &str| Percent::new(dec(s)).unwrap();
    let mut r = ReferenceSnapshot::new();
    for (code, duty) in [
        (LAPTOPS, "8"),
        (SERVERS, "0"),
        (SHIRTS, "13"),
        (SHOTGUNS, "8"),
    ] {
        r.add_tariff_line(
            TariffLine::new(
                HsCode::parse(code).unwrap(),
                "fixture",
                DutyRate::AdValorem { pct: pct(duty) },
                pct("10"),
                vec![],
                date("2026-01-01"),
                None,
            )
            .unwrap(),
        );
    }
    r.set_units(["KGM", "NMB"].map(|u| UnitCode::parse(u).unwrap()));
    r.add_exchange_rate(
        ExchangeRate::new(
            CurrencyCode::parse("USD").unwrap(),
            dec("1350"),
            date("2026-01-01"),
            Some(date("2026-12-31")),
        )
        .unwrap(),
    );
    Arc::new(r)
}

/// Chapter 93 goes red, Vietnamese origin yellow, everything else green.
pub fn rules() -> Arc<RuleSet> {
    Arc::new(
        RuleSet::new(
            1,
            vec![
                RiskRule {
                    id: "CH93".into(),
                    lane: Lane::Red,
                    condition: RiskCondition::TariffChapters {
                        chapters: ["93".to_owned()].into(),
                    },
                },
                RiskRule {
                    id: "ORIGIN-VN".into(),
                    lane: Lane::Yellow,
                    condition: RiskCondition::Origins {
                        countries: [CountryCode::parse("VN").unwrap()].into(),
                    },
                },
            ],
            None,
        )
        .unwrap(),
    )
}

pub fn context() -> AssessmentContext {
    AssessmentContext {
        reference: reference(),
        policy: AssessmentPolicy::korea(),
        rules: rules(),
        trader_fraud_findings: 0,
        seed: 2026,
    }
}

pub fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

/// A valid FOB import in dollars, one 100.00 item per `(tariff code, origin)`.
pub fn filing(declarant: &str, lrn: &str, office: &str, items: &[(&str, &str)]) -> RawFiling {
    RawFiling {
        header: RawHeader {
            declaration_type: s("import"),
            lrn: s(lrn),
            declarant: s(declarant),
            importer: s("IMP42"),
            exporter: None,
            customs_office: s(office),
            transport_mode: s("40"),
            dispatch_country: s("CN"),
            incoterm: s("FOB"),
            invoice_currency: s("USD"),
            invoice_amount: s(&format!("{}.00", 100 * items.len())),
            freight: s("10.00"),
            insurance: s("1.00"),
        },
        items: items
            .iter()
            .map(|(code, origin)| RawItem {
                hs_code: s(code),
                description: s("goods"),
                origin_country: s(origin),
                preference_claim: None,
                quantity: s("1"),
                unit: s("NMB"),
                net_mass: s("1"),
                gross_mass: s("2"),
                invoice_value: s("100.00"),
            })
            .collect(),
    }
}

/// The items that route a filing to `lane`.
pub fn items_for(lane: Lane) -> Vec<(&'static str, &'static str)> {
    match lane {
        Lane::Green => vec![(LAPTOPS, "JP"), (SERVERS, "CN")],
        Lane::Yellow => vec![(SHIRTS, "VN"), (LAPTOPS, "JP")],
        Lane::Red => vec![(SHOTGUNS, "IT"), (LAPTOPS, "JP")],
    }
}

pub fn declarant_actor(organisation: &str) -> Actor {
    Actor::parse(&format!("declarant/clerk@{organisation}")).unwrap()
}

pub fn officer() -> Actor {
    Actor::parse("officer/K123").unwrap()
}

pub fn id_of(declarant: &str, lrn: &str) -> Uuid {
    declaration_id(
        &PartyId::parse(declarant).unwrap(),
        &Lrn::parse(lrn).unwrap(),
    )
}

pub fn all() -> Scope {
    Scope::All
}

pub fn org(name: &str) -> Scope {
    Scope::Organisation(name.to_owned())
}
