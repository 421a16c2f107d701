//! The projection runner on every backend: exactly-once effect, checkpoints, failure handling,
//! rebuilds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aduana_tests::{TestDb, event, on_every_backend};
use eventstore::{EventStore, ExpectedVersion, Filter, RecordedEvent, StreamId};
use futures::FutureExt;
use futures::future::BoxFuture;
use projections::{
    Backend, GenerationState, Projection, ProjectionError, ReadModels, Runner, State, Tables,
};
use sqlx::AnyConnection;

on_every_backend! {
    a_projection_catches_up_and_counts_every_event_once => catches_up_once;
    a_restarted_projection_continues_from_its_checkpoint => continues;
    a_failing_event_stops_the_projection_without_partial_writes => stops_on_failure;
    a_live_projection_follows_new_events => follows_live;
    a_rebuilt_projection_equals_the_live_one => rebuild_equals_live;
    two_runners_of_one_projection_never_apply_an_event_twice => two_runners_at_once;
    a_standby_runner_takes_over_when_the_leader_stops => standby_takes_over;
    a_requested_rebuild_switches_while_queries_never_see_a_partial_model => rebuild_under_load;
    a_new_version_builds_beside_the_old_one_and_takes_over => new_version_takes_over;
    a_second_rebuild_request_is_refused_while_one_is_pending => one_rebuild_at_a_time;
}

/// Counts events per category; fails on the event whose payload `n` equals `fail_on`.
struct Counter {
    fail_on: AtomicU64,
    version: u32,
}

impl Counter {
    fn new() -> Arc<Self> {
        Self::version(1)
    }

    fn version(version: u32) -> Arc<Self> {
        Arc::new(Self {
            fail_on: AtomicU64::new(u64::MAX),
            version,
        })
    }
}

impl Projection for Counter {
    fn name(&self) -> &'static str {
        "test_counter"
    }
    fn version(&self) -> u32 {
        self.version
    }
    fn filter(&self) -> Filter {
        Filter::categories(["counted"])
    }
    fn tables(&self) -> &'static [&'static str] {
        &["test_counts"]
    }
    fn schema(&self, _: Backend) -> &'static str {
        "CREATE TABLE test_counts{g} (stream TEXT PRIMARY KEY, events BIGINT NOT NULL, \
         total BIGINT NOT NULL)"
    }
    fn apply<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        tables: &'a Tables,
        events: &'a [RecordedEvent],
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        async move {
            let table = tables.name("test_counts");
            for event in events {
                let n = event.payload_as::<serde_json::Value>().unwrap()["n"]
                    .as_u64()
                    .unwrap();
                if n == self.fail_on.load(Ordering::SeqCst) {
                    return Err(ProjectionError::handler(event, "refused on purpose"));
                }
                let sql = format!(
                    "INSERT INTO {table} (stream, events, total) VALUES ($1, 1, $2) \
                     ON CONFLICT (stream) DO UPDATE SET events = {table}.events + 1, \
                     total = {table}.total + excluded.total"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(event.stream_id.as_str())
                    .bind(n as i64)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(())
        }
        .boxed()
    }
}

async fn setup(db: &TestDb) -> (EventStore, ReadModels) {
    let store = db.open().await;
    let models = ReadModels::open(&db.url).await.unwrap();
    (store, models)
}

async fn write(store: &EventStore, from: u64, to: u64) {
    for n in from..to {
        let counted = StreamId::parse(format!("counted-{}", n % 3)).unwrap();
        store
            .append(&counted, ExpectedVersion::Any, vec![event("Counted", n)])
            .await
            .unwrap();
        let other = StreamId::parse(format!("ignored-{}", n % 2)).unwrap();
        store
            .append(&other, ExpectedVersion::Any, vec![event("Ignored", n)])
            .await
            .unwrap();
    }
}

async fn counts(models: &ReadModels) -> Vec<(String, i64, i64)> {
    sqlx::query_as("SELECT stream, events, total FROM test_counts ORDER BY stream")
        .fetch_all(models.pool())
        .await
        .unwrap()
}

/// What the counts must be after events `0..n`, computed directly.
fn expected(n: u64) -> Vec<(String, i64, i64)> {
    (0..3)
        .filter_map(|s| {
            let ns: Vec<u64> = (0..n).filter(|i| i % 3 == s).collect();
            (!ns.is_empty()).then(|| {
                (
                    format!("counted-{s}"),
                    ns.len() as i64,
                    ns.iter().sum::<u64>() as i64,
                )
            })
        })
        .collect()
}

