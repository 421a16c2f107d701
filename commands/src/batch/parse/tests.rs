#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const KCS_HEADER: &str = "Declaration ID,Date,Office ID,Process Type,Import Type,Import Use,Payment Type,Mode of Transport,Declarant ID,Importer ID,Seller ID,Courier ID,HS6 Code,Country of Departure,Country of Origin,Tax Rate,Tax Type,Country of Origin Indicator,Net Mass,Item Price,Fraud,Critical Fraud";
const KCS_ROW: &str = "97061800,2020-01-01,30,B,11,21,11,10,ZZR1LT6,QLRUBN9,0VKY2BR,,440890,BE,BE,0.0,FEU1,G,108.0,372254.4,0,0";

/// Feeds `body` in chunks of `size` bytes.
fn parse(format: BatchFormat, body: &[u8], size: usize) -> Result<Vec<ParsedItem>, FormatError> {
    let mut parser = Parser::new(format);
    let mut out = Vec::new();
    for chunk in body.chunks(size.max(1)) {
        parser.push(chunk, &mut out)?;
    }
    parser.finish(&mut out)?;
    Ok(out)
}

fn codes(items: &[ParsedItem]) -> Vec<(u64, u64, Option<&str>)> {
    items
        .iter()
        .map(|i| {
            (
                i.item,
                i.line,
                i.parsed.as_ref().err().map(|e| e.code.as_str()),
            )
        })
        .collect()
}

#[test]
fn ndjson_lines_become_items_whatever_the_chunking() {
    let body = b"{\"header\":{\"lrn\":\"A\"},\"items\":[{\"hsCode\":\"8471300000\"}]}\r\n\n{bad json}\n\xff\xfe\n{\"header\":{\"lrn\":\"B\"},\"filingDate\":\"2020-01-02\"}";
    let whole = parse(BatchFormat::Ndjson, body, body.len()).unwrap();
    assert_eq!(
        codes(&whole),
        [
            (1, 1, None),
            (2, 3, Some("MALFORMED_LINE")),
            (3, 4, Some("INVALID_ENCODING")),
            (4, 5, None)
        ]
    );
    let first = whole[0].parsed.as_ref().unwrap();
    assert_eq!(first.filing.header.lrn.as_deref(), Some("A"));
    assert_eq!(first.filing.items[0].hs_code.as_deref(), Some("8471300000"));
    let last = whole[3].parsed.as_ref().unwrap();
    assert_eq!(last.filing_date.as_deref(), Some("2020-01-02"));
    for size in [1, 2, 3, 7, 64] {
        assert_eq!(
            parse(BatchFormat::Ndjson, body, size).unwrap(),
            whole,
            "chunks of {size}"
        );
    }
}

#[test]
fn a_line_past_the_limit_is_rejected_and_the_next_one_read() {
    let mut body = vec![b'x'; MAX_LINE_BYTES + 10];
    body.extend_from_slice(b"\n{\"header\":{\"lrn\":\"B\"}}\n");
    let items = parse(BatchFormat::Ndjson, &body, 4096).unwrap();
    assert_eq!(codes(&items), [(1, 1, Some("LINE_TOO_LONG")), (2, 2, None)]);
}

#[test]
fn a_json_value_of_the_wrong_type_is_a_malformed_line() {
    let items = parse(BatchFormat::Ndjson, b"[1,2]\n{\"header\":{\"lrn\":5}}\n", 5).unwrap();
    assert_eq!(
        codes(&items),
        [
            (1, 1, Some("MALFORMED_LINE")),
            (2, 2, Some("MALFORMED_LINE"))
        ]
    );
}

