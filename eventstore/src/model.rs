//! The values that cross the store's API: what a caller appends, what it reads back, and the
//! syntax rules that every stream id and event type obeys.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::StoreError;

/// Longest stream id accepted, in bytes.
pub const MAX_STREAM_ID_LEN: usize = 200;
/// Longest category (the part of a stream id before the first `-`), in bytes.
pub const MAX_CATEGORY_LEN: usize = 50;
/// Longest event type, in bytes.
pub const MAX_EVENT_TYPE_LEN: usize = 100;
/// Longest actor in the metadata, in bytes.
pub const MAX_ACTOR_LEN: usize = 200;

/// A validated stream id: `category` or `category-rest`.
///
/// The category is `[a-z][a-z0-9]*` (at most 50 bytes); the rest, when present, is one or more of
/// `[A-Za-z0-9._:@-]`; the whole id is at most 200 bytes. Names starting with `$` are reserved for
/// the store (`$all`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId(String);

impl StreamId {
    /// Parses a stream id, naming the rule it breaks when it is not valid.
    pub fn parse(value: impl Into<String>) -> Result<Self, StoreError> {
        let value = value.into();
        let invalid = |reason: &'static str| StoreError::InvalidStreamId {
            value: truncate_for_error(&value),
            reason,
        };
        if value.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if value.len() > MAX_STREAM_ID_LEN {
            return Err(invalid("must be at most 200 bytes"));
        }
        let (category, rest) = match value.split_once('-') {
            Some((category, rest)) => (category, Some(rest)),
            None => (value.as_str(), None),
        };
        let mut chars = category.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
            return Err(invalid("category must start with a lowercase ASCII letter"));
        }
        if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return Err(invalid(
                "category may hold only lowercase ASCII letters and digits",
            ));
        }
        if category.len() > MAX_CATEGORY_LEN {
            return Err(invalid("category must be at most 50 bytes"));
        }
        if let Some(rest) = rest {
            if rest.is_empty() {
                return Err(invalid("an id must follow the '-' after the category"));
            }
            if !rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '@' | '-'))
            {
                return Err(invalid(
                    "the id after the category may hold only ASCII letters, digits and . _ : @ -",
                ));
            }
        }
        Ok(Self(value))
    }

    /// The stream's category: the part before the first `-` (the whole id when there is none).
    pub fn category(&self) -> &str {
        self.0
            .split_once('-')
            .map_or(&self.0, |(category, _)| category)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for StreamId {
    type Error = StoreError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<StreamId> for String {
    fn from(id: StreamId) -> Self {
        id.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks an event type: `[A-Za-z][A-Za-z0-9_.]*`, at most 100 bytes (e.g. `DeclarationFiled`).
pub fn validate_event_type(value: &str) -> Result<(), StoreError> {
    let invalid = |reason: &'static str| StoreError::InvalidEventType {
        value: truncate_for_error(value),
        reason,
    };
    let mut chars = value.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return Err(invalid("must start with an ASCII letter"));
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
        return Err(invalid("may hold only ASCII letters, digits, '_' and '.'"));
    }
    if value.len() > MAX_EVENT_TYPE_LEN {
        return Err(invalid("must be at most 100 bytes"));
    }
    Ok(())
}

fn truncate_for_error(value: &str) -> String {
    const SHOWN: usize = 80;
    if value.len() <= SHOWN {
        return value.to_owned();
    }
    let mut end = SHOWN;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &value[..end])
}

/// What the caller expects of the stream before its append; checked atomically with the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// Append whatever the stream holds.
    Any,
    /// The stream must not exist yet (version 0).
    NoStream,
    /// The stream must already hold at least one event.
    StreamExists,
    /// The stream's current version (its number of events) must be exactly this.
    Exact(u64),
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any"),
            Self::NoStream => f.write_str("no stream"),
            Self::StreamExists => f.write_str("stream exists"),
            Self::Exact(v) => write!(f, "version {v}"),
        }
    }
}

impl ExpectedVersion {
    /// Whether a stream currently at `current` (0 = no stream) satisfies this expectation.
    pub fn admits(self, current: u64) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => current == 0,
            Self::StreamExists => current > 0,
            Self::Exact(v) => current == v,
        }
    }
}

/// Who caused an event and why: follows one thread of work across streams.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventMetadata {
    /// Groups every event caused by one request (a batch item, a GraphQL mutation).
    pub correlation_id: Option<Uuid>,
    /// The event or command that directly caused this one.
    pub causation_id: Option<Uuid>,
    /// Who acted, e.g. `declarant/ACME` or `officer/K123`.
    pub actor: Option<String>,
}

/// An event to append. Its id makes retries idempotent: send the same id again after a timeout
/// and the store answers with the first result instead of writing twice.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: serde_json::Value,
    pub metadata: EventMetadata,
}

impl NewEvent {
    /// A schema-version-1 event with a fresh id and empty metadata.
    ///
    /// The id is a UUIDv7: time-ordered, so new ids land at the right edge of the event-id
    /// index instead of dirtying pages all over it (on SQLite every dirtied page is a whole
    /// page written to the WAL).
    pub fn new(event_type: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version: 1,
            payload,
            metadata: EventMetadata::default(),
        }
    }

    pub fn with_id(mut self, event_id: Uuid) -> Self {
        self.event_id = event_id;
        self
    }

    pub fn with_metadata(mut self, metadata: EventMetadata) -> Self {
        self.metadata = metadata;
        self
    }

    pub fn with_schema_version(mut self, schema_version: u32) -> Self {
        self.schema_version = schema_version;
        self
    }
}

