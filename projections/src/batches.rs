//! The `batches` read model: one row per batch (who sent it, its status, totals and times), for
//! the `batches(...)` list. One batch and its per-item results are read from the batch's stream
//! instead (`commands::batch::BatchService`); this read model never stores results.
//!
//! Fed by [`BatchesProjection`] from every `batch-<uuid>` stream, each event folded with the
//! domain's [`Batch::evolve`]. `BatchItemsRecorded` events carry a chunk of results and may be
//! large: only their batch id, totals and time are read (the JSON parser skips the results
//! without building them). An event that does not decode or does not fit (one before
//! `BatchReceived`, a second `BatchReceived`, a skipped stream version, another batch's id)
//! stops the projection instead of being skipped.
//!
//! [`BatchesQuery::list`] pages through the batches in a [`Scope`] newest first (`received_at`
//! descending, then id descending) with opaque keyset cursors, as the declarations list does.

use chrono::{DateTime, SubsecRound, Utc};
use domain::DomainEvent;
use domain::batch::{Batch, BatchEvent, BatchFormat, BatchItemsRecorded, BatchStatus, BatchTotals};
use eventstore::{Filter, RecordedEvent};
use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Deserialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};
use uuid::Uuid;

pub use crate::declarations::{MAX_PAGE_SIZE, PageRequest, Scope};
use crate::generations::Tables;
use crate::read_models::{Backend, ReadModels};
use crate::runner::{Projection, ProjectionError};
use crate::stored::{decode_cursor, encode_cursor, format_time, parse_name, parse_time, to_i64};

/// The stream category this projection reads.
pub const CATEGORY: &str = "batch";
/// Its table (and the view queries read).
const TABLE: &str = "batches";

/// The event type read without its results.
const ITEMS_RECORDED: &str = "BatchItemsRecorded";

/// The columns of `batches`, in the order [`decode_row`] reads and [`upsert`] binds.
const COLUMNS: &str = "id, organisation, submitted_by, format, status, content_length, \
    received_at, updated_at, completed_at, items, accepted, rejected, replayed, interruption, \
    version";

/// The upsert of a whole row into `{table}`.
const UPSERT: &str = "INSERT INTO {table} (id, organisation, submitted_by, format, status, \
    content_length, received_at, updated_at, completed_at, items, accepted, rejected, replayed, \
    interruption, version) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
    ON CONFLICT (id) DO UPDATE SET organisation = excluded.organisation, \
    submitted_by = excluded.submitted_by, format = excluded.format, status = excluded.status, \
    content_length = excluded.content_length, received_at = excluded.received_at, \
    updated_at = excluded.updated_at, completed_at = excluded.completed_at, \
    items = excluded.items, accepted = excluded.accepted, rejected = excluded.rejected, \
    replayed = excluded.replayed, interruption = excluded.interruption, \
    version = excluded.version";

/// One batch in the read model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRow {
    /// The batch id: the UUID of its stream `batch-<id>`.
    pub id: Uuid,
    /// The organisation it files for; `None` for an admin's historical load.
    pub organisation: Option<String>,
    /// The actor that sent it, e.g. `declarant/alice@ACME`.
    pub submitted_by: String,
    pub format: BatchFormat,
    pub status: BatchStatus,
    /// The announced body size, when the sender gave one.
    pub content_length: Option<u64>,
    /// When the batch was first received; the list order. Instants are kept to the
    /// microsecond.
    pub received_at: DateTime<Utc>,
    /// When its latest event happened.
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub totals: BatchTotals,
    /// Why the latest upload stopped early, while the batch stands interrupted.
    pub interruption: Option<String>,
    /// The stream's version.
    pub version: u64,
}

impl BatchRow {
    /// This row's place in the list order, as an opaque cursor: URL-safe base64 of
    /// `<received_at>|<id>`.
    pub fn cursor(&self) -> String {
        encode_cursor(self.received_at, self.id)
    }

    /// The batch as the domain folds it (the shape `BatchService::get` answers).
    pub fn batch(&self) -> Batch {
        Batch {
            id: Some(self.id),
            status: self.status,
            format: Some(self.format),
            submitted_by: self.submitted_by.clone(),
            organisation: self.organisation.clone(),
            content_length: self.content_length,
            received_at: Some(self.received_at),
            updated_at: Some(self.updated_at),
            completed_at: self.completed_at,
            totals: self.totals,
            interruption: self.interruption.clone(),
        }
    }

    /// The row of a batch folded up to stream version `version`.
    fn from_batch(batch: Batch, version: u64) -> Result<Self, String> {
        let (Some(id), Some(format), Some(received_at), Some(updated_at)) =
            (batch.id, batch.format, batch.received_at, batch.updated_at)
        else {
            return Err("the batch has no BatchReceived".to_owned());
        };
        let micros = |at: DateTime<Utc>| at.trunc_subsecs(6);
        Ok(Self {
            id,
            organisation: batch.organisation,
            submitted_by: batch.submitted_by,
            format,
            status: batch.status,
            content_length: batch.content_length,
            received_at: micros(received_at),
            updated_at: micros(updated_at),
            completed_at: batch.completed_at.map(micros),
            totals: batch.totals,
            interruption: batch.interruption,
            version,
        })
    }
}

