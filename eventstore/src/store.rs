//! The event store handle: open, append, read, subscribe, verify.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use futures::Stream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::backend::{AnyBackend, Backend, PAGE, scan_all};
use crate::error::StoreError;
use crate::model::{
    AppendResult, Direction, ExpectedVersion, Filter, Limits, MAX_ACTOR_LEN, NewEvent,
    RecordedEvent, StreamId, VerifyReport, validate_event_type,
};
use crate::plan::{AppendRequest, PreparedEvent};
use crate::postgres::PgBackend;
use crate::sqlite::SqliteBackend;
use crate::writer::{self, Pending, Shared};
use crate::{subscribe, verify};

/// Appends waiting for the writer before callers are made to wait (backpressure).
const QUEUE_DEPTH: usize = 4096;

/// How an event store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub limits: Limits,
    /// How often the head position is re-read from the database, in case a wake-up from another
    /// process was missed (PostgreSQL NOTIFY is a hint, not a guarantee).
    pub poll_interval: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// A handle on the event store. Cheap to clone; all clones share one writer and one pool.
#[derive(Debug, Clone)]
pub struct EventStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    queue: mpsc::Sender<Pending>,
    limits: Limits,
    refresher: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

impl EventStore {
    /// Opens the store named by `url` (`sqlite://PATH`, `sqlite:PATH` or `postgres://...`),
    /// applying migrations.
    pub async fn open(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let instance = Uuid::new_v4();
        let backend = if url.starts_with("sqlite:") {
            AnyBackend::Sqlite(SqliteBackend::open(url).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            AnyBackend::Postgres(PgBackend::open(url, instance).await?)
        } else {
            let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
            return Err(StoreError::UnsupportedUrl(scheme.to_owned()));
        };
        let head = backend.head_position().await?;
        let shared = Arc::new(Shared {
            backend,
            head: watch::Sender::new(head),
            poisoned: AtomicBool::new(false),
        });
        let (queue, receiver) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(writer::run(shared.clone(), receiver));
        let refresher = tokio::spawn(subscribe::refresh_head(
            Arc::downgrade(&shared),
            instance,
            options.poll_interval,
        ));
        tracing::info!(backend = shared.backend.name(), head, "event store opened");
        Ok(Self {
            inner: Arc::new(Inner {
                shared,
                queue,
                limits: options.limits,
                refresher,
            }),
        })
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        self.inner.shared.backend.name()
    }

    /// On SQLite, the lock every writer of this process takes around its write transaction;
    /// other writers of the same database file in this process (read-model projections) should
    /// take it too, so writers queue in order instead of sleeping in SQLite's busy handler.
    /// `None` on PostgreSQL, where writers do not block each other that way.
    pub fn write_gate(&self) -> Option<Arc<tokio::sync::Mutex<()>>> {
        match &self.inner.shared.backend {
            AnyBackend::Sqlite(sqlite) => Some(sqlite.write_gate()),
            AnyBackend::Postgres(_) => None,
        }
    }

    /// Whether an earlier commit failed (then every append is refused until the store is
    /// reopened).
    pub fn is_poisoned(&self) -> bool {
        self.inner.shared.is_poisoned()
    }

    /// The position of the last committed event, as this handle knows it.
    pub fn head(&self) -> u64 {
        *self.inner.shared.head.borrow()
    }

    /// The position of the last committed event, read from the database (checks it answers).
    pub async fn head_position(&self) -> Result<u64, StoreError> {
        let head = self.inner.shared.backend.head_position().await?;
        self.inner.shared.advance_head(head);
        Ok(head)
    }

    /// Appends events to one stream, atomically, if the stream is at the expected version.
    ///
    /// Re-sending events whose ids are already stored in this stream with the same content
    /// writes nothing and returns the result of the first append.
    #[tracing::instrument(skip_all, fields(stream = %stream, events = events.len()), err(level = "debug"))]
    pub async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        if self.is_poisoned() {
            return Err(StoreError::Poisoned);
        }
        let request = AppendRequest {
            stream: stream.clone(),
            expected,
            events: prepare(events, &self.inner.limits)?,
        };
        let (reply, answer) = oneshot::channel();
        self.inner
            .queue
            .send(Pending { request, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Reads one stream from version `from` (forward: from 1 when `None`; backward: from the
    /// last event when `None`), at most `limit` events, page by page.
    pub fn read_stream(
        &self,
        stream: &StreamId,
        direction: Direction,
        from: Option<u64>,
        limit: usize,
    ) -> impl Stream<Item = Result<RecordedEvent, StoreError>> + Send + 'static + use<> {
        let shared = self.inner.shared.clone();
        let stream = stream.to_string();
        async_stream::try_stream! {
            let mut next = match direction {
                Direction::Forward => from.unwrap_or(1).max(1),
                Direction::Backward => from.unwrap_or(i64::MAX as u64),
            };
            let mut remaining = limit;
            while remaining > 0 {
                let want = remaining.min(PAGE);
                let page = shared.backend.read_stream_page(&stream, next, direction, want).await?;
                let full = page.len() == want;
                for event in page {
                    next = match direction {
                        Direction::Forward => event.stream_version + 1,
                        Direction::Backward => event.stream_version.saturating_sub(1),
                    };
                    remaining -= 1;
                    yield event;
                }
                if !full || next == 0 {
                    break;
                }
            }
        }
    }

    /// Reads the global log (`$all`) after a position, filtered, at most `limit` events, up to
    /// the head committed when the read starts.
    pub fn read_all(
        &self,
        after: u64,
        filter: Filter,
        limit: usize,
    ) -> impl Stream<Item = Result<RecordedEvent, StoreError>> + Send + 'static + use<> {
        let shared = self.inner.shared.clone();
        async_stream::try_stream! {
            // A read is a snapshot: it ends at the head committed when it starts.
            let up_to = shared.backend.head_position().await?;
            let mut after = after;
            let mut remaining = limit;
            while remaining > 0 && after < up_to {
                let want = remaining.min(PAGE);
                let (page, scanned) = scan_all(&shared.backend, after, up_to, &filter, want).await?;
                remaining -= page.len();
                for event in page {
                    yield event;
                }
                after = scanned;
            }
        }
    }

    /// Follows the global log: every event after `after` that matches the filter, then every
    /// new one as it commits, each exactly once, in position order. Ends only on an error.
    pub fn subscribe_all(
        &self,
        after: u64,
        filter: Filter,
    ) -> impl Stream<Item = Result<RecordedEvent, StoreError>> + Send + 'static + use<> {
        subscribe::all(self.inner.shared.clone(), after, filter)
    }

    /// Follows one stream: its events after `after_version`, then every new one.
    pub fn subscribe_stream(
        &self,
        stream: &StreamId,
        after_version: u64,
    ) -> impl Stream<Item = Result<RecordedEvent, StoreError>> + Send + 'static + use<> {
        subscribe::stream(self.inner.shared.clone(), stream.to_string(), after_version)
    }

