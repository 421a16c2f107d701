//! What the batch-parser fuzz targets share: how a fuzz input becomes a body and a chunking,
//! and the properties every parse must have. A property that does not hold panics, which
//! libFuzzer reports as a crash. See `docs/fuzzing.md`.
//!
//! An input is `[flags, seed_lo, seed_hi, body…]` (missing bytes read as 0):
//! - `flags` bit 0: prepend the real KCS header line (the CSV target only), so the row path is
//!   reached without the fuzzer having to guess twelve column names;
//! - `flags` bits 1–4 all set: splice a run of `MAX_LINE_BYTES - 2 + (flags >> 6)` filler bytes
//!   (`x`, or a space when bit 5 is set) into the body, at `seed % (len + 1)`, so lines just
//!   under, at and over [`MAX_LINE_BYTES`] are reached in every run, not only when the fuzzer
//!   happens to grow an input past 1 MiB. One random input in sixteen: such a case costs as
//!   much as a thousand small ones;
//! - `seed`: the chunk sizes the body is pushed in (see [`Case::chunks`]).

use std::borrow::Cow;
use std::fmt::Debug;

use commands::batch::parse::{FormatError, MAX_LINE_BYTES, ParsedItem, Parser};
use domain::batch::BatchFormat;

/// The header row of `shared/data/kcs-synthetic/train.csv`.
pub const KCS_HEADER: &str = "Declaration ID,Date,Office ID,Process Type,Import Type,Import Use,Payment Type,Mode of Transport,Declarant ID,Importer ID,Seller ID,Courier ID,HS6 Code,Country of Departure,Country of Origin,Tax Rate,Tax Type,Country of Origin Indicator,Net Mass,Item Price,Fraud,Critical Fraud";

/// Most items a CSV declaration may have (private `MAX_ITEMS` in `parse.rs`); the parser keeps
/// one row more so that validation reports the excess.
pub const MAX_ITEMS: usize = 999;

/// A fuzz input, decoded.
#[derive(Debug)]
pub struct Case<'a> {
    pub body: Cow<'a, [u8]>,
    pub seed: u16,
    /// The body starts with [`KCS_HEADER`] and a newline.
    pub with_header: bool,
}

impl<'a> Case<'a> {
    /// `kcs_header`: whether flags bit 0 prepends [`KCS_HEADER`] (the CSV target).
    pub fn decode(data: &'a [u8], kcs_header: bool) -> Self {
        let byte = |i: usize| data.get(i).copied().unwrap_or(0);
        let flags = byte(0);
        let seed = u16::from_le_bytes([byte(1), byte(2)]);
        let mut body = Cow::Borrowed(data.get(3..).unwrap_or(&[]));
        if flags & 0b1_1110 == 0b1_1110 {
            let filler = if flags & 0b10_0000 == 0 { b'x' } else { b' ' };
            let run = MAX_LINE_BYTES - 2 + usize::from(flags >> 6);
            let at = usize::from(seed) % (body.len() + 1);
            let mut long = Vec::with_capacity(body.len() + run);
            long.extend_from_slice(&body[..at]);
            long.resize(at + run, filler);
            long.extend_from_slice(&body[at..]);
            body = Cow::Owned(long);
        }
        let with_header = kcs_header && flags & 1 == 1;
        if with_header {
            let mut full = Vec::with_capacity(KCS_HEADER.len() + 1 + body.len());
            full.extend_from_slice(KCS_HEADER.as_bytes());
            full.push(b'\n');
            full.extend_from_slice(&body);
            body = Cow::Owned(full);
        }
        Self {
            body,
            seed,
            with_header,
        }
    }

    /// The body cut into chunks whose sizes follow from the seed: the top three bits pick the
    /// largest size (1 byte to 2 MiB), the rest seed a xorshift that draws each size. A large body
    /// is cut into about 8192 chunks at most (pushing a megabyte a byte at a time costs a third
    /// of a second under ASan and would starve the rest of the run).
    pub fn chunks(&self) -> Chunks<'_> {
        const LIMITS: [usize; 8] = [1, 2, 5, 16, 300, 4096, 65_536, 2 << 20];
        Chunks {
            rest: &self.body,
            limit: LIMITS[usize::from(self.seed >> 13)].max(self.body.len() / 4096),
            state: u32::from(self.seed) | 0x1_0000,
        }
    }
}

/// The chunks of a body (see [`Case::chunks`]).
#[derive(Debug)]
pub struct Chunks<'a> {
    rest: &'a [u8],
    limit: usize,
    state: u32,
}

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        let size = 1 + self.state as usize % self.limit;
        let (chunk, rest) = self.rest.split_at(size.min(self.rest.len()));
        self.rest = rest;
        Some(chunk)
    }
}