/// Builds the `batches` read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct BatchesProjection;

impl Projection for BatchesProjection {
    fn name(&self) -> &'static str {
        "batches"
    }

    fn version(&self) -> u32 {
        1
    }

    fn filter(&self) -> Filter {
        Filter::categories([CATEGORY])
    }

    fn tables(&self) -> &'static [&'static str] {
        &[TABLE]
    }

    fn schema(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => include_str!("../schema/sqlite/batches.sql"),
            Backend::Postgres => include_str!("../schema/postgres/batches.sql"),
        }
    }

    fn apply<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        tables: &'a Tables,
        events: &'a [RecordedEvent],
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        async move {
            let table = tables.name(TABLE);
            for event in events {
                apply(tx, &table, event).await?;
            }
            Ok(())
        }
        .boxed()
    }
}

#[tracing::instrument(level = "debug", skip_all, fields(stream = %event.stream_id, position = event.position))]
async fn apply(
    tx: &mut AnyConnection,
    table: &str,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let fail = |message: String| ProjectionError::handler(event, message);
    let id = event
        .stream_id
        .strip_prefix(CATEGORY)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|rest| Uuid::parse_str(rest).ok())
        .ok_or_else(|| fail(format!("{} is not batch-<uuid>", event.stream_id)))?;
    let decoded = decode(event).map_err(fail)?;
    let sql = format!("SELECT {COLUMNS} FROM {table} WHERE id = $1");
    let stored = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    let current = stored
        .as_ref()
        .map(decode_row)
        .transpose()
        .map_err(|e| fail(format!("stored row: {e}")))?;
    let row = evolve(current, id, event.stream_version, &decoded).map_err(fail)?;
    upsert(tx, table, &row).await?;
    Ok(())
}

/// What the read model takes from a `BatchItemsRecorded`: everything but its results.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemsRecordedHead {
    batch_id: Uuid,
    totals: BatchTotals,
    at: DateTime<Utc>,
}

/// The event, with the results of a `BatchItemsRecorded` (schema version 1) left unread.
fn decode(event: &RecordedEvent) -> Result<BatchEvent, String> {
    if event.event_type == ITEMS_RECORDED && event.schema_version == 1 {
        let head: ItemsRecordedHead = event
            .payload_as()
            .map_err(|e| format!("payload of {ITEMS_RECORDED} does not match its schema: {e}"))?;
        return Ok(BatchEvent::BatchItemsRecorded(BatchItemsRecorded {
            batch_id: head.batch_id,
            results: Vec::new(),
            totals: head.totals,
            at: head.at,
        }));
    }
    BatchEvent::decode(&event.event_type, event.schema_version, &event.payload)
        .map_err(|e| e.to_string())
}

/// The row after `event` (stream version `version` of batch `id`); `current` is the row
/// before, `None` when the stream has none yet.
fn evolve(
    current: Option<BatchRow>,
    id: Uuid,
    version: u64,
    event: &BatchEvent,
) -> Result<BatchRow, String> {
    let batch_id = match event {
        BatchEvent::BatchReceived(e) => e.batch_id,
        BatchEvent::BatchResumed(e) => e.batch_id,
        BatchEvent::BatchItemsRecorded(e) => e.batch_id,
        BatchEvent::BatchCompleted(e) => e.batch_id,
        BatchEvent::BatchInterrupted(e) => e.batch_id,
    };
    if batch_id != id {
        return Err(format!("the event names batch {batch_id}, not {id}"));
    }
    let before = match (current, event) {
        (None, BatchEvent::BatchReceived(_)) => Batch::default(),
        (None, _) => return Err("an event before the batch's BatchReceived".to_owned()),
        (Some(_), BatchEvent::BatchReceived(_)) => {
            return Err("a second BatchReceived for the batch".to_owned());
        }
        (Some(row), _) if version != row.version + 1 => {
            return Err(format!(
                "stream version {version} does not follow the row's version {}",
                row.version
            ));
        }
        (Some(row), _) => row.batch(),
    };
    BatchRow::from_batch(before.evolve(event), version)
}

async fn upsert(tx: &mut AnyConnection, table: &str, row: &BatchRow) -> Result<(), sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(UPSERT.replace("{table}", table)))
        .bind(row.id.to_string())
        .bind(row.organisation.clone())
        .bind(row.submitted_by.clone())
        .bind(row.format.as_str())
        .bind(row.status.as_str())
        .bind(row.content_length.map(to_i64))
        .bind(format_time(row.received_at))
        .bind(format_time(row.updated_at))
        .bind(row.completed_at.map(format_time))
        .bind(to_i64(row.totals.items))
        .bind(to_i64(row.totals.accepted))
        .bind(to_i64(row.totals.rejected))
        .bind(to_i64(row.totals.replayed))
        .bind(row.interruption.clone())
        .bind(to_i64(row.version))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Reads a `batches` row selected with [`COLUMNS`].
