//! SQLite backend: one file, WAL journal, `synchronous=FULL` (an acknowledged append survives
//! power loss), one writer connection (SQLite has one writer anyway; `BEGIN IMMEDIATE` takes the
//! write lock first, so a second process waits instead of failing half-way) and a small pool of
//! reader connections that WAL lets read while the writer commits.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, Sqlite, Transaction};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::backend::{
    Backend, Existing, Heads, LogShape, PAGE, WriteFailure, batch_keys, is_unique_violation,
    to_hash, to_i64, to_u64,
};
use crate::error::StoreError;
use crate::model::{Direction, EventMetadata, Filter, RecordedEvent};
use crate::plan::{self, AppendRequest, Head, Plan, StoredEvent};

const COLUMNS: &str = "position, stream_id, stream_version, event_id, event_type, schema_version, \
     payload, correlation_id, causation_id, actor, recorded_at, hash";
/// Rows per INSERT statement: 13 values each stays far below SQLite's 32,766 variables.
const INSERT_CHUNK: usize = 100;
/// Ids per IN (...) list when looking up stored events.
const LOOKUP_CHUNK: usize = 500;

#[derive(Debug)]
pub(crate) struct SqliteBackend {
    writer: SqlitePool,
    readers: SqlitePool,
    /// Taken around every write transaction, by this writer and by other writers of the same
    /// process (read-model projections): they queue here instead of in SQLite's busy handler,
    /// which sleeps in steps of up to 100 ms and made appends wait behind a projection's commit.
    gate: Arc<Mutex<()>>,
}

impl SqliteBackend {
    /// Opens (creating when missing) the database file named by a `sqlite:` URL and migrates it.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .statement_cache_capacity(256)
            // Rows a reader may buffer ahead of its caller: a whole page, so a page read is not
            // a ping-pong between the worker thread and the task for every row.
            .row_buffer_size(PAGE)
            .foreign_keys(true);
        if let Some(dir) = options.get_filename().parent()
            && !dir.as_os_str().is_empty()
            && !Path::new(dir).exists()
        {
            std::fs::create_dir_all(dir)?;
        }
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Ok(Self {
            writer,
            readers,
            gate: Arc::new(Mutex::new(())),
        })
    }

    /// The in-process write gate (see the field).
    pub fn write_gate(&self) -> Arc<Mutex<()>> {
        self.gate.clone()
    }

    async fn try_write(
        &self,
        requests: &[AppendRequest],
        lookup: bool,
    ) -> Result<Plan, WriteFailure> {
        let (streams, ids) = batch_keys(requests);
        let _turn = self.gate.lock().await;
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let head: i64 = sqlx::query_scalar("SELECT position FROM log_head WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let heads = load_heads(&mut tx, &streams).await?;
        let recorded_at = now_micros();
        let first = head as u64 + 1;
        let mut existing = if lookup {
            Some(load_existing(&mut tx, &ids).await?)
        } else {
            None
        };
        let plan = match plan::plan(requests, &heads, existing.as_ref(), first, recorded_at) {
            Ok(plan) => plan,
            Err(plan::NeedsLookup::EventIds) => {
                existing = Some(load_existing(&mut tx, &ids).await?);
                plan::plan(requests, &heads, existing.as_ref(), first, recorded_at).map_err(
                    |_| sqlx::Error::Protocol("planner asked twice for event ids".into()),
                )?
            }
        };
        if plan.rows.is_empty() {
            tx.rollback().await?;
            return Ok(plan);
        }
        insert_rows(&mut tx, requests, &plan).await?;
        let last = plan.rows.last().map_or(head, |r| to_i64(r.position));
        sqlx::query("UPDATE log_head SET position = ?1 WHERE id = 1")
            .bind(last)
            .execute(&mut *tx)
            .await?;
        // The commit is the one step whose failure leaves the outcome unknown.
        tx.commit().await.map_err(WriteFailure::Commit)?;
        Ok(plan)
    }
}

impl Backend for SqliteBackend {
    async fn write_batch(&self, requests: &[AppendRequest]) -> Result<Plan, WriteFailure> {
        let mut lookup = false;
        loop {
            match self.try_write(requests, lookup).await {
                // An event id already stored (a retry with expected version "any"): plan again
                // with the stored events in view.
                Err(WriteFailure::BeforeCommit(e)) if is_unique_violation(&e) && !lookup => {
                    lookup = true;
                }
                result => return result,
            }
        }
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let head: i64 = sqlx::query_scalar("SELECT position FROM log_head WHERE id = 1")
            .fetch_one(&self.readers)
            .await?;
        to_u64(head, "head position")
    }

