//! The projection runner: catches a projection up from its checkpoint, then follows the log
//! live. Events are applied in batches; each batch and the new checkpoint commit in one
//! transaction. A failing event stops the projection with its position and error visible, and
//! the runner retries with back-off from the last checkpoint: nothing is skipped silently.
//!
//! Rebuilds are blue/green ([`crate::generations`]): the leading runner fills a new generation
//! of the tables from position 0 while the serving one keeps answering queries (and keeps
//! following the log, when this process runs the same version), then switches over in one
//! transaction. It rebuilds when an operator asks ([`crate::request_rebuild`]) and when its
//! projection's version is newer than the serving generation's. A process whose version is
//! older than the serving generation's stands by: newer code owns the read model.
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

use crate::generations::{self, Generation, GenerationState, Tables};
use crate::leader::Leader;
use crate::read_models::{Backend, ReadModels};
use crate::stored::to_i64;

/// Events applied per transaction at most.
const BATCH: usize = 2000;
/// Longest pause between retries of a failing projection.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often the leader looks for an operator's rebuild request.
const REQUEST_POLL: Duration = Duration::from_secs(1);
/// How often a process whose version is older than the serving one looks again.
const NEWER_VERSION_POLL: Duration = Duration::from_secs(5);

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
    /// The serving generation was built by a newer version of the projection: this process's
    /// older code stands by.
    #[error("the serving generation is version {serving}, newer than this process's {ours}")]
    NewerVersion { serving: u32, ours: u32 },
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
    /// Bump when the read model's shape or meaning changes: the leading runner rebuilds it into
    /// a new generation, blue/green.
    fn version(&self) -> u32 {
        1
    }
    /// The events this projection reads.
    fn filter(&self) -> Filter;
    /// The tables it writes. Queries read each through a view of this name; a table may refer
    /// to those before it in the list.
    fn tables(&self) -> &'static [&'static str];
    /// The statements creating one generation's tables and indexes, with `{g}` where the
    /// generation's suffix goes (`declarations{g}` becomes `declarations_g2`).
    fn schema(&self, backend: Backend) -> &'static str;
    /// Applies `events`, in log order, to the generation's `tables` inside the runner's
    /// transaction. An error rolls the whole batch back.
    fn apply<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        tables: &'a Tables,
        events: &'a [RecordedEvent],
    ) -> BoxFuture<'a, Result<(), ProjectionError>>;
}

/// What a projection is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Another process leads this projection (or a newer version serves it); this runner
    /// waits to take over.
    Standby,
    Starting,
    CatchingUp,
    Live,
    /// Building a newer version's generation while the serving one, of an older version, is
    /// served as it stands.
    Rebuilding,
    /// Stopped on an event; retrying from the checkpoint after a pause.
    Failed {
        position: u64,
        error: String,
    },
}

/// A rebuild under way in this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuild {
    pub generation: u64,
    pub version: u32,
    /// The last log position applied to the new generation.
    pub position: u64,
}

/// A projection's progress, published for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub name: &'static str,
    /// This process's version of the projection.
    pub version: u32,
    /// The serving generation; 0 until known.
    pub generation: u64,
    /// The serving generation's checkpoint.
    pub position: u64,
    pub state: State,
    pub rebuild: Option<Rebuild>,
}

/// Which generation a batch goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Serving,
    Building,
}

impl Role {
    fn state(self) -> GenerationState {
        match self {
            Self::Serving => GenerationState::Serving,
            Self::Building => GenerationState::Building,
        }
    }
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
            generation: 0,
            position: 0,
            state: State::Starting,
            rebuild: None,
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

