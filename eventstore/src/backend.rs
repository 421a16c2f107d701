//! The port every storage backend implements. The semantics (expected versions, idempotency,
//! hash chains) live in `plan`; a backend only locks, reads heads, writes rows and reads pages.

use std::collections::HashMap;

use uuid::Uuid;

use crate::error::StoreError;
use crate::model::{Direction, Filter, RecordedEvent};
use crate::plan::{AppendRequest, Head, Plan, StoredEvent};
use crate::postgres::PgBackend;
use crate::sqlite::SqliteBackend;

/// How a batch write failed.
#[derive(Debug)]
pub(crate) enum WriteFailure {
    /// Nothing was committed; the batch may be retried.
    BeforeCommit(sqlx::Error),
    /// The commit itself failed: its outcome is unknown.
    Commit(sqlx::Error),
}

impl From<sqlx::Error> for WriteFailure {
    fn from(error: sqlx::Error) -> Self {
        Self::BeforeCommit(error)
    }
}

/// Rows per page when the store reads for a stream or a subscription.
pub(crate) const PAGE: usize = 1000;

pub(crate) trait Backend: Send + Sync {
    /// Writes a batch of appends in one transaction, serialized with every other writer.
    async fn write_batch(&self, requests: &[AppendRequest]) -> Result<Plan, WriteFailure>;
    /// The position of the last committed event (0 for an empty log).
    async fn head_position(&self) -> Result<u64, StoreError>;
    async fn read_stream_page(
        &self,
        stream: &str,
        from_version: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;
    /// Events with `after < position <= up_to` that match the filter, in position order.
    async fn read_all_page(
        &self,
        after: u64,
        up_to: u64,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;
    /// Events ordered by (stream id, version) after the given key, for chain verification.
    async fn read_by_stream_page(
        &self,
        after: Option<(&str, u64)>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;
    /// Event count, largest position, and the first position that breaks 1..=n density.
    async fn log_shape(&self) -> Result<LogShape, StoreError>;
    async fn close(&self);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogShape {
    pub count: u64,
    pub max_position: u64,
    pub head_record: u64,
    /// The first position whose predecessor is missing, if any.
    pub first_gap: Option<u64>,
}

/// The configured backend. An enum rather than a trait object: two backends, static dispatch.
#[derive(Debug)]
pub(crate) enum AnyBackend {
    Sqlite(SqliteBackend),
    Postgres(PgBackend),
}

macro_rules! dispatch {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            AnyBackend::Sqlite($b) => $e,
            AnyBackend::Postgres($b) => $e,
        }
    };
}

impl AnyBackend {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

impl Backend for AnyBackend {
    async fn write_batch(&self, requests: &[AppendRequest]) -> Result<Plan, WriteFailure> {
        dispatch!(self, b => b.write_batch(requests).await)
    }
    async fn head_position(&self) -> Result<u64, StoreError> {
        dispatch!(self, b => b.head_position().await)
    }
    async fn read_stream_page(
        &self,
        stream: &str,
        from_version: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        dispatch!(self, b => b.read_stream_page(stream, from_version, direction, limit).await)
    }
    async fn read_all_page(
        &self,
        after: u64,
        up_to: u64,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        dispatch!(self, b => b.read_all_page(after, up_to, filter, limit).await)
    }
    async fn read_by_stream_page(
        &self,
        after: Option<(&str, u64)>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        dispatch!(self, b => b.read_by_stream_page(after, limit).await)
    }
    async fn log_shape(&self) -> Result<LogShape, StoreError> {
        dispatch!(self, b => b.log_shape().await)
    }
    async fn close(&self) {
        dispatch!(self, b => b.close().await)
    }
}

/// Reads the next page of the global log after `after`, never past `up_to`, and tells how far
/// it looked. Positions are dense, so the scan is bounded to a window of positions rather than
/// left to the planner: an unfiltered page is exactly the next `limit` positions, a filtered
/// one looks at most 16 pages ahead. Every query is then a short range scan of the primary key,
/// whatever the log's size and the database's statistics.
pub(crate) async fn scan_all(
    backend: &AnyBackend,
    after: u64,
    up_to: u64,
    filter: &Filter,
    limit: usize,
) -> Result<(Vec<RecordedEvent>, u64), StoreError> {
    let window = if filter.categories.is_empty() && filter.event_types.is_empty() {
        limit as u64
    } else {
        16 * limit as u64
    };
    let hi = up_to.min(after.saturating_add(window));
    let page = backend.read_all_page(after, hi, filter, limit).await?;
    let scanned = match page.last() {
        Some(last) if page.len() == limit => last.position,
        _ => hi,
    };
    Ok((page, scanned))
}

/// Whether an error is a unique-constraint violation (by SQLSTATE / extended code, not text).
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// Converts a stored u64 counter to the signed 64-bit integer both databases use.
pub(crate) fn to_i64(value: u64) -> i64 {
    // Versions and positions are capped at i64::MAX by the planner.
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative {what}: {value}")))
}

pub(crate) fn to_hash(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| StoreError::Corrupt(format!("hash of {} bytes", bytes.len())))
}

/// Collects the streams and event ids a batch touches.
pub(crate) fn batch_keys(requests: &[AppendRequest]) -> (Vec<String>, Vec<Uuid>) {
    let mut streams: Vec<String> = requests.iter().map(|r| r.stream.to_string()).collect();
    streams.sort_unstable();
    streams.dedup();
    let ids = requests
        .iter()
        .flat_map(|r| r.events.iter().map(|e| e.event_id))
        .collect();
    (streams, ids)
}

pub(crate) type Heads = HashMap<String, Head>;
pub(crate) type Existing = HashMap<Uuid, StoredEvent>;
