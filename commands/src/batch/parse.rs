//! Batch parsers: bytes in, items out, as the bytes arrive. Memory is bounded by the longest
//! line allowed ([`MAX_LINE_BYTES`]) and, for CSV, by one declaration's rows; nothing else is
//! buffered. A line that cannot be read (bad encoding, not JSON, wrong column count, too long)
//! becomes a rejected item; only a CSV header that is not the KCS layout stops the batch.

use domain::Decimal;
use domain::batch::{BatchFormat, ItemError};
use domain::declaration::{RawFiling, RawHeader, RawItem};
use serde::Deserialize;

/// The longest line read (1 MiB): a declaration of 999 items fits comfortably.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Most rows one CSV declaration may have (a declaration has 1 to 999 items).
const MAX_ITEMS: usize = 999;

/// One item of a batch as read: a filing, or why it could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedItem {
    /// Ordinal in the batch, from 1.
    pub item: u64,
    /// Line where the item starts, from 1.
    pub line: u64,
    pub parsed: Result<BatchFiling, ItemError>,
}

/// A filing read from a batch, with the filing date the line names (historical loads).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchFiling {
    pub filing: RawFiling,
    /// `filingDate` of an NDJSON line, or the KCS `Date` column, as written.
    pub filing_date: Option<String>,
}

/// The batch cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("the CSV header is not the KCS layout: {0}")]
    CsvHeader(String),
}

impl FormatError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::CsvHeader(_) => "INVALID_CSV_HEADER",
        }
    }
}

/// A parser for one batch format.
#[derive(Debug)]
pub enum Parser {
    Ndjson(NdjsonParser),
    KcsCsv(KcsCsvParser),
}

impl Parser {
    pub fn new(format: BatchFormat) -> Self {
        match format {
            BatchFormat::Ndjson => Self::Ndjson(NdjsonParser::default()),
            BatchFormat::KcsCsv => Self::KcsCsv(KcsCsvParser::default()),
        }
    }

    /// Reads `chunk`, appending every item it completes to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<ParsedItem>) -> Result<(), FormatError> {
        match self {
            Self::Ndjson(p) => {
                p.push(chunk, out);
                Ok(())
            }
            Self::KcsCsv(p) => p.push(chunk, out),
        }
    }

    /// The body has ended: emits the last item.
    pub fn finish(&mut self, out: &mut Vec<ParsedItem>) -> Result<(), FormatError> {
        match self {
            Self::Ndjson(p) => {
                p.finish(out);
                Ok(())
            }
            Self::KcsCsv(p) => p.finish(out),
        }
    }
}

/// A line as split from the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Text { line: u64, text: String },
    TooLong { line: u64 },
    BadEncoding { line: u64, valid_up_to: usize },
}

/// Splits bytes into lines (LF or CRLF), checking UTF-8 and the line length; a line longer than
/// [`MAX_LINE_BYTES`] is skipped to its end without being kept.
#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
    /// Lines completed so far.
    lines: u64,
    /// The current line passed the limit: discard until its end.
    overflow: bool,
}

impl LineSplitter {
    pub fn push(&mut self, mut chunk: &[u8], out: &mut Vec<Line>) {
        while !chunk.is_empty() {
            match chunk.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    self.take(&chunk[..end]);
                    self.end_line(out);
                    chunk = &chunk[end + 1..];
                }
                None => {
                    self.take(chunk);
                    chunk = &[];
                }
            }
        }
    }

    /// The body ended: a last line without a newline still counts.
    pub fn finish(&mut self, out: &mut Vec<Line>) {
        if !self.buf.is_empty() || self.overflow {
            self.end_line(out);
        }
    }

    fn take(&mut self, bytes: &[u8]) {
        if self.overflow {
            return;
        }
        if self.buf.len() + bytes.len() > MAX_LINE_BYTES {
            self.overflow = true;
            self.buf = Vec::new();
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }

    fn end_line(&mut self, out: &mut Vec<Line>) {
        self.lines += 1;
        let line = self.lines;
        if std::mem::take(&mut self.overflow) {
            out.push(Line::TooLong { line });
            return;
        }
        let mut bytes = std::mem::take(&mut self.buf);
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        match String::from_utf8(bytes) {
            Ok(text) => out.push(Line::Text { line, text }),
            Err(e) => out.push(Line::BadEncoding {
                line,
                valid_up_to: e.utf8_error().valid_up_to(),
            }),
        }
    }
}