    /// Walks one stream's hash chain and reports the first broken link.
    pub async fn verify_stream(&self, stream: &StreamId) -> Result<VerifyReport, StoreError> {
        verify::stream(self, stream).await
    }

    /// Walks every stream's hash chain and checks the log has no missing positions.
    pub async fn verify_all(&self) -> Result<VerifyReport, StoreError> {
        verify::all(&self.inner.shared.backend).await
    }

    /// Stops accepting appends and closes the database connections once the queue is drained.
    pub async fn close(&self) {
        self.inner.shared.backend.close().await;
    }
}

fn prepare(events: Vec<NewEvent>, limits: &Limits) -> Result<Vec<PreparedEvent>, StoreError> {
    if events.is_empty() {
        return Err(StoreError::EmptyAppend);
    }
    if events.len() > limits.max_events_per_append {
        return Err(StoreError::TooManyEvents {
            count: events.len(),
            limit: limits.max_events_per_append,
        });
    }
    let mut seen = HashSet::with_capacity(events.len());
    events
        .into_iter()
        .map(|event| {
            if !seen.insert(event.event_id) {
                return Err(StoreError::DuplicateEventInAppend {
                    event_id: event.event_id,
                });
            }
            validate_event_type(&event.event_type)?;
            if event.schema_version == 0 {
                return Err(StoreError::InvalidSchemaVersion {
                    event_id: event.event_id,
                });
            }
            if let Some(actor) = &event.metadata.actor {
                let reason = if actor.len() > MAX_ACTOR_LEN {
                    Some("must be at most 200 bytes")
                } else if actor.chars().any(char::is_control) {
                    Some("must not contain control characters")
                } else {
                    None
                };
                if let Some(reason) = reason {
                    return Err(StoreError::InvalidActor {
                        event_id: event.event_id,
                        reason,
                    });
                }
            }
            // Serializing a `Value` cannot fail: its map keys are always strings.
            let payload = serde_json::to_string(&event.payload)
                .map_err(|e| StoreError::Corrupt(format!("payload not serializable: {e}")))?;
            if payload.len() > limits.max_payload_bytes {
                return Err(StoreError::PayloadTooLarge {
                    event_id: event.event_id,
                    size: payload.len(),
                    limit: limits.max_payload_bytes,
                });
            }
            Ok(PreparedEvent {
                event_id: event.event_id,
                event_type: event.event_type,
                schema_version: event.schema_version,
                payload,
                metadata: event.metadata,
            })
        })
        .collect()
}
