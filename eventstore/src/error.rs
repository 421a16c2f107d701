//! Every way an event store call can fail, each with a stable code for the API edge.

use uuid::Uuid;

use crate::model::ExpectedVersion;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Optimistic concurrency: the stream is not at the version the caller expected.
    #[error("stream {stream} was expected at {expected} but is at version {actual}")]
    WrongExpectedVersion {
        stream: String,
        expected: ExpectedVersion,
        /// The stream's current version; 0 when the stream does not exist.
        actual: u64,
    },

    /// An event id that is already stored was sent again with different content or to another
    /// stream; a true retry (same ids, same content, same stream) is answered with the first
    /// result instead.
    #[error("event id {event_id} is already stored with different content or in another stream")]
    EventIdReused { event_id: Uuid },

    #[error("event id {event_id} appears more than once in one append")]
    DuplicateEventInAppend { event_id: Uuid },

    #[error("invalid stream id {value:?}: {reason}")]
    InvalidStreamId { value: String, reason: &'static str },

    #[error("invalid event type {value:?}: {reason}")]
    InvalidEventType { value: String, reason: &'static str },

    #[error("invalid schema version 0 for event {event_id}: versions start at 1")]
    InvalidSchemaVersion { event_id: Uuid },

    #[error("invalid actor of event {event_id}: {reason}")]
    InvalidActor {
        event_id: Uuid,
        reason: &'static str,
    },

    #[error("payload of event {event_id} is {size} bytes, more than the limit of {limit}")]
    PayloadTooLarge {
        event_id: Uuid,
        size: usize,
        limit: usize,
    },

    #[error("an append must hold at least one event")]
    EmptyAppend,

    #[error("an append holds {count} events, more than the limit of {limit}")]
    TooManyEvents { count: usize, limit: usize },

    #[error("the stream {stream} would pass the largest version the store can hold")]
    VersionOverflow { stream: String },

    /// A commit failed. Its outcome is unknown (the events may or may not be durable) and this
    /// store handle refuses every further write: reopen the store, which re-reads the log.
    #[error("commit failed, outcome unknown; this store handle accepts no more writes: {0}")]
    CommitFailed(String),

    /// A previous commit failed; nothing is acknowledged by this handle any more.
    #[error("the store handle is poisoned by an earlier failed commit; reopen the store")]
    Poisoned,

    /// The store is shutting down.
    #[error("the event store is closed")]
    Closed,

    /// Holds only the URL's scheme, never the rest (it may carry a password).
    #[error("unsupported database url scheme {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),

    #[error("stored data is not readable: {0}")]
    Corrupt(String),

    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),

    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// A stable, machine-readable code for the error (used as GraphQL `extensions.code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::WrongExpectedVersion { .. } => "WRONG_EXPECTED_VERSION",
            Self::EventIdReused { .. } => "EVENT_ID_REUSED",
            Self::DuplicateEventInAppend { .. } => "DUPLICATE_EVENT_IN_APPEND",
            Self::InvalidStreamId { .. } => "INVALID_STREAM_ID",
            Self::InvalidEventType { .. } => "INVALID_EVENT_TYPE",
            Self::InvalidSchemaVersion { .. } => "INVALID_SCHEMA_VERSION",
            Self::InvalidActor { .. } => "INVALID_ACTOR",
            Self::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::EmptyAppend => "EMPTY_APPEND",
            Self::TooManyEvents { .. } => "TOO_MANY_EVENTS",
            Self::VersionOverflow { .. } => "VERSION_OVERFLOW",
            Self::CommitFailed(_) => "COMMIT_FAILED",
            Self::Poisoned => "STORE_POISONED",
            Self::Closed => "STORE_CLOSED",
            Self::UnsupportedUrl(_) => "UNSUPPORTED_DATABASE_URL",
            Self::Corrupt(_) => "STORE_CORRUPT",
            Self::Database(_) | Self::Migrate(_) | Self::Io(_) => "STORE_UNAVAILABLE",
        }
    }

    /// True for errors caused by the caller's input (as opposed to the store's state or health).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::DuplicateEventInAppend { .. }
                | Self::InvalidStreamId { .. }
                | Self::InvalidEventType { .. }
                | Self::InvalidSchemaVersion { .. }
                | Self::InvalidActor { .. }
                | Self::PayloadTooLarge { .. }
                | Self::EmptyAppend
                | Self::TooManyEvents { .. }
        )
    }
}
