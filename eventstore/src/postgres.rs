//! PostgreSQL backend. Writers serialize on the `log_head` row lock (docs/adr/0001), each
//! process group-commits many appends per transaction, and a NOTIFY sent inside the transaction
//! wakes subscribers in other processes once it commits. `synchronous_commit=on` is forced on
//! every connection: an acknowledged append has reached the WAL on disk.

use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use crate::backend::{
    Backend, Existing, Heads, LogShape, WriteFailure, batch_keys, is_unique_violation, to_hash,
    to_i64, to_u64,
};
use crate::error::StoreError;
use crate::model::{Direction, EventMetadata, ExpectedVersion, Filter, RecordedEvent};
use crate::plan::{self, AppendRequest, Head, Plan, StoredEvent};

/// The channel on which commits are announced (payload: `<instance id>:<position>`).
pub(crate) const CHANNEL: &str = "aduana_events";

macro_rules! select_events {
    ($rest:literal) => {
        concat!(
            "SELECT position, stream_id, stream_version, event_id, event_type, schema_version, \
             payload::text AS payload, correlation_id, causation_id, actor, recorded_at, hash \
             FROM events ",
            $rest
        )
    };
}

#[derive(Debug)]
pub(crate) struct PgBackend {
    pool: PgPool,
    instance: Uuid,
    /// Heads of streams this process wrote recently. Only a hint: the unique index on
    /// (stream_id, stream_version) refuses any append planned on a stale head, which then takes
    /// the locked path.
    heads: Mutex<Heads>,
}

/// Most stream heads remembered between batches.
const HEAD_CACHE: usize = 65_536;

