#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::reference::{PreferentialRate, TariffLine};
use rust_decimal_macros::dec;

fn hs(s: &str) -> HsCode {
    HsCode::parse(s).unwrap()
}
fn cc(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap()
}
fn cur(s: &str) -> CurrencyCode {
    CurrencyCode::parse(s).unwrap()
}
fn unit(s: &str) -> UnitCode {
    UnitCode::parse(s).unwrap()
}
fn pct(d: Decimal) -> Percent {
    Percent::new(d).unwrap()
}
fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

const COMPUTERS: &str = "8471300000";
const BEEF: &str = "0201300000";
const TILES: &str = "6907220000";
const WATCHES: &str = "9102110000";

fn line(
    code: &str,
    duty: DutyRate,
    vat: Decimal,
    preferences: Vec<PreferentialRate>,
) -> TariffLine {
    TariffLine::new(
        hs(code),
        "test line",
        duty,
        pct(vat),
        preferences,
        date("2026-01-01"),
        None,
    )
    .unwrap()
}

fn reference() -> ReferenceSnapshot {
    let mut r = ReferenceSnapshot::new();
    r.add_tariff_line(line(
        COMPUTERS,
        DutyRate::AdValorem { pct: pct(dec!(8)) },
        dec!(10),
        vec![PreferentialRate {
            agreement: AgreementCode::parse("FCN1").unwrap(),
            origins: [cc("CN")].into(),
            pct: pct(dec!(5.2)),
        }],
    ));
    r.add_tariff_line(line(
        BEEF,
        DutyRate::Specific {
            amount: dec!(1300),
            unit: unit("KGM"),
        },
        dec!(10),
        vec![],
    ));
    r.add_tariff_line(line(
        TILES,
        DutyRate::Compound {
            pct: pct(dec!(3)),
            amount: dec!(500),
            unit: unit("KGM"),
        },
        dec!(10),
        vec![],
    ));
    r.add_tariff_line(line(
        WATCHES,
        DutyRate::AdValorem { pct: pct(dec!(2)) },
        dec!(20),
        vec![],
    ));
    r.add_exchange_rate(
        ExchangeRate::new(
            cur("USD"),
            dec!(1350.25),
            date("2026-03-01"),
            Some(date("2026-03-07")),
        )
        .unwrap(),
    );
    r.add_exchange_rate(
        ExchangeRate::new(
            cur("USD"),
            dec!(1300),
            date("2026-03-08"),
            Some(date("2026-03-14")),
        )
        .unwrap(),
    );
    r
}

struct Item {
    hs: HsCode,
    origin: CountryCode,
    claim: Option<AgreementCode>,
    quantity: Decimal,
    unit: UnitCode,
    value: Decimal,
}

fn item(code: &str, value: Decimal) -> Item {
    Item {
        hs: hs(code),
        origin: cc("JP"),
        claim: None,
        quantity: dec!(1),
        unit: unit("NMB"),
        value,
    }
}

struct Filing {
    kind: DeclarationType,
    incoterm: Incoterm,
    currency: CurrencyCode,
    freight: Decimal,
    insurance: Decimal,
    date: NaiveDate,
    items: Vec<Item>,
}

impl Filing {
    fn new(currency: &str, incoterm: Incoterm, items: Vec<Item>) -> Self {
        Self {
            kind: DeclarationType::Import,
            incoterm,
            currency: cur(currency),
            freight: Decimal::ZERO,
            insurance: Decimal::ZERO,
            date: date("2026-03-05"),
            items,
        }
    }

    fn input(&self) -> AssessmentInput<'_> {
        AssessmentInput {
            declaration_type: self.kind,
            incoterm: self.incoterm,
            invoice_currency: self.currency,
            freight: self.freight,
            insurance: self.insurance,
            filing_date: self.date,
            items: self
                .items
                .iter()
                .map(|i| ItemInput {
                    hs_code: &i.hs,
                    origin: i.origin,
                    preference_claim: i.claim.as_ref(),
                    quantity: i.quantity,
                    unit: &i.unit,
                    invoice_value: i.value,
                })
                .collect(),
        }
    }

    fn assess(&self, policy: &AssessmentPolicy) -> Result<Assessment, Vec<AssessmentError>> {
        assess(&self.input(), &reference(), policy)
    }
}