fn decode_row(row: &AnyRow) -> Result<BatchRow, String> {
    let text = |column: &str| -> Result<String, String> {
        row.try_get::<String, _>(column)
            .map_err(|e| format!("{column}: {e}"))
    };
    let optional = |column: &str| -> Result<Option<String>, String> {
        row.try_get::<Option<String>, _>(column)
            .map_err(|e| format!("{column}: {e}"))
    };
    let count = |column: &str| -> Result<u64, String> {
        let n = row
            .try_get::<i64, _>(column)
            .map_err(|e| format!("{column}: {e}"))?;
        u64::try_from(n).map_err(|_| format!("{column}: {n} is out of range"))
    };
    let id = text("id")?;
    let content_length = row
        .try_get::<Option<i64>, _>("content_length")
        .map_err(|e| format!("content_length: {e}"))?
        .map(|n| u64::try_from(n).map_err(|_| format!("content_length: {n} is out of range")))
        .transpose()?;
    Ok(BatchRow {
        id: Uuid::parse_str(&id).map_err(|e| format!("id {id:?}: {e}"))?,
        organisation: optional("organisation")?,
        submitted_by: text("submitted_by")?,
        format: parse_name(&text("format")?)?,
        status: parse_name(&text("status")?)?,
        content_length,
        received_at: parse_time(&text("received_at")?)?,
        updated_at: parse_time(&text("updated_at")?)?,
        completed_at: optional("completed_at")?
            .map(|at| parse_time(&at))
            .transpose()?,
        totals: BatchTotals {
            items: count("items")?,
            accepted: count("accepted")?,
            rejected: count("rejected")?,
            replayed: count("replayed")?,
        },
        interruption: optional("interruption")?,
        version: count("version")?,
    })
}

/// Which batches to list; every field given narrows the list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchFilter {
    pub status: Option<BatchStatus>,
}

/// A page of batches in list order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPage {
    pub rows: Vec<BatchRow>,
    /// Whether rows follow the last one of this page.
    pub has_next_page: bool,
    /// The cursor of the last row; `None` when the page is empty.
    pub end_cursor: Option<String>,
}

/// A list could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("first must be between 1 and {MAX_PAGE_SIZE}, not {0}")]
    InvalidPageSize(u32),
    #[error("the cursor is not one this list returned")]
    InvalidCursor,
    #[error("read-model database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored row that does not read back: a bug or a tampered read model.
    #[error("stored batch row is unreadable: {0}")]
    Corrupt(String),
}

/// The queries of the `batches` read model.
#[derive(Debug, Clone)]
pub struct BatchesQuery {
    models: ReadModels,
}

impl BatchesQuery {
    pub fn new(models: ReadModels) -> Self {
        Self { models }
    }

    fn pool(&self) -> &AnyPool {
        self.models.pool()
    }

    /// A page of the batches in `scope` that match `filter`, newest first (ties by id,
    /// descending). Paging with each page's `end_cursor` visits every matching row once.
    pub async fn list(
        &self,
        scope: &Scope,
        filter: &BatchFilter,
        page: &PageRequest,
    ) -> Result<BatchPage, QueryError> {
        if !(1..=MAX_PAGE_SIZE).contains(&page.first) {
            return Err(QueryError::InvalidPageSize(page.first));
        }
        let after = page
            .after
            .as_deref()
            .map(|c| decode_cursor(c).ok_or(QueryError::InvalidCursor))
            .transpose()?;
        // Every condition binds text; `$n` is the n-th value of `binds`.
        let mut conditions = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        let mut placeholder = |value: String| {
            binds.push(value);
            format!("${}", binds.len())
        };
        if let Scope::Organisation(organisation) = scope {
            conditions.push(format!(
                "organisation = {}",
                placeholder(organisation.clone())
            ));
        }
        if let Some(status) = filter.status {
            conditions.push(format!("status = {}", placeholder(status.as_str().into())));
        }
        if let Some((received_at, id)) = after {
            let (received_at, id) = (placeholder(received_at), placeholder(id));
            conditions.push(format!("(received_at, id) < ({received_at}, {id})"));
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM batches{where_clause} \
             ORDER BY received_at DESC, id DESC LIMIT ${}",
            binds.len() + 1
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for value in binds {
            query = query.bind(value);
        }
        let fetched = query
            .bind(i64::from(page.first) + 1)
            .fetch_all(self.pool())
            .await?;
        let mut rows = fetched
            .iter()
            .map(decode_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(QueryError::Corrupt)?;
        let has_next_page = rows.len() > page.first as usize;
        rows.truncate(page.first as usize);
        let end_cursor = rows.last().map(BatchRow::cursor);
        Ok(BatchPage {
            rows,
            has_next_page,
            end_cursor,
        })
    }
}
