//! KCS CSV batch parser: whatever the bytes and however they are chunked, the parse does not
//! panic and gives the same outcome whole and chunked. A header that is not the KCS layout is
//! an allowed outcome (`INVALID_CSV_HEADER`, before any item); with the real header prepended
//! (flags bit 0) it never happens, and every row after it is read: a line too long or not
//! UTF-8 is an item of its own with that code, other rows join a declaration of 1 to 1000 rows
//! (999 allowed, one more kept for validation to report) or are rejected as malformed.
#![no_main]

use aduana_fuzz::{Case, MAX_ITEMS, RefLine, check_items, parse_both_ways, reference_lines, short};
use domain::batch::BatchFormat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let case = Case::decode(data, true);
    let outcome = parse_both_ways(BatchFormat::KcsCsv, &case);
    let lines = reference_lines(&case.body);
    check_items(&outcome.items, &lines);

    if let Err(error) = &outcome.result {
        assert_eq!(error.code(), "INVALID_CSV_HEADER");
        assert!(
            outcome.items.is_empty(),
            "a header error comes before any item"
        );
        assert!(
            !case.with_header,
            "the real KCS header was refused: {error}"
        );
        return;
    }
    assert_eq!(lines.first(), Some(&RefLine::Text), "a header was accepted");

    // Every unreadable line after the header is an item of its own.
    let mut items = outcome.items.iter().peekable();
    for (line, kind) in (1..).zip(&lines).skip(1) {
        while items.next_if(|i| i.line < line).is_some() {}
        if kind.code().is_some() {
            let item = items.peek().filter(|i| i.line == line);
            assert!(item.is_some(), "{kind:?} line {line} is not an item");
        }
    }

    for item in &outcome.items {
        assert!(item.line >= 2, "the header row is not an item");
        match &item.parsed {
            Ok(filing) => {
                let rows = filing.filing.items.len();
                assert!(
                    (1..=MAX_ITEMS + 1).contains(&rows),
                    "item {} has {rows} rows",
                    item.item
                );
                assert_eq!(
                    filing.filing.header.invoice_currency.as_deref(),
                    Some("KRW")
                );
            }
            Err(error) if lines[item.line as usize - 1] == RefLine::Text => assert!(
                ["WRONG_COLUMN_COUNT", "MALFORMED_LINE"].contains(&error.code.as_str()),
                "{}",
                short(item)
            ),
            Err(_) => {}
        }
    }
});
