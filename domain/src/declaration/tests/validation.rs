//! Validation of raw filings: every error at once, each with a stable code and a field path.

use super::fixtures::*;
use crate::declaration::*;
use crate::duty::AssessmentPolicy;
use rust_decimal_macros::dec;

fn check(filing: &RawFiling) -> Result<DeclarationData, Vec<ValidationError>> {
    let reference = reference();
    let policy = AssessmentPolicy::korea();
    validate(
        filing,
        ValidationContext {
            reference: &reference,
            policy: &policy,
            filing_date: filing_date(),
        },
    )
}

fn errors(filing: &RawFiling) -> Vec<(String, String)> {
    check(filing)
        .unwrap_err()
        .into_iter()
        .map(|e| (e.code.as_str().to_owned(), e.path))
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(c, p)| ((*c).to_owned(), (*p).to_owned()))
        .collect()
}

#[test]
fn a_valid_filing_is_parsed_into_declaration_data() {
    let data = check(&raw_filing()).unwrap();
    assert_eq!(data.header.lrn.as_str(), "IMP-2026-0001");
    assert_eq!(
        data.header.transport_mode,
        crate::codes::TransportMode::Air,
        "KCS code 40"
    );
    assert_eq!(data.header.invoice_amount, dec!(1500.00));
    assert_eq!(data.header.filing_date, filing_date());
    assert_eq!(
        data.items[0].preference_claim.as_ref().unwrap().as_str(),
        "FCN1"
    );
    assert_eq!(data.items[1].gross_mass, Some(dec!(6)));
    assert_eq!(data.trader().unwrap().as_str(), "IMP42");
}

#[test]
fn an_empty_filing_reports_every_missing_field_and_no_items() {
    assert_eq!(
        errors(&RawFiling::default()),
        pairs(&[
            ("MISSING_FIELD", "header.declarationType"),
            ("MISSING_FIELD", "header.lrn"),
            ("MISSING_FIELD", "header.declarant"),
            ("MISSING_FIELD", "header.customsOffice"),
            ("MISSING_FIELD", "header.transportMode"),
            ("MISSING_FIELD", "header.dispatchCountry"),
            ("MISSING_FIELD", "header.incoterm"),
            ("MISSING_FIELD", "header.invoiceCurrency"),
            ("MISSING_FIELD", "header.invoiceAmount"),
            ("NO_ITEMS", "items"),
        ])
    );
}

#[test]
fn blank_item_fields_are_missing() {
    let mut filing = raw_filing();
    filing.items[1] = RawItem {
        description: Some("  ".into()),
        ..RawItem::default()
    };
    assert_eq!(
        errors(&filing),
        pairs(&[
            ("MISSING_FIELD", "items[1].hsCode"),
            ("MISSING_FIELD", "items[1].description"),
            ("MISSING_FIELD", "items[1].originCountry"),
            ("MISSING_FIELD", "items[1].quantity"),
            ("MISSING_FIELD", "items[1].unit"),
            ("MISSING_FIELD", "items[1].netMass"),
            ("MISSING_FIELD", "items[1].invoiceValue"),
        ])
    );
}

#[test]
fn malformed_codes_are_reported_with_their_own_codes() {
    let mut filing = raw_filing();
    let h = &mut filing.header;
    h.declaration_type = Some("transit".into());
    h.lrn = Some("has spaces".into());
    h.declarant = Some("???".into());
    h.customs_office = Some("x".into());
    h.transport_mode = Some("6".into());
    h.dispatch_country = Some("China".into());
    h.incoterm = Some("FOB2".into());
    h.invoice_currency = Some("usd".into());
    assert_eq!(
        errors(&filing),
        pairs(&[
            ("INVALID_DECLARATION_TYPE", "header.declarationType"),
            ("INVALID_LRN", "header.lrn"),
            ("INVALID_PARTY_ID", "header.declarant"),
            ("INVALID_OFFICE", "header.customsOffice"),
            ("INVALID_TRANSPORT_MODE", "header.transportMode"),
            ("INVALID_COUNTRY", "header.dispatchCountry"),
            ("INVALID_INCOTERM", "header.incoterm"),
            ("INVALID_CURRENCY", "header.invoiceCurrency"),
        ])
    );
}

#[test]
fn an_import_needs_an_importer_and_an_export_an_exporter() {
    let mut filing = raw_filing();
    filing.header.importer = None;
    assert_eq!(
        errors(&filing),
        pairs(&[("MISSING_FIELD", "header.importer")])
    );
    filing.header.declaration_type = Some("export".into());
    assert_eq!(
        errors(&filing),
        pairs(&[("MISSING_FIELD", "header.exporter")])
    );
    filing.header.exporter = Some("EXP7".into());
    assert!(check(&filing).is_ok());
}

#[test]
fn an_f_term_invoice_needs_freight_and_insurance_and_a_c_term_does_not() {
    let mut filing = raw_filing();
    filing.header.freight = None;
    filing.header.insurance = None;
    assert_eq!(
        errors(&filing),
        pairs(&[
            ("MISSING_FIELD", "header.freight"),
            ("MISSING_FIELD", "header.insurance")
        ])
    );
    filing.header.incoterm = Some("CFR".into());
    assert_eq!(
        errors(&filing),
        pairs(&[("MISSING_FIELD", "header.insurance")])
    );
    filing.header.incoterm = Some("CIF".into());
    assert!(check(&filing).is_ok());
}

