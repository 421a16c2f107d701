//! How read models store values as portable text, shared by every projection: instants as
//! fixed-width RFC 3339 (text order is time order), names through the domain's serde names,
//! counts as `i64`, the opaque keyset cursors of list pages, numbered SQL parameter lists and
//! the id of a `<category>-<uuid>` stream.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde::de::value::{Error as ValueError, StrDeserializer};
use sqlx::AnyConnection;
use uuid::Uuid;

/// An instant as stored: RFC 3339, UTC, six fractional digits, so text order is time order.
pub(crate) fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| format!("instant {text:?}: {e}"))
}

/// Reads a stored name back through the domain type's own serde names (the ones stored).
pub(crate) fn parse_name<'de, T: Deserialize<'de>>(text: &'de str) -> Result<T, String> {
    T::deserialize(StrDeserializer::<ValueError>::new(text)).map_err(|e| format!("{text:?}: {e}"))
}

pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A row's place in a list ordered by (instant, id), as an opaque cursor: URL-safe base64 of
/// `<instant>|<id>`.
pub(crate) fn encode_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", format_time(at), id))
}

/// Reads a cursor back into its sort key in the stored text forms; `None` when it is not one
/// [`encode_cursor`] made.
pub(crate) fn decode_cursor(cursor: &str) -> Option<(String, String)> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (at, id) = text.split_once('|')?;
    let at = parse_time(at).ok()?;
    let id = Uuid::parse_str(id).ok()?;
    Some((format_time(at), id.to_string()))
}

/// `($1, $2, ...), (...)`: `rows` groups of `columns` numbered parameters.
pub(crate) fn placeholders(rows: usize, columns: usize) -> String {
    let mut text = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        if row > 0 {
            text.push_str(", ");
        }
        text.push('(');
        for column in 0..columns {
            if column > 0 {
                text.push_str(", ");
            }
            text.push('$');
            text.push_str(&(row * columns + column + 1).to_string());
        }
        text.push(')');
    }
    text
}

/// `$1, $2, ..., $n`.
pub(crate) fn parameters(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The id in a stream id `<category>-<uuid>`.
pub(crate) fn stream_uuid(category: &str, stream_id: &str) -> Option<Uuid> {
    let rest = stream_id.strip_prefix(category)?.strip_prefix('-')?;
    Uuid::parse_str(rest).ok()
}

/// How a statement names its parameters: `$1, $2, ...` on PostgreSQL, anonymous `?` on
/// SQLite. SQLite looks each numbered name up in a list as it parses a statement, and again as
/// sqlx binds it, so a statement of n numbered parameters costs n²: a 400-row insert of facts
/// (13,600 parameters) took 0.4 s, against 1.3 ms with `?` (docs/benchmarks.md, "Customs Data
/// Warehouse"). Anonymous parameters bind in order: use them only in statements whose
/// parameters are all these marks, in binding order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Marks {
    numbered: bool,
}

impl Marks {
    pub(crate) fn of(conn: &AnyConnection) -> Self {
        Self {
            numbered: conn.backend_name() != "SQLite",
        }
    }

    /// `rows` groups of `columns` parameters: `($1, $2), ($3, $4)` or `(?, ?), (?, ?)`.
    pub(crate) fn values(self, rows: usize, columns: usize) -> String {
        if self.numbered {
            return placeholders(rows, columns);
        }
        let row = format!("({})", vec!["?"; columns].join(", "));
        vec![row; rows].join(", ")
    }

    /// `n` parameters: `$1, $2, $3` or `?, ?, ?`.
    pub(crate) fn list(self, n: usize) -> String {
        if self.numbered {
            parameters(n)
        } else {
            vec!["?"; n].join(", ")
        }
    }
}