async fn catches_up_once(db: TestDb) {
    let (store, models) = setup(&db).await;
    write(&store, 0, 700).await;
    let runner = Runner::new(store.clone(), models.clone(), Counter::new());
    let reached = runner.catch_up().await.unwrap();
    assert_eq!(reached, store.head_position().await.unwrap());
    assert_eq!(counts(&models).await, expected(700));
    // Catching up again applies nothing twice.
    runner.catch_up().await.unwrap();
    assert_eq!(counts(&models).await, expected(700));
    models.close().await;
    db.finish(store).await;
}

async fn continues(db: TestDb) {
    let (store, models) = setup(&db).await;
    write(&store, 0, 100).await;
    Runner::new(store.clone(), models.clone(), Counter::new())
        .catch_up()
        .await
        .unwrap();
    write(&store, 100, 250).await;
    let runner = Runner::new(store.clone(), models.clone(), Counter::new());
    assert_eq!(
        runner.checkpoint().await.unwrap(),
        200,
        "the checkpoint survives the runner"
    );
    runner.catch_up().await.unwrap();
    assert_eq!(counts(&models).await, expected(250));
    models.close().await;
    db.finish(store).await;
}

async fn stops_on_failure(db: TestDb) {
    let (store, models) = setup(&db).await;
    write(&store, 0, 50).await;
    let counter = Counter::new();
    counter.fail_on.store(30, Ordering::SeqCst);
    let runner = Runner::new(store.clone(), models.clone(), counter.clone());
    let error = runner.catch_up().await.unwrap_err();
    // Event n = 30 is at position 61 (two events per n).
    assert!(
        matches!(error, ProjectionError::Handler { position: 61, .. }),
        "{error:?}"
    );
    match runner.status().borrow().state.clone() {
        State::Failed { position, error } => {
            assert_eq!(position, 61);
            assert!(error.contains("refused on purpose"));
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    // The failing batch rolled back whole: nothing past the checkpoint, no half-applied batch.
    let checkpoint = runner.checkpoint().await.unwrap();
    assert!(checkpoint < 61);
    let applied = counts(&models).await.iter().map(|c| c.1).sum::<i64>();
    let before_checkpoint = (0..50u64).filter(|n| 2 * n < checkpoint).count() as i64;
    assert_eq!(applied, before_checkpoint);
    // Fixed: it resumes from the checkpoint and ends where a clean run would.
    counter.fail_on.store(u64::MAX, Ordering::SeqCst);
    runner.catch_up().await.unwrap();
    assert_eq!(counts(&models).await, expected(50));
    models.close().await;
    db.finish(store).await;
}

async fn follows_live(db: TestDb) {
    let (store, models) = setup(&db).await;
    write(&store, 0, 10).await;
    let runner = Arc::new(Runner::new(store.clone(), models.clone(), Counter::new()));
    let (stop, task) = spawn_runner(runner.clone());
    write(&store, 10, 40).await;
    wait_live_at_head(&runner, &store).await;
    assert_eq!(counts(&models).await, expected(40));
    stop.send(()).unwrap();
    task.await.unwrap();
    models.close().await;
    db.finish(store).await;
}

async fn rebuild_equals_live(db: TestDb) {
    let (store, models) = setup(&db).await;
    write(&store, 0, 300).await;
    let runner = Runner::new(store.clone(), models.clone(), Counter::new());
    runner.catch_up().await.unwrap();
    let live = counts(&models).await;
    let rebuilt = runner.rebuild().await.unwrap();
    assert_eq!(rebuilt.generation, 2);
    assert_eq!(rebuilt.position, store.head_position().await.unwrap());
    assert_eq!(runner.checkpoint().await.unwrap(), rebuilt.position);
    assert_eq!(counts(&models).await, live);
    assert_eq!(live, expected(300));
    // The first generation's table is gone; the second's holds the model.
    assert!(
        sqlx::query("SELECT * FROM test_counts_g1")
            .fetch_all(models.pool())
            .await
            .is_err()
    );
    let generations = models.generations().await.unwrap();
    assert_eq!(generations.len(), 1);
    assert_eq!(generations[0].generation, 2);
    assert_eq!(generations[0].state, GenerationState::Serving);
    models.close().await;
    db.finish(store).await;
}

/// Runs `runner` until the returned sender fires.
fn spawn_runner(
    runner: Arc<Runner>,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move { runner.run(stopped.map(|_| ())).await });
    (stop, task)
}

/// Waits until `runner` is live at the last counted event of the log.
async fn wait_live_at_head(runner: &Runner, store: &EventStore) {
    let head = store.head_position().await.unwrap();
    let mut status = runner.status();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let current = status.borrow_and_update().clone();
            if current.position >= head - 1 && current.state == State::Live {
                break;
            }
            status.changed().await.unwrap();
        }
    })
    .await
    .expect("the runner reaches the head");
}