#[test]
fn the_public_worked_example_holds_in_a_two_decimal_currency() {
    // Value 1000.00, duty 2 % → 20.00; VAT 20 % on 1020.00 → 204.00.
    let mut r = ReferenceSnapshot::new();
    r.add_tariff_line(line(
        WATCHES,
        DutyRate::AdValorem { pct: pct(dec!(2)) },
        dec!(20),
        vec![],
    ));
    let f = Filing::new("EUR", Incoterm::Cif, vec![item(WATCHES, dec!(1000.00))]);
    let a = assess(&f.input(), &r, &AssessmentPolicy::half_up(cur("EUR"))).unwrap();
    let i = &a.items[0];
    assert_eq!(i.customs_value.to_string(), "1000.00");
    assert_eq!(i.duty.to_string(), "20.00");
    assert_eq!(i.vat_base.to_string(), "1020.00");
    assert_eq!(i.vat.to_string(), "204.00");
    assert_eq!(a.totals.taxes.to_string(), "224.00");
    assert_eq!(
        a.exchange_rate, None,
        "an invoice in the national currency is not converted"
    );
}

#[test]
fn an_ad_valorem_duty_is_a_percentage_of_the_customs_value_truncated_to_ten_won() {
    let f = Filing::new("KRW", Incoterm::Cif, vec![item(COMPUTERS, dec!(1234567))]);
    let a = f.assess(&AssessmentPolicy::korea()).unwrap();
    let i = &a.items[0];
    assert_eq!(i.customs_value, dec!(1234567));
    assert_eq!(i.ad_valorem_duty, dec!(98765.36));
    assert_eq!(i.duty, dec!(98760));
    assert_eq!(i.vat_base, dec!(1333327));
    assert_eq!(i.vat, dec!(133330), "133,332.7 truncated to tens");
    assert_eq!(a.totals.taxes, dec!(232090));
}

#[test]
fn half_up_and_truncation_differ_only_at_the_last_digit() {
    let f = Filing::new("KRW", Incoterm::Cif, vec![item(COMPUTERS, dec!(1234567))]);
    let a = f.assess(&AssessmentPolicy::half_up(cur("KRW"))).unwrap();
    assert_eq!(
        a.items[0].duty,
        dec!(98765),
        "98,765.36 half up to whole won"
    );
    assert_eq!(
        a.items[0].vat,
        dec!(133333),
        "133,333.2 half up to whole won"
    );
}

#[test]
fn a_specific_duty_is_the_quantity_times_the_amount_per_unit() {
    let mut beef = item(BEEF, dec!(2000000));
    beef.quantity = dec!(250);
    beef.unit = unit("KGM");
    let a = Filing::new("KRW", Incoterm::Cif, vec![beef])
        .assess(&AssessmentPolicy::korea())
        .unwrap();
    let i = &a.items[0];
    assert_eq!(i.ad_valorem_pct, None);
    assert_eq!(i.specific_duty, dec!(325000));
    assert_eq!(i.duty, dec!(325000));
    assert_eq!(i.vat, dec!(232500));
}

#[test]
fn a_specific_duty_refuses_a_quantity_in_another_unit() {
    let beef = item(BEEF, dec!(2000000)); // declared in NMB
    let errors = Filing::new("KRW", Incoterm::Cif, vec![beef])
        .assess(&AssessmentPolicy::korea())
        .unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code(), "UNIT_MISMATCH");
    assert_eq!(errors[0].path(), "items[0].unit");
}

#[test]
fn a_compound_duty_adds_the_ad_valorem_and_specific_parts() {
    let mut tiles = item(TILES, dec!(1000000));
    tiles.quantity = dec!(100);
    tiles.unit = unit("KGM");
    let a = Filing::new("KRW", Incoterm::Cif, vec![tiles])
        .assess(&AssessmentPolicy::korea())
        .unwrap();
    let i = &a.items[0];
    assert_eq!(i.ad_valorem_duty, dec!(30000));
    assert_eq!(i.specific_duty, dec!(50000));
    assert_eq!(i.duty, dec!(80000));
    assert_eq!(i.vat, dec!(108000));
}