impl PgBackend {
    pub async fn open(url: &str, instance: Uuid) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?
            .options([("synchronous_commit", "on")])
            .application_name("aduana");
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self {
            pool,
            instance,
            heads: Mutex::new(Heads::new()),
        })
    }

    /// A listener on the commit channel, for waking subscribers on other processes' commits.
    pub async fn listener(&self) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }

    async fn try_write(
        &self,
        requests: &[AppendRequest],
        lookup: bool,
    ) -> Result<Plan, WriteFailure> {
        let (streams, ids) = batch_keys(requests);
        let mut tx = self.pool.begin().await?;
        let head: i64 = sqlx::query_scalar("SELECT position FROM log_head WHERE id = 1 FOR UPDATE")
            .fetch_one(&mut *tx)
            .await?;
        let heads = load_heads(&mut *tx, &streams).await?;
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
        let base = self.write_rows(&mut *tx, requests, &plan).await?;
        if base != head as u64 {
            return Err(sqlx::Error::Protocol(format!(
                "log head moved from {head} to {base} under its lock"
            ))
            .into());
        }
        // The commit is the one step whose failure leaves the outcome unknown.
        tx.commit().await.map_err(WriteFailure::Commit)?;
        Ok(plan)
    }

    /// The fast path: plan on remembered heads (or heads read without a lock) and write the
    /// whole batch in one autocommit statement that takes the log lock, assigns positions and
    /// inserts. Returns `None` when the locked path must decide instead: a conflict (it may be
    /// a stale head or a retry) or a unique violation (a stale head or a stored event id).
    async fn try_fast(&self, requests: &[AppendRequest]) -> Result<Option<Plan>, WriteFailure> {
        let mut heads = self.cached_heads(requests);
        let unknown: Vec<String> = requests
            .iter()
            .filter(|r| {
                !matches!(
                    r.expected,
                    ExpectedVersion::NoStream | ExpectedVersion::Exact(0)
                )
            })
            .map(|r| r.stream.as_str())
            .filter(|s| !heads.contains_key(*s))
            .map(str::to_owned)
            .collect();
        if !unknown.is_empty() {
            heads.extend(load_heads(&self.pool, &unknown).await?);
        }
        let Ok(mut plan) = plan::plan(requests, &heads, None, 1, now_micros()) else {
            return Ok(None);
        };
        let conflict = plan
            .outcomes
            .iter()
            .any(|o| matches!(o, Err(StoreError::WrongExpectedVersion { .. })));
        if conflict {
            return Ok(None);
        }
        if plan.rows.is_empty() {
            return Ok(Some(plan));
        }
        match self.write_rows(&self.pool, requests, &plan).await {
            Ok(base) => {
                plan.shift_positions(base);
                Ok(Some(plan))
            }
            Err(e) if is_unique_violation(&e) => Ok(None),
            // The server refused the statement, so it rolled back: nothing was written.
            Err(
                e
                @ (sqlx::Error::Database(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed),
            ) => Err(WriteFailure::BeforeCommit(e)),
            // The connection failed mid-statement: the commit may or may not have happened.
            Err(e) => Err(WriteFailure::Commit(e)),
        }
    }

    fn cached_heads(&self, requests: &[AppendRequest]) -> Heads {
        let cache = self
            .heads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        requests
            .iter()
            .filter_map(|r| {
                let stream = r.stream.as_str();
                cache.get(stream).map(|head| (stream.to_owned(), *head))
            })
            .collect()
    }

    fn remember_heads(&self, requests: &[AppendRequest], plan: &Plan) {
        let mut cache = self
            .heads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.len() > HEAD_CACHE {
            cache.clear();
        }
        for row in &plan.rows {
            let head = Head {
                version: row.stream_version,
                hash: row.hash,
            };
            cache.insert(requests[row.request].stream.to_string(), head);
        }
    }

    /// Takes the log lock (the `log_head` row), assigns the next positions in plan order,
    /// inserts the rows and announces the commit; returns the head the positions start after.
    async fn write_rows<'e>(
        &self,
        executor: impl sqlx::PgExecutor<'e>,
        requests: &[AppendRequest],
        plan: &Plan,
    ) -> Result<u64, sqlx::Error> {
        let n = plan.rows.len();
        let mut stream_ids = Vec::with_capacity(n);
        let mut categories = Vec::with_capacity(n);
        let mut versions = Vec::with_capacity(n);
        let mut event_ids = Vec::with_capacity(n);
        let mut types = Vec::with_capacity(n);
        let mut schemas = Vec::with_capacity(n);
        let mut payloads = Vec::with_capacity(n);
        let mut correlations = Vec::with_capacity(n);
        let mut causations = Vec::with_capacity(n);
        let mut actors = Vec::with_capacity(n);
        let mut hashes = Vec::with_capacity(n);
        for row in &plan.rows {
            let request = &requests[row.request];
            let event = &request.events[row.event];
            stream_ids.push(request.stream.as_str());
            categories.push(request.stream.category());
            versions.push(to_i64(row.stream_version));
            event_ids.push(event.event_id);
            types.push(event.event_type.as_str());
            schemas.push(i32::try_from(event.schema_version).unwrap_or(i32::MAX));
            payloads.push(event.payload.as_str());
            correlations.push(event.metadata.correlation_id);
            causations.push(event.metadata.causation_id);
            actors.push(event.metadata.actor.as_deref());
            hashes.push(row.hash.as_slice());
        }
        // Rows are in plan order, so row k (1-based) gets position base + k: the positions the
        // plan assigned relative to its first position.
        let base: i64 = sqlx::query_scalar(
            "WITH head AS ( \
               UPDATE log_head SET position = position + $12 WHERE id = 1 \
               RETURNING position - $12 AS base \
             ), written AS ( \
               INSERT INTO events (position, stream_id, category, stream_version, event_id, \
                 event_type, schema_version, payload, correlation_id, causation_id, actor, \
                 recorded_at, hash) \
               SELECT head.base + r.o, r.s, r.c, r.v, r.i, r.t, r.sv, r.pl::json, r.co, r.ca, \
                 r.a, $11, r.h \
               FROM head, unnest($1::text[], $2::text[], $3::bigint[], $4::uuid[], $5::text[], \
                 $6::int[], $7::text[], $8::uuid[], $9::uuid[], $10::text[], $13::bytea[]) \
                 WITH ORDINALITY AS r(s, c, v, i, t, sv, pl, co, ca, a, h, o) \
               RETURNING 1 \
             ) \
             SELECT base FROM head, \
               LATERAL (SELECT pg_notify($14, $15 || ':' || (base + $12))) AS notified",
        )
        .bind(&stream_ids)
        .bind(&categories)
        .bind(&versions)
        .bind(&event_ids)
        .bind(&types)
        .bind(&schemas)
        .bind(&payloads)
        .bind(&correlations)
        .bind(&causations)
        .bind(&actors)
        .bind(plan.recorded_at)
        .bind(n as i64)
        .bind(&hashes)
        .bind(CHANNEL)
        .bind(self.instance.to_string())
        .fetch_one(executor)
        .await?;
        to_u64(base, "head position").map_err(|e| sqlx::Error::Decode(Box::new(e)))
    }
}