fn line_error(line: &Line) -> Option<ItemError> {
    match line {
        Line::Text { .. } => None,
        Line::TooLong { .. } => Some(ItemError::new(
            "LINE_TOO_LONG",
            None,
            format!("the line is longer than {MAX_LINE_BYTES} bytes"),
        )),
        Line::BadEncoding { valid_up_to, .. } => Some(ItemError::new(
            "INVALID_ENCODING",
            None,
            format!("the line is not UTF-8 (invalid byte after {valid_up_to} bytes)"),
        )),
    }
}

fn line_number(line: &Line) -> u64 {
    match line {
        Line::Text { line, .. } | Line::TooLong { line } | Line::BadEncoding { line, .. } => *line,
    }
}

/// NDJSON: one `DeclarationInput` per line, plus an optional `filingDate`; blank lines are
/// skipped.
#[derive(Debug, Default)]
pub struct NdjsonParser {
    lines: LineSplitter,
    scratch: Vec<Line>,
    items: u64,
}

/// One NDJSON line.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NdjsonLine {
    #[serde(default)]
    header: RawHeader,
    #[serde(default)]
    items: Vec<RawItem>,
    #[serde(default)]
    filing_date: Option<String>,
}

impl NdjsonParser {
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<ParsedItem>) {
        self.lines.push(chunk, &mut self.scratch);
        self.drain(out);
    }

    pub fn finish(&mut self, out: &mut Vec<ParsedItem>) {
        self.lines.finish(&mut self.scratch);
        self.drain(out);
    }

    fn drain(&mut self, out: &mut Vec<ParsedItem>) {
        for line in self.scratch.drain(..) {
            let parsed = match &line {
                Line::Text { text, .. } if text.trim().is_empty() => continue,
                Line::Text { text, .. } => parse_ndjson(text),
                other => Err(line_error(other).unwrap_or_else(|| unreachable!())),
            };
            self.items += 1;
            out.push(ParsedItem {
                item: self.items,
                line: line_number(&line),
                parsed,
            });
        }
    }
}

fn parse_ndjson(text: &str) -> Result<BatchFiling, ItemError> {
    match serde_json::from_str::<NdjsonLine>(text) {
        Ok(line) => Ok(BatchFiling {
            filing: RawFiling {
                header: line.header,
                items: line.items,
            },
            filing_date: line.filing_date,
        }),
        Err(e) => Err(ItemError::new(
            "MALFORMED_LINE",
            None,
            format!("the line is not a declaration in JSON: {e}"),
        )),
    }
}

/// The KCS columns a declaration is made of (others are read past).
const KCS_COLUMNS: [&str; 12] = [
    "Declaration ID",
    "Date",
    "Office ID",
    "Mode of Transport",
    "Declarant ID",
    "Importer ID",
    "HS6 Code",
    "Country of Departure",
    "Country of Origin",
    "Tax Type",
    "Net Mass",
    "Item Price",
];

/// Indexes of [`KCS_COLUMNS`] in the file's header.
#[derive(Debug, Clone, Copy)]
struct Columns {
    index: [usize; 12],
    count: usize,
}

const ID: usize = 0;
const DATE: usize = 1;
const OFFICE: usize = 2;
const MODE: usize = 3;
const DECLARANT: usize = 4;
const IMPORTER: usize = 5;
const HS6: usize = 6;
const DEPARTURE: usize = 7;
const ORIGIN: usize = 8;
const TAX_TYPE: usize = 9;
const NET_MASS: usize = 10;
const PRICE: usize = 11;