#[test]
fn a_valid_preference_claim_replaces_the_ad_valorem_rate() {
    let mut computers = item(COMPUTERS, dec!(375751));
    computers.origin = cc("CN");
    computers.claim = Some(AgreementCode::parse("FCN1").unwrap());
    let a = Filing::new("KRW", Incoterm::Cif, vec![computers])
        .assess(&AssessmentPolicy::korea())
        .unwrap();
    let i = &a.items[0];
    assert_eq!(i.preference.as_ref().unwrap().agreement.as_str(), "FCN1");
    assert_eq!(i.ad_valorem_pct, Some(pct(dec!(5.2))));
    assert_eq!(
        i.duty_rate,
        DutyRate::AdValorem { pct: pct(dec!(8)) },
        "the general rate is recorded too"
    );
    assert_eq!(i.ad_valorem_duty, dec!(19539.052));
    assert_eq!(i.duty, dec!(19530));
    assert_eq!(i.vat, dec!(39520), "10 % of 395,281 truncated to tens");
}

#[test]
fn a_preference_claim_for_an_origin_the_agreement_does_not_cover_is_refused() {
    let mut vn = item(COMPUTERS, dec!(1000));
    vn.origin = cc("VN");
    vn.claim = Some(AgreementCode::parse("FCN1").unwrap());
    let mut eu = item(COMPUTERS, dec!(1000));
    eu.claim = Some(AgreementCode::parse("FEU1").unwrap());
    let errors = Filing::new("KRW", Incoterm::Cif, vec![vn, eu])
        .assess(&AssessmentPolicy::korea())
        .unwrap_err();
    assert_eq!(errors.len(), 2);
    assert!(
        errors
            .iter()
            .all(|e| e.code() == "PREFERENCE_NOT_VALID_FOR_ORIGIN")
    );
    assert_eq!(errors[0].path(), "items[0].preferenceClaim");
    assert_eq!(errors[1].path(), "items[1].preferenceClaim");
}

#[test]
fn a_foreign_currency_invoice_is_converted_at_the_rate_in_force_on_the_filing_date() {
    let f = Filing::new("USD", Incoterm::Cif, vec![item(COMPUTERS, dec!(1234.56))]);
    let a = f.assess(&AssessmentPolicy::korea()).unwrap();
    let rate = a.exchange_rate.as_ref().unwrap();
    assert_eq!(
        (rate.rate, rate.valid_from),
        (dec!(1350.25), date("2026-03-01"))
    );
    let i = &a.items[0];
    assert_eq!(
        i.customs_value,
        dec!(1666964),
        "1,666,964.64 truncated to whole won"
    );
    assert_eq!(i.duty, dec!(133350));
    assert_eq!(i.vat, dec!(180030), "10 % of 1,800,314 truncated to tens");

    let mut next_week = Filing::new("USD", Incoterm::Cif, vec![item(COMPUTERS, dec!(1234.56))]);
    next_week.date = date("2026-03-08");
    assert_eq!(
        next_week.assess(&AssessmentPolicy::korea()).unwrap().items[0].customs_value,
        dec!(1604928)
    );
}

#[test]
fn a_currency_without_a_rate_in_force_cannot_be_assessed() {
    let mut f = Filing::new("USD", Incoterm::Cif, vec![item(COMPUTERS, dec!(1))]);
    f.date = date("2026-04-01");
    let errors = f.assess(&AssessmentPolicy::korea()).unwrap_err();
    assert_eq!(errors[0].code(), "NO_EXCHANGE_RATE");
    assert_eq!(errors[0].path(), "header.invoiceCurrency");
}

#[test]
fn a_fob_invoice_adds_freight_and_insurance_apportioned_by_invoice_value() {
    let mut f = Filing::new(
        "USD",
        Incoterm::Fob,
        vec![
            item(COMPUTERS, dec!(600.00)),
            item(COMPUTERS, dec!(300.00)),
            item(COMPUTERS, dec!(100.00)),
        ],
    );
    f.date = date("2026-03-10"); // 1,300 won per dollar
    f.freight = dec!(100.00);
    f.insurance = dec!(10.01);
    let a = f.assess(&AssessmentPolicy::korea()).unwrap();
    assert!(a.freight_added && a.insurance_added);
    let shares: Vec<(String, String)> = a
        .items
        .iter()
        .map(|i| (i.freight.to_string(), i.insurance.to_string()))
        .collect();
    assert_eq!(
        shares,
        [
            ("60.00".into(), "6.00".into()),
            ("30.00".into(), "3.00".into()),
            ("10.00".into(), "1.01".into())
        ]
    );
    let values: Vec<Decimal> = a.items.iter().map(|i| i.customs_value).collect();
    assert_eq!(values, [dec!(865800), dec!(432900), dec!(144313)]);
    assert_eq!(
        a.totals.customs_value,
        dec!(1443013),
        "the sum of the items, 1,110.01 dollars"
    );
    assert_eq!(
        a.totals.duty,
        a.items.iter().map(|i| i.duty).sum::<Decimal>()
    );
}