    /// The serving generation, after creating the first one (empty, at position 0) when there
    /// is none. Once it returns, the views queries read exist.
    pub async fn prepare(&self) -> Result<Generation, ProjectionError> {
        let _turn = self.turn().await;
        let mut tx = self.models.begin_write().await?;
        let name = self.projection.name();
        generations::lock(&mut tx, self.models.backend(), name).await?;
        let serving = match generations::find(&mut tx, name, false).await? {
            Some(serving) => serving,
            None => {
                let projection = self.projection.as_ref();
                let first = generations::create(
                    &mut tx,
                    self.models.backend(),
                    projection,
                    GenerationState::Serving,
                )
                .await?;
                generations::publish_views(&mut tx, projection, &first.tables()).await?;
                first
            }
        };
        tx.commit().await?;
        self.status.send_if_modified(|status| {
            let changed = status.generation != serving.generation;
            if changed {
                status.generation = serving.generation;
                status.position = serving.position;
            }
            changed
        });
        Ok(serving)
    }

    /// The serving generation's checkpoint.
    pub async fn checkpoint(&self) -> Result<u64, ProjectionError> {
        Ok(self.prepare().await?.position)
    }

    /// Applies every event committed so far to the serving generation, then returns the
    /// checkpoint reached.
    pub async fn catch_up(&self) -> Result<u64, ProjectionError> {
        let serving = self.prepare().await?;
        self.fill(&serving, Role::Serving).await
    }

    /// Rebuilds the read model into a new generation from position 0 and switches to it, here
    /// and now; the new serving generation. For tools and tests that run the only runner: a
    /// server rebuilds when asked through [`crate::request_rebuild`].
    pub async fn rebuild(&self) -> Result<Generation, ProjectionError> {
        let serving = self.prepare().await?;
        let building = match self.pending(&serving).await? {
            Some(building) => building,
            None => self.begin_build().await?,
        };
        self.load(&building).await?;
        self.switch(&building).await
    }

    /// Takes the projection's leadership (waiting in [`State::Standby`] while another process
    /// holds it), catches up, then follows the log until `shutdown` resolves, rebuilding when
    /// asked. Failures are retried with back-off from the last committed checkpoint; a lost
    /// leadership sends the runner back to stand by.
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
            let result = tokio::select! {
                result = self.lead_generations() => result,
                () = leader.lost() => {
                    let position = self.status.borrow().position;
                    tracing::warn!(projection = self.projection.name(), position, "leadership lost, standing by");
                    self.publish(position, State::Standby);
                    continue;
                }
                () = &mut shutdown => return,
            };
            drop(leader);
            self.publish_rebuild(None);
            let position = self.status.borrow().position;
            match &result {
                Err(ProjectionError::Superseded { expected }) => {
                    // Another runner applied these events; read the checkpoint again.
                    tracing::info!(
                        projection = self.projection.name(),
                        expected,
                        "checkpoint moved by another runner"
                    );
                    continue;
                }
                Err(error @ ProjectionError::NewerVersion { .. }) => {
                    tracing::warn!(projection = self.projection.name(), %error, "standing by");
                    self.publish(position, State::Standby);
                    tokio::select! {
                        () = tokio::time::sleep(NEWER_VERSION_POLL) => {}
                        () = &mut shutdown => return,
                    }
                    continue;
                }
                _ => {}
            }
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

    /// What the leader does: follows the serving generation, and rebuilds into a new one when
    /// asked or when this version is newer. Returns only on an error or when the live
    /// subscription ends.
    async fn lead_generations(&self) -> Result<u64, ProjectionError> {
        let ours = self.projection.version();
        loop {
            let serving = self.prepare().await?;
            if serving.version > ours {
                return Err(ProjectionError::NewerVersion {
                    serving: serving.version,
                    ours,
                });
            }
            let building = match self.pending(&serving).await? {
                Some(building) => Some(building),
                None if serving.version < ours => Some(self.begin_build().await?),
                None => None,
            };
            let Some(building) = building else {
                tokio::select! {
                    result = self.follow(&serving) => return result,
                    () = self.rebuild_requested() => continue,
                }
            };
            tracing::info!(
                projection = self.projection.name(),
                generation = building.generation,
                version = ours,
                "rebuilding into a new generation"
            );
            // The serving generation keeps following the log meanwhile, where this process's
            // code can apply it (the same version); an older version's is served as it stands.
            let follow = async {
                if serving.version == ours {
                    self.follow(&serving).await
                } else {
                    self.publish(serving.position, State::Rebuilding);
                    std::future::pending().await
                }
            };
            tokio::select! {
                result = follow => return result,
                result = self.load(&building) => { result?; }
            }
            self.switch(&building).await?;
        }
    }