/// The KCS synthetic import declarations layout (`../shared/data/kcs-synthetic/`): a header
/// row, then one row per item; consecutive rows with the same `Declaration ID` are one
/// declaration. See `docs/batches.md` for the mapping and what it assumes.
#[derive(Debug, Default)]
pub struct KcsCsvParser {
    lines: LineSplitter,
    scratch: Vec<Line>,
    columns: Option<Columns>,
    /// The declaration being read: its id, first line and rows.
    pending: Option<(String, u64, Vec<Vec<String>>)>,
    items: u64,
}

impl KcsCsvParser {
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<ParsedItem>) -> Result<(), FormatError> {
        self.lines.push(chunk, &mut self.scratch);
        self.drain(out)
    }

    pub fn finish(&mut self, out: &mut Vec<ParsedItem>) -> Result<(), FormatError> {
        self.lines.finish(&mut self.scratch);
        self.drain(out)?;
        if self.columns.is_none() {
            return Err(FormatError::CsvHeader("the body has no header row".into()));
        }
        self.flush(out);
        Ok(())
    }

    fn drain(&mut self, out: &mut Vec<ParsedItem>) -> Result<(), FormatError> {
        let lines = std::mem::take(&mut self.scratch);
        for line in lines {
            let Some(columns) = self.columns else {
                self.columns = Some(read_header(&line)?);
                continue;
            };
            let number = line_number(&line);
            let text = match &line {
                Line::Text { text, .. } if text.trim().is_empty() => continue,
                Line::Text { text, .. } => text,
                other => {
                    let error = line_error(other).unwrap_or_else(|| unreachable!());
                    self.reject(number, error, out);
                    continue;
                }
            };
            let fields = match split_csv(text) {
                Ok(fields) if fields.len() == columns.count => fields,
                Ok(fields) => {
                    let error = ItemError::new(
                        "WRONG_COLUMN_COUNT",
                        None,
                        format!(
                            "the row has {} columns, the header {}",
                            fields.len(),
                            columns.count
                        ),
                    );
                    self.reject(number, error, out);
                    continue;
                }
                Err(message) => {
                    self.reject(number, ItemError::new("MALFORMED_LINE", None, message), out);
                    continue;
                }
            };
            let row: Vec<String> = columns
                .index
                .iter()
                .map(|&i| fields[i].trim().to_owned())
                .collect();
            match &mut self.pending {
                Some((id, _, rows)) if *id == row[ID] => {
                    // One row past the limit is kept, so validation says too many; the rest are not.
                    if rows.len() <= MAX_ITEMS {
                        rows.push(row);
                    }
                }
                _ => {
                    self.flush(out);
                    self.pending = Some((row[ID].clone(), number, vec![row]));
                }
            }
        }
        Ok(())
    }

    /// A row that cannot be read is an item of its own (it ends the declaration before it).
    fn reject(&mut self, line: u64, error: ItemError, out: &mut Vec<ParsedItem>) {
        self.flush(out);
        self.items += 1;
        out.push(ParsedItem {
            item: self.items,
            line,
            parsed: Err(error),
        });
    }

    fn flush(&mut self, out: &mut Vec<ParsedItem>) {
        if let Some((_, line, rows)) = self.pending.take() {
            self.items += 1;
            out.push(ParsedItem {
                item: self.items,
                line,
                parsed: Ok(kcs_filing(&rows)),
            });
        }
    }
}