async fn two_runners_at_once(db: TestDb) {
    let (store, models) = setup(&db).await;
    write(&store, 0, 200).await;
    // Two runners of one projection, as two processes would have, on separate pools.
    let other_models = ReadModels::open(&db.url).await.unwrap();
    let first = Arc::new(Runner::new(store.clone(), models.clone(), Counter::new()));
    let second = Arc::new(Runner::new(
        store.clone(),
        other_models.clone(),
        Counter::new(),
    ));
    let (stop_first, first_task) = spawn_runner(first.clone());
    let (stop_second, second_task) = spawn_runner(second.clone());
    write(&store, 200, 400).await;
    let head = store.head_position().await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let positions = [
                first.status().borrow().position,
                second.status().borrow().position,
            ];
            if positions.iter().any(|p| *p >= head - 1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("one of them reaches the head");
    // Whoever applied what, every event counts once.
    assert_eq!(counts(&models).await, expected(400));
    if db.backend == aduana_tests::Backend::Postgres {
        let states = [
            first.status().borrow().state.clone(),
            second.status().borrow().state.clone(),
        ];
        assert!(
            states.contains(&State::Standby),
            "one stands by on PostgreSQL: {states:?}"
        );
    }
    stop_first.send(()).unwrap();
    stop_second.send(()).unwrap();
    first_task.await.unwrap();
    second_task.await.unwrap();
    other_models.close().await;
    models.close().await;
    db.finish(store).await;
}

async fn standby_takes_over(db: TestDb) {
    let (store, models) = setup(&db).await;
    write(&store, 0, 50).await;
    let other_models = ReadModels::open(&db.url).await.unwrap();
    let leader = Arc::new(Runner::new(store.clone(), models.clone(), Counter::new()));
    let (stop_leader, leader_task) = spawn_runner(leader.clone());
    wait_live_at_head(&leader, &store).await;
    let standby = Arc::new(Runner::new(
        store.clone(),
        other_models.clone(),
        Counter::new(),
    ));
    let (stop_standby, standby_task) = spawn_runner(standby.clone());
    if db.backend == aduana_tests::Backend::Postgres {
        let mut status = standby.status();
        tokio::time::timeout(
            Duration::from_secs(10),
            status.wait_for(|s| s.state == State::Standby),
        )
        .await
        .expect("the second runner stands by")
        .unwrap();
    }
    // The leader stops (its process ends): the standby takes over within seconds.
    stop_leader.send(()).unwrap();
    leader_task.await.unwrap();
    drop(leader);
    write(&store, 50, 120).await;
    wait_live_at_head(&standby, &store).await;
    assert_eq!(counts(&models).await, expected(120));
    stop_standby.send(()).unwrap();
    standby_task.await.unwrap();
    other_models.close().await;
    models.close().await;
    db.finish(store).await;
}

/// The total of events counted, as a query reads it now.
async fn counted(models: &ReadModels) -> i64 {
    let (total,): (i64,) =
        sqlx::query_as("SELECT CAST(COALESCE(SUM(events), 0) AS BIGINT) FROM test_counts")
            .fetch_one(models.pool())
            .await
            .unwrap();
    total
}

/// Readers that query the model until told to stop, each checking that the count never goes
/// down (an empty or half-built model would show fewer events than were already seen). The
/// number of reads made.
fn spawn_readers(
    db: &TestDb,
    floor: i64,
) -> (
    Arc<std::sync::atomic::AtomicBool>,
    Vec<tokio::task::JoinHandle<u64>>,
) {
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers = (0..2)
        .map(|_| {
            let url = db.url.clone();
            let done = done.clone();
            tokio::spawn(async move {
                let models = ReadModels::open(&url).await.unwrap();
                let mut seen = floor;
                let mut reads = 0;
                while !done.load(Ordering::SeqCst) {
                    let now = counted(&models).await;
                    assert!(now >= seen, "a query saw {now} events after {seen}");
                    seen = now;
                    reads += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                models.close().await;
                reads
            })
        })
        .collect();
    (done, readers)
}

/// Waits until the runner serves `generation`, live at the log's head.
async fn wait_serving(runner: &Runner, store: &EventStore, generation: u64) {
    let mut status = runner.status();
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let head = store.head_position().await.unwrap();
            let current = status.borrow_and_update().clone();
            if current.generation == generation
                && current.position >= head - 1
                && current.state == State::Live
            {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), status.changed()).await;
        }
    })
    .await
    .expect("the runner serves the new generation at the head");
}