#[test]
fn negative_and_malformed_amounts_are_refused() {
    let mut filing = raw_filing();
    filing.header.freight = Some("-1.00".into());
    filing.items[0].quantity = Some("ten".into());
    filing.items[1].net_mass = Some("-5".into());
    filing.items[1].invoice_value = Some("500.001".into());
    assert_eq!(
        errors(&filing),
        pairs(&[
            ("NEGATIVE_AMOUNT", "header.freight"),
            ("INVALID_AMOUNT", "items[0].quantity"),
            ("NEGATIVE_AMOUNT", "items[1].netMass"),
            ("INVALID_AMOUNT", "items[1].invoiceValue"),
        ])
    );
}

#[test]
fn amounts_may_not_have_more_decimals_than_the_invoice_currency() {
    let mut filing = raw_filing();
    filing.header.invoice_currency = Some("KRW".into());
    assert_eq!(
        errors(&filing),
        pairs(&[
            ("INVALID_AMOUNT", "header.invoiceAmount"),
            ("INVALID_AMOUNT", "header.freight"),
            ("INVALID_AMOUNT", "header.insurance"),
            ("INVALID_AMOUNT", "items[0].invoiceValue"),
            ("INVALID_AMOUNT", "items[1].invoiceValue"),
        ])
    );
}

#[test]
fn the_invoice_amount_must_be_the_sum_of_the_items() {
    let mut filing = raw_filing();
    filing.header.invoice_amount = Some("1499.99".into());
    assert_eq!(
        errors(&filing),
        pairs(&[("INVOICE_TOTAL_MISMATCH", "header.invoiceAmount")])
    );
}

#[test]
fn net_mass_may_not_exceed_gross_mass_but_gross_mass_is_optional() {
    let mut filing = raw_filing();
    filing.items[0].net_mass = Some("30.001".into());
    assert_eq!(
        errors(&filing),
        pairs(&[("NET_MASS_EXCEEDS_GROSS", "items[0].netMass")])
    );
    filing.items[0].gross_mass = None;
    assert!(check(&filing).is_ok());
}

#[test]
fn a_tariff_code_must_be_in_the_schedule_in_force_on_the_filing_date() {
    let mut filing = raw_filing();
    filing.items[1].hs_code = Some("8471300001".into());
    filing.items[0].hs_code = Some("84713000".into());
    assert_eq!(
        errors(&filing),
        pairs(&[
            ("INVALID_HS_CODE", "items[0].hsCode"),
            ("UNKNOWN_TARIFF_CODE", "items[1].hsCode")
        ])
    );
}

#[test]
fn a_unit_must_be_in_the_published_list_and_match_a_specific_duty() {
    let mut filing = raw_filing();
    filing.items[0].unit = Some("KGS".into());
    filing.items[1].hs_code = Some(BEEF.into());
    assert_eq!(
        errors(&filing),
        pairs(&[
            ("INVALID_UNIT", "items[0].unit"),
            ("UNIT_MISMATCH", "items[1].unit")
        ])
    );
}

#[test]
fn a_preference_claim_must_be_valid_for_the_origin() {
    let mut filing = raw_filing();
    filing.items[0].origin_country = Some("VN".into());
    filing.items[1].preference_claim = Some("FEU1".into());
    let all = check(&filing).unwrap_err();
    let got: Vec<_> = all
        .iter()
        .map(|e| (e.code.as_str(), e.path.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "PREFERENCE_NOT_VALID_FOR_ORIGIN",
                "items[0].preferenceClaim",
                "origin VN does not qualify for FCN1"
            ),
            (
                "PREFERENCE_NOT_VALID_FOR_ORIGIN",
                "items[1].preferenceClaim",
                "tariff line 8471300000 has no preferential rate under FEU1"
            ),
        ]
    );
}

#[test]
fn a_foreign_currency_needs_an_exchange_rate_in_force() {
    let mut filing = raw_filing();
    filing.header.invoice_currency = Some("EUR".into());
    assert_eq!(
        errors(&filing),
        pairs(&[("NO_EXCHANGE_RATE", "header.invoiceCurrency")])
    );
}

#[test]
fn a_declaration_has_at_most_999_items() {
    let mut filing = raw_filing();
    let item = filing.items[1].clone();
    filing.items = vec![item; 1000];
    filing.header.invoice_amount = Some("499500.00".into());
    assert_eq!(errors(&filing), pairs(&[("TOO_MANY_ITEMS", "items")]));
    filing.items.pop();
    assert!(check(&filing).is_ok());
}

#[test]
fn a_description_is_at_most_512_characters() {
    let mut filing = raw_filing();
    filing.items[0].description = Some("x".repeat(513));
    assert_eq!(
        errors(&filing),
        pairs(&[("FIELD_TOO_LONG", "items[0].description")])
    );
}

#[test]
fn a_raw_filing_reads_camel_case_json_and_errors_write_screaming_codes() {
    let json = serde_json::json!({
        "header": {"declarationType": "import", "invoiceCurrency": "USD", "invoiceAmount": "10.00"},
        "items": [{"hsCode": "8471300000", "netMass": "1.5"}]
    });
    let filing: RawFiling = serde_json::from_value(json).unwrap();
    assert_eq!(filing.items[0].net_mass.as_deref(), Some("1.5"));
    let first = check(&filing).unwrap_err().remove(0);
    let out = serde_json::to_value(&first).unwrap();
    assert_eq!(
        out,
        serde_json::json!({"code": "MISSING_FIELD", "path": "header.lrn", "message": "this field is required"})
    );
    assert_eq!(ValidationCode::DuplicateLrn.as_str(), "DUPLICATE_LRN");
    assert_eq!(
        serde_json::to_value(ValidationCode::DuplicateLrn).unwrap(),
        "DUPLICATE_LRN"
    );
}
