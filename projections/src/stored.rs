//! How read models store values as portable text, shared by every projection: instants as
//! fixed-width RFC 3339 (text order is time order), names through the domain's serde names,
//! counts as `i64`, and the opaque keyset cursors of list pages.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde::de::value::{Error as ValueError, StrDeserializer};
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
