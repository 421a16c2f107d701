//! Reference data, rules, filings and commands shared by the declaration tests.

use crate::codes::{
    Actor, AgreementCode, CountryCode, CurrencyCode, HsCode, Lrn, PartyId, UnitCode,
};
use crate::declaration::*;
use crate::duty::AssessmentPolicy;
use crate::money::Percent;
use crate::reference::{DutyRate, ExchangeRate, PreferentialRate, ReferenceSnapshot, TariffLine};
use crate::risk::{Lane, RandomInspection, RiskCondition, RiskRule, RuleSet};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::sync::Arc;
use uuid::Uuid;

pub const COMPUTERS: &str = "8471300000";
pub const BEEF: &str = "0201300000";
pub const SHOTGUNS: &str = "9303200000";

pub fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

pub fn filing_date() -> NaiveDate {
    date("2026-03-05")
}

/// Minutes after 09:00 UTC on the filing date.
pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 5, 9, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

pub fn declarant() -> Actor {
    Actor::parse("declarant/BROKER1").unwrap()
}

pub fn officer() -> Actor {
    Actor::parse("officer/K123").unwrap()
}

fn pct(d: Decimal) -> Percent {
    Percent::new(d).unwrap()
}

fn line(code: &str, duty: DutyRate, preferences: Vec<PreferentialRate>) -> TariffLine {
    TariffLine::new(
        HsCode::parse(code).unwrap(),
        "fixture",
        duty,
        pct(dec!(10)),
        preferences,
        date("2026-01-01"),
        None,
    )
    .unwrap()
}

pub fn reference() -> Arc<ReferenceSnapshot> {
    let mut r = ReferenceSnapshot::new();
    r.add_tariff_line(line(
        COMPUTERS,
        DutyRate::AdValorem { pct: pct(dec!(8)) },
        vec![PreferentialRate {
            agreement: AgreementCode::parse("FCN1").unwrap(),
            origins: [CountryCode::parse("CN").unwrap()].into(),
            pct: pct(dec!(0)),
        }],
    ));
    r.add_tariff_line(line(
        BEEF,
        DutyRate::Specific {
            amount: dec!(1300),
            unit: UnitCode::parse("KGM").unwrap(),
        },
        vec![],
    ));
    r.add_tariff_line(line(
        SHOTGUNS,
        DutyRate::AdValorem { pct: pct(dec!(8)) },
        vec![],
    ));
    r.set_units(["KGM", "NMB", "LTR", "C62"].map(|u| UnitCode::parse(u).unwrap()));
    let usd = CurrencyCode::parse("USD").unwrap();
    r.add_exchange_rate(
        ExchangeRate::new(
            usd,
            dec!(1350),
            date("2026-03-01"),
            Some(date("2026-03-07")),
        )
        .unwrap(),
    );
    Arc::new(r)
}

pub fn rules(random: Option<RandomInspection>) -> Arc<RuleSet> {
    let rule = |id: &str, lane, condition| RiskRule {
        id: id.into(),
        lane,
        condition,
    };
    Arc::new(
        RuleSet::new(
            3,
            vec![
                rule(
                    "CH93",
                    Lane::Red,
                    RiskCondition::TariffChapters {
                        chapters: ["93".to_owned()].into(),
                    },
                ),
                rule(
                    "ORIGIN-VN",
                    Lane::Yellow,
                    RiskCondition::Origins {
                        countries: [CountryCode::parse("VN").unwrap()].into(),
                    },
                ),
            ],
            random,
        )
        .unwrap(),
    )
}

pub fn context() -> AssessmentContext {
    AssessmentContext {
        reference: reference(),
        policy: AssessmentPolicy::korea(),
        rules: rules(None),
        trader_fraud_findings: 0,
        seed: 2026,
    }
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

/// A valid import of two laptops lines, FOB in dollars: green unless changed.
pub fn raw_filing() -> RawFiling {
    RawFiling {
        header: RawHeader {
            declaration_type: s("import"),
            lrn: s("IMP-2026-0001"),
            declarant: s("BROKER1"),
            importer: s("IMP42"),
            exporter: None,
            customs_office: s("30"),
            transport_mode: s("40"),
            dispatch_country: s("CN"),
            incoterm: s("FOB"),
            invoice_currency: s("USD"),
            invoice_amount: s("1500.00"),
            freight: s("100.00"),
            insurance: s("5.00"),
        },
        items: vec![
            RawItem {
                hs_code: s(COMPUTERS),
                description: s("Laptop computers"),
                origin_country: s("CN"),
                preference_claim: s("FCN1"),
                quantity: s("10"),
                unit: s("NMB"),
                net_mass: s("25.5"),
                gross_mass: s("30"),
                invoice_value: s("1000.00"),
            },
            RawItem {
                hs_code: s(COMPUTERS),
                description: s("Tablets"),
                origin_country: s("JP"),
                preference_claim: None,
                quantity: s("5"),
                unit: s("NMB"),
                net_mass: s("5"),
                gross_mass: s("6"),
                invoice_value: s("500.00"),
            },
        ],
    }
}

/// The fixture filing routed to `lane`: VN origin for yellow, a chapter 93 line for red.
pub fn raw_filing_for(lane: Lane) -> RawFiling {
    let mut f = raw_filing();
    match lane {
        Lane::Green => {}
        Lane::Yellow => f.items[1].origin_country = s("VN"),
        Lane::Red => f.items[1].hs_code = s(SHOTGUNS),
    }
    f
}

pub fn id() -> Uuid {
    declaration_id(
        &PartyId::parse("BROKER1").unwrap(),
        &Lrn::parse("IMP-2026-0001").unwrap(),
    )
}

pub fn file(filing: RawFiling) -> DeclarationCommand {
    DeclarationCommand::File(FileDeclaration {
        declaration_id: id(),
        filing,
        filing_date: filing_date(),
        context: context(),
        actor: declarant(),
        at: at(0),
    })
}

/// The events of a successful filing in `lane` (yellow and red await an officer).
pub fn filed(lane: Lane) -> Vec<DeclarationEvent> {
    decide(&Declaration::default(), file(raw_filing_for(lane))).unwrap()
}

/// `filed(lane)` followed by an inspection with this result.
pub fn inspected(lane: Lane, result: InspectionResult) -> Vec<DeclarationEvent> {
    let mut events = filed(lane);
    events.push(DeclarationEvent::InspectionRecorded(InspectionRecorded {
        declaration_id: id(),
        version: 1,
        kind: InspectionKind::Physical,
        result,
        notes: String::new(),
        at: at(30),
        actor: officer(),
    }));
    events
}

/// A red declaration inspected and accepted by the officer.
pub fn cleared() -> Vec<DeclarationEvent> {
    let mut events = inspected(Lane::Red, InspectionResult::Compliant);
    events.push(DeclarationEvent::DeclarationAccepted(DeclarationAccepted {
        declaration_id: id(),
        version: 1,
        automatic: false,
        at: at(40),
        actor: officer(),
    }));
    events
}