async fn rebuild_under_load(db: TestDb) {
    let (store, models) = setup(&db).await;
    write(&store, 0, 600).await;
    let runner = Arc::new(Runner::new(store.clone(), models.clone(), Counter::new()));
    let (stop, task) = spawn_runner(runner.clone());
    wait_live_at_head(&runner, &store).await;
    let before = counted(&models).await;
    assert_eq!(before, 600);
    let (done, readers) = spawn_readers(&db, before);
    // Writers keep appending while the rebuild runs.
    let writer = {
        let store = store.clone();
        tokio::spawn(async move { write(&store, 600, 900).await })
    };
    let generation = projections::request_rebuild(&models, "test_counter")
        .await
        .unwrap();
    assert_eq!(generation, 2);
    writer.await.unwrap();
    wait_serving(&runner, &store, generation).await;
    done.store(true, Ordering::SeqCst);
    for reader in readers {
        assert!(reader.await.unwrap() > 0, "the readers queried meanwhile");
    }
    assert_eq!(counts(&models).await, expected(900));
    let generations = models.generations().await.unwrap();
    assert_eq!(
        generations
            .iter()
            .map(|g| (g.generation, g.state))
            .collect::<Vec<_>>(),
        [(2, GenerationState::Serving)]
    );
    stop.send(()).unwrap();
    task.await.unwrap();
    models.close().await;
    db.finish(store).await;
}

async fn new_version_takes_over(db: TestDb) {
    let (store, models) = setup(&db).await;
    write(&store, 0, 300).await;
    // Version 1 serves and follows the log, as the process of the old release would.
    let old = Arc::new(Runner::new(
        store.clone(),
        models.clone(),
        Counter::version(1),
    ));
    let (stop_old, old_task) = spawn_runner(old.clone());
    wait_live_at_head(&old, &store).await;
    let (done, readers) = spawn_readers(&db, counted(&models).await);
    // The new release starts beside it: it builds version 2 into generation 2, then takes over.
    let other_models = ReadModels::open(&db.url).await.unwrap();
    let new = Arc::new(Runner::new(
        store.clone(),
        other_models.clone(),
        Counter::version(2),
    ));
    let (stop_new, new_task) = spawn_runner(new.clone());
    write(&store, 300, 450).await;
    wait_serving(&new, &store, 2).await;
    // The old version sees a newer one serving and stands by.
    let mut old_status = old.status();
    tokio::time::timeout(
        Duration::from_secs(30),
        old_status.wait_for(|s| s.state == State::Standby),
    )
    .await
    .expect("the old version stands by")
    .unwrap();
    done.store(true, Ordering::SeqCst);
    for reader in readers {
        reader.await.unwrap();
    }
    assert_eq!(counts(&models).await, expected(450));
    let serving = models.generations().await.unwrap();
    assert_eq!(serving.len(), 1);
    assert_eq!((serving[0].generation, serving[0].version), (2, 2));
    stop_old.send(()).unwrap();
    stop_new.send(()).unwrap();
    old_task.await.unwrap();
    new_task.await.unwrap();
    other_models.close().await;
    models.close().await;
    db.finish(store).await;
}

async fn one_rebuild_at_a_time(db: TestDb) {
    let (store, models) = setup(&db).await;
    write(&store, 0, 10).await;
    let runner = Runner::new(store.clone(), models.clone(), Counter::new());
    runner.catch_up().await.unwrap();
    let first = projections::request_rebuild(&models, "test_counter")
        .await
        .unwrap();
    let second = projections::request_rebuild(&models, "test_counter").await;
    assert!(
        matches!(
            second,
            Err(projections::RequestError::AlreadyPending { generation, state: GenerationState::Requested, .. })
                if generation == first
        ),
        "{second:?}"
    );
    // The runner carries the request out; then a new request is accepted.
    let rebuilt = runner.rebuild().await.unwrap();
    assert_eq!(rebuilt.generation, first);
    assert_eq!(counts(&models).await, expected(10));
    assert_eq!(
        projections::request_rebuild(&models, "test_counter")
            .await
            .unwrap(),
        first + 1
    );
    models.close().await;
    db.finish(store).await;
}
