//! NDJSON batch parser: whatever the bytes and however they are chunked, the parse does not
//! panic, gives the same items whole and chunked, and yields exactly one item per non-blank
//! line, on that line, rejected with the line's code when it is too long or not UTF-8.
#![no_main]

use aduana_fuzz::{Case, RefLine, check_items, parse_both_ways, reference_lines, short};
use domain::batch::BatchFormat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let case = Case::decode(data, false);
    let outcome = parse_both_ways(BatchFormat::Ndjson, &case);
    assert_eq!(outcome.result, Ok(()), "NDJSON has no format error");
    let lines = reference_lines(&case.body);
    check_items(&outcome.items, &lines);

    let expected: Vec<(u64, RefLine)> = (1..)
        .zip(&lines)
        .filter(|(_, kind)| **kind != RefLine::Blank)
        .map(|(line, kind)| (line, *kind))
        .collect();
    assert_eq!(
        outcome.items.len(),
        expected.len(),
        "one item per non-blank line"
    );
    for (item, (line, kind)) in outcome.items.iter().zip(expected) {
        assert_eq!(item.line, line, "item {} is line {line}", item.item);
        if kind == RefLine::Text
            && let Err(error) = &item.parsed
        {
            assert_eq!(error.code, "MALFORMED_LINE", "{}", short(item));
        }
    }
});