#[test]
fn a_cfr_invoice_adds_insurance_only_and_a_cif_invoice_adds_nothing() {
    for (incoterm, expected) in [
        (Incoterm::Cfr, dec!(1005)),
        (Incoterm::Cif, dec!(1000)),
        (Incoterm::Exw, dec!(1055)),
    ] {
        let mut f = Filing::new("KRW", incoterm, vec![item(COMPUTERS, dec!(1000))]);
        f.freight = dec!(50);
        f.insurance = dec!(5);
        assert_eq!(
            f.assess(&AssessmentPolicy::korea())
                .unwrap()
                .totals
                .customs_value,
            expected,
            "{incoterm}"
        );
    }
}

#[test]
fn the_allocation_remainder_goes_to_the_last_item() {
    assert_eq!(
        allocate(dec!(100.00), &[dec!(1), dec!(1), dec!(1)], 2),
        [dec!(33.33), dec!(33.33), dec!(33.34)]
    );
    assert_eq!(
        allocate(dec!(0.01), &[dec!(1), dec!(1), dec!(0)], 2),
        [dec!(0.00), dec!(0.00), dec!(0.01)]
    );
    assert_eq!(
        allocate(dec!(10), &[dec!(0), dec!(0)], 0),
        [dec!(5), dec!(5)],
        "equal shares when all values are zero"
    );
    assert_eq!(allocate(dec!(7), &[dec!(5)], 0), [dec!(7)]);
    assert!(allocate(dec!(7), &[], 0).is_empty());
    let shares = allocate(dec!(999.99), &[dec!(3), dec!(7), dec!(11), dec!(13)], 2);
    assert_eq!(shares.iter().sum::<Decimal>(), dec!(999.99));
    assert!(shares.iter().all(|s| *s >= Decimal::ZERO));
}

#[test]
fn every_error_is_reported_at_once() {
    let mut f = Filing::new(
        "USD",
        Incoterm::Cif,
        vec![item("0000000000", dec!(1)), item(BEEF, dec!(1))],
    );
    f.date = date("2026-05-01");
    let codes: Vec<&str> = f
        .assess(&AssessmentPolicy::korea())
        .unwrap_err()
        .iter()
        .map(AssessmentError::code)
        .collect();
    assert_eq!(
        codes,
        ["NO_EXCHANGE_RATE", "UNKNOWN_TARIFF_CODE", "UNIT_MISMATCH"]
    );
}

#[test]
fn an_export_declaration_has_customs_values_and_no_taxes() {
    let mut f = Filing::new(
        "USD",
        Incoterm::Fob,
        vec![item(COMPUTERS, dec!(100)), item(BEEF, dec!(50))],
    );
    f.kind = DeclarationType::Export;
    let a = f.assess(&AssessmentPolicy::korea()).unwrap();
    assert_eq!(
        a.totals.customs_value,
        dec!(202537),
        "135,025 + 67,512 (each truncated)"
    );
    assert_eq!(a.totals.taxes, Decimal::ZERO);
    assert!(
        a.items
            .iter()
            .all(|i| i.ad_valorem_pct.is_none() && i.vat_pct == Percent::ZERO)
    );
}

#[test]
fn an_assessment_records_its_rates_with_decimals_as_strings() {
    let f = Filing::new("USD", Incoterm::Cif, vec![item(COMPUTERS, dec!(1234.56))]);
    let a = f.assess(&AssessmentPolicy::korea()).unwrap();
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["exchangeRate"]["rate"], "1350.25");
    assert_eq!(json["exchangeRate"]["validFrom"], "2026-03-01");
    assert_eq!(
        json["policy"]["taxRounding"],
        serde_json::json!({"mode": "truncate", "decimalPlaces": -1})
    );
    assert_eq!(
        json["items"][0]["dutyRate"],
        serde_json::json!({"kind": "adValorem", "pct": "8"})
    );
    assert_eq!(json["items"][0]["customsValue"], "1666964");
    assert_eq!(json["totals"]["taxes"], "313380");
    assert_eq!(serde_json::from_value::<Assessment>(json).unwrap(), a);
}