/// What a parse produced: the items, and how it ended (it stops at the first format error).
#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub items: Vec<ParsedItem>,
    pub result: Result<(), FormatError>,
}

/// Parses the body pushed chunk by chunk, then finishes.
pub fn parse<'b>(format: BatchFormat, chunks: impl IntoIterator<Item = &'b [u8]>) -> Outcome {
    let mut parser = Parser::new(format);
    let mut items = Vec::new();
    for chunk in chunks {
        if let Err(e) = parser.push(chunk, &mut items) {
            return Outcome {
                items,
                result: Err(e),
            };
        }
    }
    let result = parser.finish(&mut items);
    Outcome { items, result }
}

/// Parses the body whole and chunked, asserts both give the same outcome, and returns it.
pub fn parse_both_ways(format: BatchFormat, case: &Case<'_>) -> Outcome {
    let whole = parse(format, [&case.body[..]]);
    let chunked = parse(format, case.chunks());
    if whole != chunked {
        let at = whole
            .items
            .iter()
            .zip(&chunked.items)
            .position(|(a, b)| a != b)
            .unwrap_or(whole.items.len().min(chunked.items.len()));
        panic!(
            "chunking changed the outcome (seed {}): whole {} items {:?}, chunked {} items {:?}; \
             first difference at index {at}: {} vs {}",
            case.seed,
            whole.items.len(),
            whole.result,
            chunked.items.len(),
            chunked.result,
            short(&whole.items.get(at)),
            short(&chunked.items.get(at)),
        );
    }
    whole
}

/// How a line of the body reads, worked out independently of `LineSplitter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefLine {
    /// UTF-8, empty or whitespace only.
    Blank,
    Text,
    /// Longer than [`MAX_LINE_BYTES`], counting a trailing `\r`.
    TooLong,
    BadEncoding,
}

impl RefLine {
    /// The item error code a line of this kind must be rejected with, if any.
    pub fn code(self) -> Option<&'static str> {
        match self {
            Self::Blank | Self::Text => None,
            Self::TooLong => Some("LINE_TOO_LONG"),
            Self::BadEncoding => Some("INVALID_ENCODING"),
        }
    }
}

/// The body's lines (LF-separated, one trailing `\r` dropped; a final line without a newline
/// counts, an empty one after the last newline does not).
pub fn reference_lines(body: &[u8]) -> Vec<RefLine> {
    let mut segments: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    if segments.last().is_some_and(|s| s.is_empty()) {
        segments.pop();
    }
    segments
        .into_iter()
        .map(|segment| {
            if segment.len() > MAX_LINE_BYTES {
                return RefLine::TooLong;
            }
            let segment = segment.strip_suffix(b"\r").unwrap_or(segment);
            match std::str::from_utf8(segment) {
                Ok(text) if text.trim().is_empty() => RefLine::Blank,
                Ok(_) => RefLine::Text,
                Err(_) => RefLine::BadEncoding,
            }
        })
        .collect()
}

/// Properties of every outcome: items numbered 1..=n, each starting on a later line than the
/// one before (no two items share a first line) and on a line of the body, and every rejection
/// carrying a code of the form `UPPER_SNAKE`.
pub fn check_items(items: &[ParsedItem], lines: &[RefLine]) {
    let mut previous_line = 0;
    for (i, item) in items.iter().enumerate() {
        assert_eq!(
            item.item,
            i as u64 + 1,
            "items are numbered 1..=n: {}",
            short(item)
        );
        assert!(
            item.line > previous_line,
            "item {} starts on line {}, not after line {previous_line}",
            item.item,
            item.line
        );
        previous_line = item.line;
        assert!(
            item.line as usize <= lines.len(),
            "item {} starts on line {} of a body of {} lines",
            item.item,
            item.line,
            lines.len()
        );
        let kind = lines[item.line as usize - 1];
        assert_ne!(
            kind,
            RefLine::Blank,
            "blank line {} became an item",
            item.line
        );
        if let Err(error) = &item.parsed {
            assert!(
                !error.code.is_empty()
                    && error
                        .code
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b == b'_'),
                "item {} has a rejection without a proper code: {error:?}",
                item.item
            );
            assert!(
                !error.message.is_empty(),
                "item {} has no message",
                item.item
            );
        }
        if let Some(code) = kind.code() {
            let got = item.parsed.as_ref().err().map(|e| e.code.as_str());
            assert_eq!(got, Some(code), "line {} is {kind:?}", item.line);
        }
    }
}

/// A value's `Debug`, cut to a readable length (items can hold megabytes).
pub fn short(value: &impl Debug) -> String {
    let mut text = format!("{value:?}");
    if text.len() > 400 {
        let mut end = 400;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}