impl Backend for PgBackend {
    async fn write_batch(&self, requests: &[AppendRequest]) -> Result<Plan, WriteFailure> {
        if let Some(plan) = self.try_fast(requests).await? {
            self.remember_heads(requests, &plan);
            return Ok(plan);
        }
        let mut lookup = false;
        loop {
            match self.try_write(requests, lookup).await {
                Ok(plan) => {
                    self.remember_heads(requests, &plan);
                    return Ok(plan);
                }
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
            .fetch_one(&self.pool)
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
            Direction::Forward => select_events!(
                "WHERE stream_id = $1 AND stream_version >= $2 ORDER BY stream_version LIMIT $3"
            ),
            Direction::Backward => select_events!(
                "WHERE stream_id = $1 AND stream_version <= $2 \
                 ORDER BY stream_version DESC LIMIT $3"
            ),
        };
        sqlx::query(sql)
            .bind(stream)
            .bind(to_i64(from_version))
            .bind(limit as i64)
            .fetch_all(&self.pool)
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
        let categories = (!filter.categories.is_empty()).then_some(&filter.categories);
        let types = (!filter.event_types.is_empty()).then_some(&filter.event_types);
        sqlx::query(select_events!(
            "WHERE position > $1 AND position <= $2 \
             AND ($3::text[] IS NULL OR category = ANY($3)) \
             AND ($4::text[] IS NULL OR event_type = ANY($4)) \
             ORDER BY position LIMIT $5"
        ))
        .bind(to_i64(after))
        .bind(to_i64(up_to))
        .bind(categories)
        .bind(types)
        .bind(limit as i64)
        .fetch_all(&self.pool)
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
        sqlx::query(select_events!(
            "WHERE (stream_id, stream_version) > ($1, $2) \
             ORDER BY stream_id, stream_version LIMIT $3"
        ))
        .bind(stream)
        .bind(to_i64(version))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    async fn log_shape(&self) -> Result<LogShape, StoreError> {
        let (count, max, head): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*), coalesce(max(position), 0), \
             (SELECT position FROM log_head WHERE id = 1) FROM events",
        )
        .fetch_one(&self.pool)
        .await?;
        let first_gap: Option<i64> = if count == max {
            None
        } else {
            sqlx::query_scalar(
                "SELECT position FROM (SELECT position, \
                 lag(position, 1, 0::bigint) OVER (ORDER BY position) AS previous FROM events) g \
                 WHERE position <> previous + 1 ORDER BY position LIMIT 1",
            )
            .fetch_optional(&self.pool)
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
        self.pool.close().await;
    }
}

async fn load_heads<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    streams: &[String],
) -> Result<Heads, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT s.id, e.stream_version, e.hash FROM unnest($1::text[]) AS s(id) \
         CROSS JOIN LATERAL (SELECT stream_version, hash FROM events \
           WHERE stream_id = s.id ORDER BY stream_version DESC LIMIT 1) AS e",
    )
    .bind(streams)
    .fetch_all(executor)
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
    tx: &mut Transaction<'static, Postgres>,
    ids: &[Uuid],
) -> Result<Existing, sqlx::Error> {
    let rows = sqlx::query(select_events!("WHERE event_id = ANY($1)"))
        .bind(ids)
        .fetch_all(&mut **tx)
        .await?;
    let mut existing = Existing::with_capacity(rows.len());
    for row in rows {
        let event = decode(&row).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        existing.insert(event.event_id, StoredEvent::from(event));
    }
    Ok(existing)
}

fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

fn decode(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    let schema_version: i32 = row.try_get(5)?;
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
        recorded_at: row.try_get(10)?,
        hash: to_hash(row.try_get(11)?)?,
    })
}