    /// Fills a building generation up to the log's head, then creates its indexes.
    async fn load(&self, building: &Generation) -> Result<u64, ProjectionError> {
        let reached = self.fill(building, Role::Building).await?;
        let _turn = self.turn().await;
        let mut tx = self.models.begin_write().await?;
        generations::create_indexes(
            &mut tx,
            self.models.backend(),
            self.projection.as_ref(),
            &building.tables(),
        )
        .await?;
        tx.commit().await?;
        Ok(reached)
    }

    /// Catches the serving generation up, then applies each new event as it commits.
    async fn follow(&self, serving: &Generation) -> Result<u64, ProjectionError> {
        let from = self.fill(serving, Role::Serving).await?;
        self.publish(from, State::Live);
        let live = self.store.subscribe_all(from, self.projection.filter());
        self.apply_stream(live, serving, from, Role::Serving).await
    }

    /// Completes when an operator has asked for a rebuild (polled every second).
    async fn rebuild_requested(&self) {
        loop {
            tokio::time::sleep(REQUEST_POLL).await;
            let pending = async {
                let mut conn = self.models.pool().acquire().await?;
                generations::find(&mut conn, self.projection.name(), true).await
            };
            match pending.await {
                Ok(Some(pending)) if pending.state == GenerationState::Requested => return,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(projection = self.projection.name(), %error, "cannot read rebuild requests");
                }
            }
        }
    }

    /// The rebuild this process should carry on: a requested one (its tables created now), or
    /// one this version was building. One an older version was building is abandoned, one a
    /// newer version is building left alone.
    async fn pending(&self, serving: &Generation) -> Result<Option<Generation>, ProjectionError> {
        let ours = self.projection.version();
        let projection = self.projection.as_ref();
        let backend = self.models.backend();
        let _turn = self.turn().await;
        let mut tx = self.models.begin_write().await?;
        generations::lock(&mut tx, backend, projection.name()).await?;
        let pending = generations::find(&mut tx, projection.name(), true).await?;
        let building = match pending {
            None => None,
            Some(requested) if requested.state == GenerationState::Requested => {
                if serving.version > ours {
                    None
                } else {
                    Some(generations::start(&mut tx, backend, projection, &requested).await?)
                }
            }
            Some(building) if building.version == ours => Some(building),
            Some(building) if building.version < ours => {
                generations::abandon(&mut tx, projection, &building).await?;
                Some(
                    generations::create(&mut tx, backend, projection, GenerationState::Building)
                        .await?,
                )
            }
            Some(_newer) => None,
        };
        tx.commit().await?;
        if let Some(building) = &building {
            self.publish_rebuild(Some(Rebuild {
                generation: building.generation,
                version: ours,
                position: building.position,
            }));
        }
        Ok(building)
    }

    /// Starts a rebuild of this version into a new generation.
    async fn begin_build(&self) -> Result<Generation, ProjectionError> {
        let projection = self.projection.as_ref();
        let backend = self.models.backend();
        let _turn = self.turn().await;
        let mut tx = self.models.begin_write().await?;
        generations::lock(&mut tx, backend, projection.name()).await?;
        let building =
            generations::create(&mut tx, backend, projection, GenerationState::Building).await?;
        tx.commit().await?;
        self.publish_rebuild(Some(Rebuild {
            generation: building.generation,
            version: building.version,
            position: 0,
        }));
        Ok(building)
    }

    /// Makes the built generation the serving one: catches it up to at least where the serving
    /// one stands (so a query never sees the model step back), then switches the views in one
    /// transaction.
    async fn switch(&self, building: &Generation) -> Result<Generation, ProjectionError> {
        let name = self.projection.name();
        loop {
            let reached = self.fill(building, Role::Building).await?;
            let _turn = self.turn().await;
            let mut tx = self.models.begin_write().await?;
            generations::lock(&mut tx, self.models.backend(), name).await?;
            let Some(serving) = generations::find(&mut tx, name, false).await? else {
                return Err(ProjectionError::Superseded { expected: reached });
            };
            let projection = self.projection.as_ref();
            if !generations::switch(&mut tx, projection, &serving, building, reached).await? {
                // Another process still follows the serving generation and stands further
                // on: catch up again (the transaction rolls back).
                continue;
            }
            tx.commit().await?;
            let dropped = async {
                let mut tx = self.models.begin_write().await?;
                generations::drop_retired(&mut tx, projection, &serving).await?;
                tx.commit().await?;
                Ok::<_, ProjectionError>(())
            };
            if let Err(error) = dropped.await {
                tracing::warn!(projection = name, generation = serving.generation, %error, "cannot drop the retired generation's tables");
            }
            tracing::info!(
                projection = name,
                from = serving.generation,
                to = building.generation,
                position = reached,
                "switched to the rebuilt generation"
            );
            self.status.send_modify(|status| {
                status.generation = building.generation;
                status.position = reached;
                status.state = State::CatchingUp;
                status.rebuild = None;
            });
            return Ok(Generation {
                position: reached,
                state: GenerationState::Serving,
                ..building.clone()
            });
        }
    }

    /// Applies every event committed so far to `target`, from its stored checkpoint; the
    /// position reached.
    async fn fill(&self, target: &Generation, role: Role) -> Result<u64, ProjectionError> {
        let stored = generations::get(&self.models, &target.name, target.generation).await?;
        let from = match stored {
            Some(stored) if stored.state == role.state() => stored.position,
            // Switched, abandoned or retired by another runner meanwhile.
            _ => {
                return Err(ProjectionError::Superseded {
                    expected: target.position,
                });
            }
        };
        self.progress(role, from, State::CatchingUp);
        // Read the head before the events: the read below covers at least up to it, so every
        // position up to `head` has been seen even where no event matched the filter. (A head
        // read afterwards could include commits the read never saw.)
        let head = self.store.head_position().await?;
        let events = self
            .store
            .read_all(from, self.projection.filter(), usize::MAX);
        let (events, _reader) = read_ahead(events);
        let end = self.apply_stream(events, target, from, role).await?;
        if head > end {
            let _turn = self.turn().await;
            let mut tx = self.models.begin_write().await?;
            advance_checkpoint(&mut tx, target, role, end, head).await?;
            tx.commit().await?;
            self.progress(role, head, State::CatchingUp);
        }
        Ok(head.max(end))
    }

    /// Applies events in batches of what is ready, one transaction per batch; returns the
    /// last position applied.
    async fn apply_stream(
        &self,
        events: impl Stream<Item = Result<RecordedEvent, StoreError>>,
        target: &Generation,
        mut position: u64,
        role: Role,
    ) -> Result<u64, ProjectionError> {
        let tables = target.tables();
        let mut batches = std::pin::pin!(events.ready_chunks(BATCH));
        let live = self.status.borrow().state == State::Live;
        while let Some(batch) = batches.next().await {
            let batch = batch.into_iter().collect::<Result<Vec<_>, _>>()?;
            let Some(last) = batch.last().map(|event| event.position) else {
                continue;
            };
            let _turn = self.turn().await;
            let mut tx = self.models.begin_write().await?;
            if self.models.backend() == Backend::Postgres {
                // A read model is derived data: a commit lost in a crash is lost together with
                // its checkpoint, and applied again. No need to wait for the WAL flush.
                sqlx::query("SET LOCAL synchronous_commit = off")
                    .execute(&mut *tx)
                    .await?;
                // Plan each statement for its values: a generic plan made while a new
                // generation's tables were still small scans them whole for every key list.
                sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan")
                    .execute(&mut *tx)
                    .await?;
            }
            if let Err(error) = self.projection.apply(&mut tx, &tables, &batch).await {
                // The transaction rolls back: none of this batch takes effect.
                let failed_at = match &error {
                    ProjectionError::Handler { position, .. } => *position,
                    _ => batch.first().map_or(position, |event| event.position),
                };
                if role == Role::Serving {
                    self.publish(
                        position,
                        State::Failed {
                            position: failed_at,
                            error: error.to_string(),
                        },
                    );
                }
                return Err(error);
            }
            advance_checkpoint(&mut tx, target, role, position, last).await?;
            tx.commit().await?;
            position = last;
            self.progress(
                role,
                position,
                if live { State::Live } else { State::CatchingUp },
            );
        }
        Ok(position)
    }

    /// This projection's leadership for this version: at once on SQLite (one server process
    /// per database), on PostgreSQL when no other process of the same version holds it (polled
    /// every second). Processes of different versions lead apart: the newer one builds its
    /// generation while the older one keeps following the serving one.
    async fn lead(&self) -> Result<Leader, ProjectionError> {
        let mut standing_by = false;
        let mut spare = None;
        let key = format!("{}@{}", self.projection.name(), self.projection.version());
        loop {
            if let Some(leader) = Leader::try_acquire(&self.models, &key, &mut spare).await? {
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

    /// Publishes the serving generation's progress.
    fn publish(&self, position: u64, state: State) {
        self.status.send_modify(|status| {
            status.position = position;
            status.state = state;
        });
    }

    fn publish_rebuild(&self, rebuild: Option<Rebuild>) {
        self.status.send_if_modified(|status| {
            let changed = status.rebuild != rebuild;
            status.rebuild = rebuild;
            changed
        });
    }

    /// Publishes a batch's progress on the generation it went to.
    fn progress(&self, role: Role, position: u64, state: State) {
        match role {
            Role::Serving => self.publish(position, state),
            Role::Building => self.status.send_modify(|status| {
                if let Some(rebuild) = &mut status.rebuild {
                    rebuild.position = position;
                }
            }),
        }
    }
}

/// Reads `events` in a task of its own, up to two batches ahead, so the next batch is read
/// while this one is written. The task ends when the returned guard is dropped.
fn read_ahead(
    events: impl Stream<Item = Result<RecordedEvent, StoreError>> + Send + 'static,
) -> (
    impl Stream<Item = Result<RecordedEvent, StoreError>>,
    AbortOnDrop,
) {
    let (sender, mut receiver) = tokio::sync::mpsc::channel(2 * BATCH);
    let reader = tokio::spawn(async move {
        let mut events = std::pin::pin!(events);
        while let Some(event) = events.next().await {
            if sender.send(event).await.is_err() {
                return;
            }
        }
    });
    let events = futures::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    (events, AbortOnDrop(reader))
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Moves the generation's checkpoint from `from` to `to`, in the batch's transaction, if it
/// still stands at `from` in the expected state; [`ProjectionError::Superseded`] when another
/// runner moved it or the generation was switched (the batch then rolls back).
async fn advance_checkpoint(
    tx: &mut AnyConnection,
    target: &Generation,
    role: Role,
    from: u64,
    to: u64,
) -> Result<(), ProjectionError> {
    let moved = sqlx::query(
        "UPDATE projection_generations SET position = $1 \
         WHERE name = $2 AND generation = $3 AND position = $4 AND state = $5",
    )
    .bind(to_i64(to))
    .bind(target.name.clone())
    .bind(to_i64(target.generation))
    .bind(to_i64(from))
    .bind(role.state().as_str())
    .execute(tx)
    .await?;
    if moved.rows_affected() == 1 {
        Ok(())
    } else {
        Err(ProjectionError::Superseded { expected: from })
    }
}