    async fn read_stream_page(
        &self,
        stream: &str,
        from_version: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = match direction {
            Direction::Forward => format!(
                "SELECT {COLUMNS} FROM events WHERE stream_id = ?1 AND stream_version >= ?2 \
                 ORDER BY stream_version LIMIT ?3"
            ),
            Direction::Backward => format!(
                "SELECT {COLUMNS} FROM events WHERE stream_id = ?1 AND stream_version <= ?2 \
                 ORDER BY stream_version DESC LIMIT ?3"
            ),
        };
        sqlx::query(AssertSqlSafe(sql))
            .bind(stream)
            .bind(to_i64(from_version))
            .bind(limit as i64)
            .fetch_all(&self.readers)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    async fn read_all_page(
        &self,
        after: u64,
        up_to: u64,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM events WHERE position > ? AND position <= ?");
        if !filter.categories.is_empty() {
            sql.push_str(&format!(
                " AND category IN ({})",
                marks(filter.categories.len())
            ));
        }
        if !filter.event_types.is_empty() {
            sql.push_str(&format!(
                " AND event_type IN ({})",
                marks(filter.event_types.len())
            ));
        }
        sql.push_str(" ORDER BY position LIMIT ?");
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(to_i64(after))
            .bind(to_i64(up_to));
        for value in filter.categories.iter().chain(&filter.event_types) {
            query = query.bind(value.as_str());
        }
        query
            .bind(limit as i64)
            .fetch_all(&self.readers)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    async fn read_by_stream_page(
        &self,
        after: Option<(&str, u64)>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let (stream, version) = after.unwrap_or(("", 0));
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE (stream_id, stream_version) > (?1, ?2) \
             ORDER BY stream_id, stream_version LIMIT ?3"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(stream)
            .bind(to_i64(version))
            .bind(limit as i64)
            .fetch_all(&self.readers)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    async fn log_shape(&self) -> Result<LogShape, StoreError> {
        let (count, max): (i64, i64) =
            sqlx::query_as("SELECT count(*), coalesce(max(position), 0) FROM events")
                .fetch_one(&self.readers)
                .await?;
        let head: i64 = sqlx::query_scalar("SELECT position FROM log_head WHERE id = 1")
            .fetch_one(&self.readers)
            .await?;
        let first_gap: Option<i64> = if count == max {
            None
        } else {
            sqlx::query_scalar(
                "SELECT position FROM (SELECT position, \
                 lag(position, 1, 0) OVER (ORDER BY position) AS previous FROM events) \
                 WHERE position <> previous + 1 LIMIT 1",
            )
            .fetch_optional(&self.readers)
            .await?
        };
        Ok(LogShape {
            count: to_u64(count, "count")?,
            max_position: to_u64(max, "position")?,
            head_record: to_u64(head, "head position")?,
            first_gap: first_gap.map(|p| to_u64(p, "position")).transpose()?,
        })
    }

    async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
    }
}

fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

async fn load_heads(
    tx: &mut Transaction<'static, Sqlite>,
    streams: &[String],
) -> Result<Heads, sqlx::Error> {
    let list = serde_json::to_string(streams).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let rows = sqlx::query(
        "SELECT s.value, e.stream_version, e.hash FROM json_each(?1) AS s \
         JOIN events AS e ON e.stream_id = s.value AND e.stream_version = \
         (SELECT max(stream_version) FROM events WHERE stream_id = s.value)",
    )
    .bind(list)
    .fetch_all(&mut **tx)
    .await?;
    let mut heads = Heads::with_capacity(rows.len());
    for row in rows {
        let version: i64 = row.try_get(1)?;
        let hash = to_hash(row.try_get(2)?).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        heads.insert(
            row.try_get(0)?,
            Head {
                version: version as u64,
                hash,
            },
        );
    }
    Ok(heads)
}

async fn load_existing(
    tx: &mut Transaction<'static, Sqlite>,
    ids: &[Uuid],
) -> Result<Existing, sqlx::Error> {
    let mut existing = Existing::new();
    for chunk in ids.chunks(LOOKUP_CHUNK) {
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE event_id IN ({})",
            marks(chunk.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut **tx).await? {
            let event = decode(&row).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            existing.insert(event.event_id, StoredEvent::from(event));
        }
    }
    Ok(existing)
}

async fn insert_rows(
    tx: &mut Transaction<'static, Sqlite>,
    requests: &[AppendRequest],
    plan: &Plan,
) -> Result<(), sqlx::Error> {
    let recorded_at = plan.recorded_at.timestamp_micros();
    for chunk in plan.rows.chunks(INSERT_CHUNK) {
        let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let sql = format!(
            "INSERT INTO events (position, stream_id, category, stream_version, event_id, \
             event_type, schema_version, payload, correlation_id, causation_id, actor, \
             recorded_at, hash) VALUES {values}"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            let request = &requests[row.request];
            let event = &request.events[row.event];
            query = query
                .bind(to_i64(row.position))
                .bind(request.stream.as_str())
                .bind(request.stream.category())
                .bind(to_i64(row.stream_version))
                .bind(event.event_id)
                .bind(event.event_type.as_str())
                .bind(i64::from(event.schema_version))
                .bind(event.payload.as_str())
                .bind(event.metadata.correlation_id)
                .bind(event.metadata.causation_id)
                .bind(event.metadata.actor.as_deref())
                .bind(recorded_at)
                .bind(row.hash.as_slice());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

fn decode(row: &SqliteRow) -> Result<RecordedEvent, StoreError> {
    let micros: i64 = row.try_get(10)?;
    let schema_version: i64 = row.try_get(5)?;
    Ok(RecordedEvent {
        position: to_u64(row.try_get(0)?, "position")?,
        stream_id: row.try_get(1)?,
        stream_version: to_u64(row.try_get(2)?, "stream version")?,
        event_id: row.try_get(3)?,
        event_type: row.try_get(4)?,
        schema_version: u32::try_from(schema_version)
            .map_err(|_| StoreError::Corrupt(format!("schema version {schema_version}")))?,
        payload: row.try_get(6)?,
        metadata: EventMetadata {
            correlation_id: row.try_get(7)?,
            causation_id: row.try_get(8)?,
            actor: row.try_get(9)?,
        },
        recorded_at: DateTime::from_timestamp_micros(micros)
            .ok_or_else(|| StoreError::Corrupt(format!("recorded_at {micros}")))?,
        hash: to_hash(row.try_get(11)?)?,
    })
}