#[test]
fn a_kcs_row_maps_to_an_import_declaration_in_whole_won() {
    let body = format!("{KCS_HEADER}\n{KCS_ROW}\n");
    let items = parse(BatchFormat::KcsCsv, body.as_bytes(), 16).unwrap();
    assert_eq!(codes(&items), [(1, 2, None)]);
    let filing = items[0].parsed.as_ref().unwrap();
    assert_eq!(filing.filing_date.as_deref(), Some("2020-01-01"));
    let header = &filing.filing.header;
    assert_eq!(header.lrn.as_deref(), Some("97061800"));
    assert_eq!(header.declarant.as_deref(), Some("ZZR1LT6"));
    assert_eq!(header.importer.as_deref(), Some("QLRUBN9"));
    assert_eq!(header.customs_office.as_deref(), Some("30"));
    assert_eq!(header.transport_mode.as_deref(), Some("10"));
    assert_eq!(header.dispatch_country.as_deref(), Some("BE"));
    assert_eq!(header.invoice_currency.as_deref(), Some("KRW"));
    assert_eq!(header.invoice_amount.as_deref(), Some("372254"));
    let item = &filing.filing.items[0];
    assert_eq!(item.hs_code.as_deref(), Some("4408900000"));
    assert_eq!(item.origin_country.as_deref(), Some("BE"));
    assert_eq!(item.preference_claim.as_deref(), Some("FEU1"));
    assert_eq!(item.net_mass.as_deref(), Some("108.0"));
    assert_eq!(item.unit.as_deref(), Some("KGM"));
    assert_eq!(item.invoice_value.as_deref(), Some("372254"));
}

#[test]
fn consecutive_kcs_rows_of_one_declaration_are_its_items() {
    let second = KCS_ROW.replace("FEU1", "A").replace("372254.4", "100.9");
    let other = KCS_ROW.replace("97061800", "97061801");
    let body = format!("{KCS_HEADER}\n{KCS_ROW}\n{second}\n1,2,3\n{other}");
    let items = parse(BatchFormat::KcsCsv, body.as_bytes(), 3).unwrap();
    assert_eq!(
        codes(&items),
        [
            (1, 2, None),
            (2, 4, Some("WRONG_COLUMN_COUNT")),
            (3, 5, None)
        ]
    );
    let first = items[0].parsed.as_ref().unwrap();
    assert_eq!(first.filing.items.len(), 2);
    assert_eq!(
        first.filing.items[1].preference_claim, None,
        "A is no preference"
    );
    assert_eq!(
        first.filing.header.invoice_amount.as_deref(),
        Some("372354")
    );
}

#[test]
fn a_csv_without_the_kcs_columns_is_refused() {
    let error = parse(BatchFormat::KcsCsv, b"a,b,c\n1,2,3\n", 100).unwrap_err();
    assert_eq!(error.code(), "INVALID_CSV_HEADER");
    assert!(error.to_string().contains("Declaration ID"), "{error}");
    assert!(
        parse(BatchFormat::KcsCsv, b"", 10).is_err(),
        "no header at all"
    );
}

#[test]
fn the_kcs_sample_file_is_read_row_for_row() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/kcs-synthetic/valid.csv"
    );
    let Ok(body) = std::fs::read(path) else {
        panic!("{path} is needed (../shared/data)");
    };
    let rows = body.iter().filter(|&&b| b == b'\n').count() - 1;
    let items = parse(BatchFormat::KcsCsv, &body, 65536).unwrap();
    assert_eq!(items.len(), rows, "one declaration per row in the sample");
    assert!(items.iter().all(|i| i.parsed.is_ok()));
}

#[test]
fn prices_summing_past_the_decimal_range_leave_the_total_to_validation() {
    // Found by the kcs_csv fuzz target: the sum overflowed and panicked.
    let big = KCS_ROW.replace("372254.4", "79228162514264337593543950335");
    let one = KCS_ROW.replace("372254.4", "1");
    let body = format!("{KCS_HEADER}\n{big}\n{one}\n");
    let items = parse(BatchFormat::KcsCsv, body.as_bytes(), 7).unwrap();
    let filing = items[0].parsed.as_ref().unwrap();
    assert_eq!(filing.filing.items.len(), 2);
    assert_eq!(
        filing.filing.header.invoice_amount.as_deref(),
        Some("79228162514264337593543950335"),
        "the first price stands in; validation reports the mismatch"
    );
}

#[test]
fn quoted_csv_fields_are_read_as_rfc_4180_says() {
    let quoted = KCS_ROW.replace("ZZR1LT6", "\"ZZR,1\"");
    let body = format!("{KCS_HEADER}\n{quoted}\n");
    let items = parse(BatchFormat::KcsCsv, body.as_bytes(), 1000).unwrap();
    let filing = items[0].parsed.as_ref().unwrap();
    assert_eq!(filing.filing.header.declarant.as_deref(), Some("ZZR,1"));
}