/// What an append wrote (or, for an idempotent retry, what the first attempt wrote).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppendResult {
    /// The stream's version after the append: the version of its last event.
    pub next_version: u64,
    /// The global positions of the appended events, in order.
    pub positions: Vec<u64>,
}

/// An event as stored, with everything an auditor needs to check it.
#[derive(Debug, Clone)]
pub struct RecordedEvent {
    pub event_id: Uuid,
    pub stream_id: String,
    /// 1 for the first event of a stream.
    pub stream_version: u64,
    /// Position in the global log (`$all`), 1 for the first event ever.
    pub position: u64,
    pub event_type: String,
    pub schema_version: u32,
    /// The payload exactly as stored: JSON text, byte for byte what the hash covers.
    pub payload: String,
    pub metadata: EventMetadata,
    /// When the store committed the event (UTC, microsecond precision).
    pub recorded_at: DateTime<Utc>,
    /// SHA-256 over the previous event's hash and this event's canonical bytes.
    pub hash: [u8; 32],
}

impl RecordedEvent {
    /// Deserializes the payload into a typed value.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.payload)
    }

    pub fn category(&self) -> &str {
        self.stream_id
            .split_once('-')
            .map_or(&self.stream_id, |(category, _)| category)
    }
}

/// Which way to read a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    Forward,
    Backward,
}

/// Which events of the global log to read or follow. Empty lists mean "all".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Stream categories (`declaration`, `batch`, ...).
    pub categories: Vec<String>,
    /// Event types (`DeclarationFiled`, ...).
    pub event_types: Vec<String>,
}

impl Filter {
    pub fn all() -> Self {
        Self::default()
    }

    pub fn categories<I: IntoIterator<Item = S>, S: Into<String>>(categories: I) -> Self {
        Self {
            categories: categories.into_iter().map(Into::into).collect(),
            event_types: Vec::new(),
        }
    }

    pub fn with_event_types<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        types: I,
    ) -> Self {
        self.event_types = types.into_iter().map(Into::into).collect();
        self
    }

    pub fn matches(&self, event: &RecordedEvent) -> bool {
        (self.categories.is_empty() || self.categories.iter().any(|c| c == event.category()))
            && (self.event_types.is_empty() || self.event_types.contains(&event.event_type))
    }
}

/// Limits applied to every append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest serialized payload, in bytes (default 1 MiB).
    pub max_payload_bytes: usize,
    /// Most events in one append (default 1,000).
    pub max_events_per_append: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_payload_bytes: 1024 * 1024,
            max_events_per_append: 1000,
        }
    }
}

/// The first broken link that verification found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokenLink {
    pub stream_id: String,
    /// The stream version where the chain breaks (0 when the stream's head record is at fault).
    pub stream_version: u64,
    pub position: Option<u64>,
    pub reason: String,
}

/// The outcome of walking hash chains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub streams_checked: u64,
    pub events_checked: u64,
    /// `None` when every link holds.
    pub broken: Option<BrokenLink>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_with_a_category_and_an_id_are_accepted() {
        let id = StreamId::parse("declaration-4f1c7a52-1d2e").unwrap();
        assert_eq!(id.category(), "declaration");
        assert_eq!(StreamId::parse("tariff").unwrap().category(), "tariff");
        assert!(StreamId::parse("manifest-KE0901-2026-11-25").is_ok());
    }

    #[test]
    fn malformed_stream_ids_are_rejected_with_a_reason() {
        for bad in [
            "",
            "$all",
            "Declaration-1",
            "decl aration",
            "decl-",
            "decl-a b",
            "1abc",
        ] {
            let err = StreamId::parse(bad).unwrap_err();
            assert_eq!(err.code(), "INVALID_STREAM_ID", "{bad:?}");
        }
        let long = format!("a-{}", "x".repeat(MAX_STREAM_ID_LEN));
        assert_eq!(
            StreamId::parse(long).unwrap_err().code(),
            "INVALID_STREAM_ID"
        );
    }

    #[test]
    fn event_types_follow_their_syntax() {
        assert!(validate_event_type("DeclarationFiled").is_ok());
        assert!(validate_event_type("customs.DeclarationFiled_v2").is_ok());
        for bad in ["", "1Filed", "Filed!", "Déclaration"] {
            assert!(validate_event_type(bad).is_err(), "{bad:?}");
        }
        assert!(validate_event_type(&"A".repeat(MAX_EVENT_TYPE_LEN + 1)).is_err());
    }

    #[test]
    fn expected_versions_admit_only_their_states() {
        assert!(ExpectedVersion::Any.admits(0) && ExpectedVersion::Any.admits(7));
        assert!(ExpectedVersion::NoStream.admits(0) && !ExpectedVersion::NoStream.admits(1));
        assert!(!ExpectedVersion::StreamExists.admits(0));
        assert!(ExpectedVersion::StreamExists.admits(3));
        assert!(ExpectedVersion::Exact(3).admits(3) && !ExpectedVersion::Exact(3).admits(4));
    }
}