fn read_header(line: &Line) -> Result<Columns, FormatError> {
    let Line::Text { text, .. } = line else {
        return Err(FormatError::CsvHeader(
            "the header row is not UTF-8 text of at most 1 MiB".into(),
        ));
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let names = split_csv(text).map_err(FormatError::CsvHeader)?;
    let mut index = [0; 12];
    let mut missing = Vec::new();
    for (slot, wanted) in index.iter_mut().zip(KCS_COLUMNS) {
        match names.iter().position(|n| n.trim() == wanted) {
            Some(i) => *slot = i,
            None => missing.push(wanted),
        }
    }
    if missing.is_empty() {
        Ok(Columns {
            index,
            count: names.len(),
        })
    } else {
        Err(FormatError::CsvHeader(format!(
            "missing column(s) {}",
            missing.join(", ")
        )))
    }
}

/// Splits one CSV record (RFC 4180 quoting; a record does not span lines).
fn split_csv(text: &str) -> Result<Vec<String>, String> {
    if !text.contains('"') {
        // Nothing quoted (the KCS files): a plain split, without a reader per row.
        return Ok(text.split(',').map(str::to_owned).collect());
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(text.len().max(64))
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => Ok(record.iter().map(str::to_owned).collect()),
        Ok(false) => Ok(Vec::new()),
        Err(e) => Err(format!("the row is not CSV: {e}")),
    }
}

/// A KCS "Tax Type" that claims an origin preference (FTAs `F` + partner + digit, APTA `E1`,
/// the LDC preference `R`); other tax types (`A`, `C`, `W1`, …) claim none.
fn preference_claim(tax_type: &str) -> Option<String> {
    let b = tax_type.as_bytes();
    let fta = b.len() == 4
        && b[0] == b'F'
        && b[1].is_ascii_uppercase()
        && b[2].is_ascii_uppercase()
        && b[3].is_ascii_digit();
    (fta || tax_type == "E1" || tax_type == "R").then(|| tax_type.to_owned())
}

/// KCS prices are KRW with decimals; KRW has no minor unit, so they are truncated to the won.
/// Text that is not a decimal is passed on for validation to report.
fn whole_won(price: &str) -> String {
    match price.parse::<Decimal>() {
        Ok(value) => value.trunc().normalize().to_string(),
        Err(_) => price.to_owned(),
    }
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// The declaration of one KCS declaration's rows (see `docs/batches.md`).
fn kcs_filing(rows: &[Vec<String>]) -> BatchFiling {
    let first = &rows[0];
    let items: Vec<RawItem> = rows
        .iter()
        .map(|row| RawItem {
            hs_code: non_empty(&row[HS6]).map(|hs| {
                if hs.len() == 6 {
                    format!("{hs}0000")
                } else {
                    hs
                }
            }),
            description: None,
            origin_country: non_empty(&row[ORIGIN]),
            preference_claim: preference_claim(&row[TAX_TYPE]),
            quantity: non_empty(&row[NET_MASS]),
            unit: Some("KGM".to_owned()),
            net_mass: non_empty(&row[NET_MASS]),
            gross_mass: non_empty(&row[NET_MASS]),
            invoice_value: non_empty(&row[PRICE]).map(|p| whole_won(&p)),
        })
        .collect();
    // No total when a price is unreadable or the sum overflows: validation then names it.
    let total: Option<Decimal> = items.iter().try_fold(Decimal::ZERO, |sum, item| {
        let value = item.invoice_value.as_deref()?.parse::<Decimal>().ok()?;
        sum.checked_add(value)
    });
    let invoice_amount = match total {
        Some(total) => Some(total.normalize().to_string()),
        None => items.iter().find_map(|i| i.invoice_value.clone()),
    };
    BatchFiling {
        filing: RawFiling {
            header: RawHeader {
                declaration_type: Some("import".to_owned()),
                lrn: non_empty(&first[ID]),
                declarant: non_empty(&first[DECLARANT]),
                importer: non_empty(&first[IMPORTER]),
                exporter: None,
                customs_office: non_empty(&first[OFFICE]),
                transport_mode: non_empty(&first[MODE]),
                dispatch_country: non_empty(&first[DEPARTURE]),
                incoterm: Some("CIF".to_owned()),
                invoice_currency: Some("KRW".to_owned()),
                invoice_amount,
                freight: None,
                insurance: None,
            },
            items,
        },
        filing_date: non_empty(&first[DATE]),
    }
}

#[cfg(test)]
mod tests;
