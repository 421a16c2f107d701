//! The projection runner: catches a projection up from its checkpoint, then follows the log
//! live. Events are applied in batches; each batch and the new checkpoint commit in one
//! transaction. A failing event stops the projection with its position and error visible, and
//! the runner retries with back-off from the last checkpoint: nothing is skipped silently.
//!
//! Several processes may run the same projection on one PostgreSQL: only the one holding the
//! projection's leadership ([`crate::leader`]) applies events, the others stand by and take over
//! within about a second of its process dying. Whatever happens to leadership, a batch commits
//! only if the checkpoint still stands where the batch started (compare-and-set in the same
//! transaction), so no event is ever applied twice.

use std::sync::Arc;
use std::time::Duration;

use eventstore::{EventStore, Filter, RecordedEvent, StoreError};
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use sqlx::AnyConnection;
use tokio::sync::watch;

use crate::leader::Leader;
use crate::read_models::ReadModels;

/// Events applied per transaction at most.
const BATCH: usize = 500;
/// Longest pause between retries of a failing projection.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("read-model database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("read-model migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Another runner moved the checkpoint since this one read it: this runner's batch was
    /// rolled back; it reads the checkpoint again.
    #[error("checkpoint moved by another runner (expected {expected})")]
    Superseded { expected: u64 },
    /// The projection could not apply an event (bad payload, broken invariant).
    #[error("event {event_type} at position {position}: {message}")]
    Handler {
        position: u64,
        event_type: String,
        message: String,
    },
}

impl ProjectionError {
    /// A handler failure for `event`.
    pub fn handler(event: &RecordedEvent, message: impl Into<String>) -> Self {
        Self::Handler {
            position: event.position,
            event_type: event.event_type.clone(),
            message: message.into(),
        }
    }
}

/// A read model fed by the event log.
pub trait Projection: Send + Sync + 'static {
    /// Stable name; the checkpoint is kept under it.
    fn name(&self) -> &'static str;
    /// Bump when the read model's shape or meaning changes: the runner rebuilds it from 0.
    fn version(&self) -> u32 {
        1
    }
    /// The events this projection reads.
    fn filter(&self) -> Filter;
    /// Applies one event inside the runner's transaction.
    fn apply<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        event: &'a RecordedEvent,
    ) -> BoxFuture<'a, Result<(), ProjectionError>>;
    /// Removes everything the projection wrote (inside the rebuild's transaction).
    fn reset<'a>(&'a self, tx: &'a mut AnyConnection)
    -> BoxFuture<'a, Result<(), ProjectionError>>;
}

/// What a projection is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Another process leads this projection; this runner waits to take over.
    Standby,
    Starting,
    CatchingUp,
    Live,
    /// Stopped on an event; retrying from the checkpoint after a pause.
    Failed {
        position: u64,
        error: String,
    },
}

/// A projection's progress, published for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub name: &'static str,
    pub version: u32,
    pub position: u64,
    pub state: State,
}

/// Runs one projection.
pub struct Runner {
    store: EventStore,
    models: ReadModels,
    projection: Arc<dyn Projection>,
    status: watch::Sender<Status>,
    /// The event store's write gate (SQLite), held around each read-model transaction.
    gate: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

impl Runner {
    pub fn new(store: EventStore, models: ReadModels, projection: Arc<dyn Projection>) -> Self {
        let status = watch::Sender::new(Status {
            name: projection.name(),
            version: projection.version(),
            position: 0,
            state: State::Starting,
        });
        let gate = store.write_gate();
        Self {
            store,
            models,
            projection,
            status,
            gate,
        }
    }

    /// Follows this projection's progress.
    pub fn status(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    /// The stored checkpoint; rebuilds first when the stored version differs from the
    /// projection's.
    pub async fn checkpoint(&self) -> Result<u64, ProjectionError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT version, position FROM projection_checkpoints WHERE name = $1")
                .bind(self.projection.name())
                .fetch_optional(self.models.pool())
                .await?;
        match row {
            Some((version, position)) if version == i64::from(self.projection.version()) => {
                Ok(u64::try_from(position).unwrap_or(0))
            }
            Some(_) => {
                tracing::info!(
                    projection = self.projection.name(),
                    "version changed, rebuilding"
                );
                self.rebuild().await?;
                Ok(0)
            }
            None => {
                // The row every later batch moves with compare-and-set.
                sqlx::query(
                    "INSERT INTO projection_checkpoints (name, version, position) \
                     VALUES ($1, $2, 0) ON CONFLICT (name) DO NOTHING",
                )
                .bind(self.projection.name())
                .bind(i64::from(self.projection.version()))
                .execute(self.models.pool())
                .await?;
                Box::pin(self.checkpoint()).await
            }
        }
    }

    /// Empties the read model and sets the checkpoint back to 0, in one transaction.
    pub async fn rebuild(&self) -> Result<(), ProjectionError> {
        let _turn = self.turn().await;
        let mut tx = self.models.pool().begin().await?;
        self.projection.reset(&mut tx).await?;
        save_checkpoint(&mut tx, self.projection.as_ref(), 0).await?;
        tx.commit().await?;
        self.publish(0, State::Starting);
        Ok(())
    }

    /// Applies every event committed so far, then returns the checkpoint reached.
    pub async fn catch_up(&self) -> Result<u64, ProjectionError> {
        let from = self.checkpoint().await?;
        self.publish(from, State::CatchingUp);
        // Read the head before the events: the read below covers at least up to it, so every
        // position up to `head` has been seen even where no event matched the filter. (A head
        // read afterwards could include commits the read never saw.)
        let head = self.store.head_position().await?;
        let events = self
            .store
            .read_all(from, self.projection.filter(), usize::MAX);
        let end = self.apply_stream(events, from, false).await?;
        if head > end {
            let _turn = self.turn().await;
            let mut tx = self.models.pool().begin().await?;
            advance_checkpoint(&mut tx, self.projection.as_ref(), end, head).await?;
            tx.commit().await?;
            self.publish(head, State::CatchingUp);
        }
        Ok(head.max(end))
    }

