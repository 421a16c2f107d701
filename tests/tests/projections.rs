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
use projections::{Projection, ProjectionError, ReadModels, Runner, State};
use sqlx::AnyConnection;

on_every_backend! {
    a_projection_catches_up_and_counts_every_event_once => catches_up_once;
    a_restarted_projection_continues_from_its_checkpoint => continues;
    a_failing_event_stops_the_projection_without_partial_writes => stops_on_failure;
    a_live_projection_follows_new_events => follows_live;
    a_rebuilt_projection_equals_the_live_one => rebuild_equals_live;
    two_runners_of_one_projection_never_apply_an_event_twice => two_runners_at_once;
    a_standby_runner_takes_over_when_the_leader_stops => standby_takes_over;
}

/// Counts events per category; fails on the event whose payload `n` equals `fail_on`.
struct Counter {
    fail_on: AtomicU64,
}

impl Counter {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            fail_on: AtomicU64::new(u64::MAX),
        })
    }
}

impl Projection for Counter {
    fn name(&self) -> &'static str {
        "test_counter"
    }
    fn filter(&self) -> Filter {
        Filter::categories(["counted"])
    }
    fn apply<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        event: &'a RecordedEvent,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        async move {
            let n = event.payload_as::<serde_json::Value>().unwrap()["n"]
                .as_u64()
                .unwrap();
            if n == self.fail_on.load(Ordering::SeqCst) {
                return Err(ProjectionError::handler(event, "refused on purpose"));
            }
            sqlx::query(
                "INSERT INTO test_counts (stream, events, total) VALUES ($1, 1, $2) \
                 ON CONFLICT (stream) DO UPDATE SET events = test_counts.events + 1, \
                 total = test_counts.total + excluded.total",
            )
            .bind(event.stream_id.as_str())
            .bind(n as i64)
            .execute(&mut *tx)
            .await?;
            Ok(())
        }
        .boxed()
    }
    fn reset<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        async move {
            sqlx::query("DELETE FROM test_counts")
                .execute(&mut *tx)
                .await?;
            Ok(())
        }
        .boxed()
    }
}

async fn setup(db: &TestDb) -> (EventStore, ReadModels) {
    let store = db.open().await;
    let models = ReadModels::open(&db.url).await.unwrap();
    sqlx::query("CREATE TABLE test_counts (stream TEXT PRIMARY KEY, events BIGINT NOT NULL, total BIGINT NOT NULL)")
        .execute(models.pool())
        .await
        .unwrap();
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
    runner.rebuild().await.unwrap();
    assert!(counts(&models).await.is_empty());
    assert_eq!(runner.checkpoint().await.unwrap(), 0);
    runner.catch_up().await.unwrap();
    assert_eq!(counts(&models).await, live);
    assert_eq!(live, expected(300));
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