    /// Takes the projection's leadership (waiting in [`State::Standby`] while another process
    /// holds it), catches up, then follows the log until `shutdown` resolves. Failures are
    /// retried with back-off from the last committed checkpoint; a lost leadership sends the
    /// runner back to stand by.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut backoff = Duration::from_millis(250);
        loop {
            let leader = tokio::select! {
                leader = self.lead() => leader,
                () = &mut shutdown => return,
            };
            let mut leader = match leader {
                Ok(leader) => leader,
                Err(error) => {
                    let position = self.status.borrow().position;
                    tracing::warn!(projection = self.projection.name(), %error, "cannot take the lead, retrying");
                    self.publish(position, State::Standby);
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = &mut shutdown => return,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            let attempt = async {
                let from = self.catch_up().await?;
                self.publish(from, State::Live);
                let live = self.store.subscribe_all(from, self.projection.filter());
                self.apply_stream(live, from, true).await
            };
            let result = tokio::select! {
                result = attempt => result,
                () = leader.lost() => {
                    let position = self.status.borrow().position;
                    tracing::warn!(projection = self.projection.name(), position, "leadership lost, standing by");
                    self.publish(position, State::Standby);
                    continue;
                }
                () = &mut shutdown => return,
            };
            drop(leader);
            if let Err(ProjectionError::Superseded { expected }) = &result {
                // Another runner applied these events; read the checkpoint again.
                tracing::info!(
                    projection = self.projection.name(),
                    expected,
                    "checkpoint moved by another runner"
                );
                continue;
            }
            let position = self.status.borrow().position;
            let error = match result {
                Ok(_) => "the live subscription ended".to_owned(),
                Err(error) => error.to_string(),
            };
            tracing::error!(projection = self.projection.name(), position, %error, "projection stopped, retrying");
            self.publish(position, State::Failed { position, error });
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = &mut shutdown => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Applies events in batches of what is ready, one transaction per batch; returns the
    /// last position applied.
    async fn apply_stream(
        &self,
        events: impl Stream<Item = Result<RecordedEvent, StoreError>>,
        mut position: u64,
        live: bool,
    ) -> Result<u64, ProjectionError> {
        let mut batches = std::pin::pin!(events.ready_chunks(BATCH));
        while let Some(batch) = batches.next().await {
            let _turn = self.turn().await;
            let mut tx = self.models.pool().begin().await?;
            let mut last = position;
            for event in batch {
                let event = event?;
                if let Err(error) = self.projection.apply(&mut tx, &event).await {
                    // The transaction rolls back: none of this batch takes effect.
                    let failed_at = event.position;
                    self.publish(
                        position,
                        State::Failed {
                            position: failed_at,
                            error: error.to_string(),
                        },
                    );
                    return Err(error);
                }
                last = event.position;
            }
            advance_checkpoint(&mut tx, self.projection.as_ref(), position, last).await?;
            tx.commit().await?;
            position = last;
            self.publish(position, if live { State::Live } else { State::CatchingUp });
        }
        Ok(position)
    }

    /// This projection's leadership: at once on SQLite (one server process per database), on
    /// PostgreSQL when no other process holds it (polled every second).
    async fn lead(&self) -> Result<Leader, ProjectionError> {
        let mut standing_by = false;
        let mut spare = None;
        loop {
            let name = self.projection.name();
            if let Some(leader) = Leader::try_acquire(&self.models, name, &mut spare).await? {
                if standing_by {
                    tracing::info!(projection = self.projection.name(), "took the lead");
                }
                return Ok(leader);
            }
            if !standing_by {
                standing_by = true;
                tracing::info!(
                    projection = self.projection.name(),
                    "another process leads, standing by"
                );
                let position = self.status.borrow().position;
                self.publish(position, State::Standby);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Waits for the store's write gate, where there is one.
    async fn turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        }
    }

    fn publish(&self, position: u64, state: State) {
        self.status.send_modify(|status| {
            status.position = position;
            status.state = state;
        });
    }
}

/// Moves the checkpoint from `from` to `to`, in the batch's transaction, if it still stands at
/// `from` for this version; [`ProjectionError::Superseded`] when another runner moved it (the
/// batch then rolls back).
async fn advance_checkpoint(
    tx: &mut AnyConnection,
    projection: &dyn Projection,
    from: u64,
    to: u64,
) -> Result<(), ProjectionError> {
    let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let moved = sqlx::query(
        "UPDATE projection_checkpoints SET position = $1 \
         WHERE name = $2 AND version = $3 AND position = $4",
    )
    .bind(to_i64(to))
    .bind(projection.name())
    .bind(i64::from(projection.version()))
    .bind(to_i64(from))
    .execute(tx)
    .await?;
    if moved.rows_affected() == 1 {
        Ok(())
    } else {
        Err(ProjectionError::Superseded { expected: from })
    }
}

async fn save_checkpoint(
    tx: &mut AnyConnection,
    projection: &dyn Projection,
    position: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO projection_checkpoints (name, version, position) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET version = excluded.version, position = excluded.position",
    )
    .bind(projection.name())
    .bind(i64::from(projection.version()))
    .bind(i64::try_from(position).unwrap_or(i64::MAX))
    .execute(tx)
    .await?;
    Ok(())
}
