//! The event store conformance suite: one set of behaviours, run against every backend.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aduana_tests::{TestDb, event, on_every_backend};
use eventstore::{
    Direction, EventMetadata, EventStore, ExpectedVersion, Filter, Limits, NewEvent, StoreError,
    StoreOptions, StreamId,
};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::Barrier;
use uuid::Uuid;

on_every_backend! {
    each_expected_version_is_enforced => expected_versions;
    racing_writers_on_one_stream_get_exactly_one_success_per_version => racing_writers;
    a_retry_with_the_same_event_ids_returns_the_first_result => idempotent_retry;
    reused_event_ids_with_other_content_are_refused => reused_ids;
    the_global_log_is_ordered_dense_and_filterable => global_log;
    streams_read_forward_and_backward_across_pages => stream_reads;
    a_subscriber_gets_every_event_once_in_order_while_eight_writers_commit => concurrent_subscription;
    a_stream_subscription_catches_up_then_follows => stream_subscription;
    writers_in_two_processes_and_a_subscriber_in_a_third_agree_on_one_order => separate_handles;
    a_handle_whose_view_of_a_stream_is_stale_still_gets_exact_answers => stale_handle;
    a_reopened_store_reads_everything_back_and_continues => reopen;
    events_cannot_be_changed_through_sql => immutability;
    a_row_changed_behind_the_store_is_found_by_verify => tamper_update;
    a_row_removed_behind_the_store_is_found_by_verify => tamper_delete;
    bad_input_gets_typed_errors_and_writes_nothing => bad_input;
}

fn sid(s: &str) -> StreamId {
    StreamId::parse(s).unwrap()
}

async fn read_stream_all(store: &EventStore, stream: &StreamId) -> Vec<eventstore::RecordedEvent> {
    store
        .read_stream(stream, Direction::Forward, None, usize::MAX)
        .try_collect()
        .await
        .unwrap()
}

async fn expected_versions(db: TestDb) {
    let store = db.open().await;
    let s = sid("order-1");

    let first = store
        .append(&s, ExpectedVersion::NoStream, vec![event("Placed", 1)])
        .await
        .unwrap();
    assert_eq!(first.next_version, 1);
    assert_eq!(first.positions, vec![1]);

    match store
        .append(&s, ExpectedVersion::NoStream, vec![event("Placed", 2)])
        .await
    {
        Err(StoreError::WrongExpectedVersion {
            stream,
            expected,
            actual,
        }) => {
            assert_eq!(stream, "order-1");
            assert_eq!(expected, ExpectedVersion::NoStream);
            assert_eq!(actual, 1);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    match store
        .append(
            &sid("order-2"),
            ExpectedVersion::StreamExists,
            vec![event("Placed", 3)],
        )
        .await
    {
        Err(StoreError::WrongExpectedVersion { actual: 0, .. }) => {}
        other => panic!("expected a conflict on a missing stream, got {other:?}"),
    }
    let second = store
        .append(
            &s,
            ExpectedVersion::StreamExists,
            vec![event("Paid", 4), event("Packed", 5)],
        )
        .await
        .unwrap();
    assert_eq!(second.next_version, 3);
    assert_eq!(second.positions, vec![2, 3]);

    let third = store
        .append(&s, ExpectedVersion::Exact(3), vec![event("Shipped", 6)])
        .await
        .unwrap();
    assert_eq!(third.next_version, 4);
    match store
        .append(&s, ExpectedVersion::Exact(2), vec![event("Late", 7)])
        .await
    {
        Err(e @ StoreError::WrongExpectedVersion { .. }) => {
            assert_eq!(e.code(), "WRONG_EXPECTED_VERSION");
            let StoreError::WrongExpectedVersion {
                expected, actual, ..
            } = e
            else {
                unreachable!()
            };
            assert_eq!((expected, actual), (ExpectedVersion::Exact(2), 4));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let any = store
        .append(&s, ExpectedVersion::Any, vec![event("Noted", 8)])
        .await
        .unwrap();
    assert_eq!(any.next_version, 5);
    let fresh = store
        .append(
            &sid("order-3"),
            ExpectedVersion::Any,
            vec![event("Placed", 9)],
        )
        .await
        .unwrap();
    assert_eq!(fresh.next_version, 1);
    // Exact(0) is "no stream yet".
    let zero = store
        .append(
            &sid("order-4"),
            ExpectedVersion::Exact(0),
            vec![event("Placed", 10)],
        )
        .await
        .unwrap();
    assert_eq!(zero.next_version, 1);

    let versions: Vec<u64> = read_stream_all(&store, &s)
        .await
        .iter()
        .map(|e| e.stream_version)
        .collect();
    assert_eq!(versions, vec![1, 2, 3, 4, 5]);
    db.finish(store).await;
}

async fn racing_writers(db: TestDb) {
    const WRITERS: usize = 16;
    const ROUNDS: u64 = 12;
    let store = db.open().await;
    let s = sid("race-1");
    let mut winners = Vec::new();
    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(WRITERS));
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (store, s, barrier) = (store.clone(), s.clone(), barrier.clone());
                tokio::spawn(async move {
                    let e = event("Raced", round * 100 + w as u64);
                    let id = e.event_id;
                    barrier.wait().await;
                    (
                        id,
                        store
                            .append(&s, ExpectedVersion::Exact(round), vec![e])
                            .await,
                    )
                })
            })
            .collect();
        let mut successes = 0;
        for task in tasks {
            let (id, result) = task.await.unwrap();
            match result {
                Ok(r) => {
                    successes += 1;
                    assert_eq!(r.next_version, round + 1);
                    winners.push(id);
                }
                Err(StoreError::WrongExpectedVersion { actual, .. }) => {
                    assert_eq!(actual, round + 1, "a loser sees the winner's version");
                }
                Err(other) => panic!("unexpected error {other:?}"),
            }
        }
        assert_eq!(successes, 1, "round {round}: exactly one writer wins");
    }
    let stored = read_stream_all(&store, &s).await;
    let ids: Vec<Uuid> = stored.iter().map(|e| e.event_id).collect();
    assert_eq!(
        ids, winners,
        "the stream holds the winners, in order, nothing else"
    );
    assert_eq!(store.head_position().await.unwrap(), ROUNDS);
    db.finish(store).await;
}

async fn idempotent_retry(db: TestDb) {
    let store = db.open().await;
    let s = sid("decl-1");
    let events = vec![event("Filed", 1), event("Assessed", 2)];
    let first = store
        .append(&s, ExpectedVersion::NoStream, events.clone())
        .await
        .unwrap();
    store
        .append(
            &sid("decl-2"),
            ExpectedVersion::NoStream,
            vec![event("Filed", 3)],
        )
        .await
        .unwrap();

    // The client timed out and sends the same append again.
    let retry = store
        .append(&s, ExpectedVersion::NoStream, events.clone())
        .await
        .unwrap();
    assert_eq!(retry, first);
    let retry_any = store
        .append(&s, ExpectedVersion::Any, events.clone())
        .await
        .unwrap();
    assert_eq!(retry_any, first);
    let retry_exact = store
        .append(&s, ExpectedVersion::Exact(0), events.clone())
        .await
        .unwrap();
    assert_eq!(retry_exact, first);

    // Concurrent retries of one append all get the first result.
    let e = event("Filed", 9);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, e) = (store.clone(), e.clone());
            tokio::spawn(async move {
                store
                    .append(&sid("decl-3"), ExpectedVersion::NoStream, vec![e])
                    .await
            })
        })
        .collect();
    let mut results = HashSet::new();
    for t in tasks {
        results.insert(t.await.unwrap().unwrap());
    }
    assert_eq!(results.len(), 1, "every retry sees the same result");

    assert_eq!(read_stream_all(&store, &s).await.len(), 2);
    assert_eq!(read_stream_all(&store, &sid("decl-3")).await.len(), 1);
    assert_eq!(
        store.head_position().await.unwrap(),
        4,
        "retries wrote nothing"
    );
    db.finish(store).await;
}

async fn reused_ids(db: TestDb) {
    let store = db.open().await;
    let s = sid("decl-1");
    let original = event("Filed", 1);
    store
        .append(&s, ExpectedVersion::NoStream, vec![original.clone()])
        .await
        .unwrap();

    let changed = NewEvent::new("Filed", serde_json::json!({"n": 2})).with_id(original.event_id);
    let err = store
        .append(&s, ExpectedVersion::Any, vec![changed])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "EVENT_ID_REUSED");

    let other_stream = store
        .append(
            &sid("decl-2"),
            ExpectedVersion::NoStream,
            vec![original.clone()],
        )
        .await
        .unwrap_err();
    assert_eq!(other_stream.code(), "EVENT_ID_REUSED");

    let other_meta = original.clone().with_metadata(EventMetadata {
        actor: Some("someone/else".into()),
        ..EventMetadata::default()
    });
    let err = store
        .append(&s, ExpectedVersion::NoStream, vec![other_meta])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "EVENT_ID_REUSED");

    let partial = store
        .append(
            &s,
            ExpectedVersion::Any,
            vec![original.clone(), event("Filed", 3)],
        )
        .await
        .unwrap_err();
    assert_eq!(partial.code(), "EVENT_ID_REUSED");

    assert_eq!(store.head_position().await.unwrap(), 1);
    db.finish(store).await;
}

async fn global_log(db: TestDb) {
    let store = db.open().await;
    for i in 0..30u64 {
        let (category, kind) = match i % 3 {
            0 => ("declaration", "DeclarationFiled"),
            1 => ("batch", "BatchReceived"),
            _ => ("declaration", "DutiesAssessed"),
        };
        let stream = sid(&format!("{category}-{}", i % 5));
        store
            .append(&stream, ExpectedVersion::Any, vec![event(kind, i)])
            .await
            .unwrap();
    }
    let all: Vec<_> = store
        .read_all(0, Filter::all(), usize::MAX)
        .try_collect()
        .await
        .unwrap();
    let positions: Vec<u64> = all.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=30).collect::<Vec<_>>());
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.payload_as::<serde_json::Value>().unwrap()["n"], i as u64);
    }

    let batches: Vec<_> = store
        .read_all(0, Filter::categories(["batch"]), usize::MAX)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(batches.len(), 10);
    assert!(batches.iter().all(|e| e.stream_id.starts_with("batch-")));

    let duties: Vec<_> = store
        .read_all(
            0,
            Filter::categories(["declaration"]).with_event_types(["DutiesAssessed"]),
            usize::MAX,
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(duties.len(), 10);
    assert!(duties.iter().all(|e| e.event_type == "DutiesAssessed"));
    assert!(duties.windows(2).all(|w| w[0].position < w[1].position));

    let types: Vec<_> = store
        .read_all(
            0,
            Filter::all().with_event_types(["BatchReceived", "DutiesAssessed"]),
            usize::MAX,
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(types.len(), 20);

    let tail: Vec<_> = store
        .read_all(25, Filter::all(), 3)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        tail.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![26, 27, 28]
    );
    let none: Vec<_> = store
        .read_all(0, Filter::categories(["manifest"]), usize::MAX)
        .try_collect()
        .await
        .unwrap();
    assert!(none.is_empty());
    db.finish(store).await;
}

async fn stream_reads(db: TestDb) {
    let store = db.open().await;
    let s = sid("long-1");
    let mut written = 0u64;
    for chunk in [1000u64, 1000, 500] {
        let events = (0..chunk).map(|i| event("Step", written + i)).collect();
        store
            .append(&s, ExpectedVersion::Exact(written), events)
            .await
            .unwrap();
        written += chunk;
    }
    store
        .append(
            &sid("other-1"),
            ExpectedVersion::NoStream,
            vec![event("Noise", 0)],
        )
        .await
        .unwrap();

    let forward = read_stream_all(&store, &s).await;
    assert_eq!(forward.len(), 2500);
    assert!(
        forward
            .iter()
            .enumerate()
            .all(|(i, e)| e.stream_version == i as u64 + 1)
    );

    let backward: Vec<_> = store
        .read_stream(&s, Direction::Backward, None, 1500)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(backward.len(), 1500);
    assert_eq!(backward[0].stream_version, 2500);
    assert_eq!(backward[1499].stream_version, 1001);

    let window: Vec<_> = store
        .read_stream(&s, Direction::Forward, Some(998), 5)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        window.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![998, 999, 1000, 1001, 1002]
    );
    let from_back: Vec<_> = store
        .read_stream(&s, Direction::Backward, Some(3), 10)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        from_back
            .iter()
            .map(|e| e.stream_version)
            .collect::<Vec<_>>(),
        vec![3, 2, 1]
    );
    let missing: Vec<_> = store
        .read_stream(&sid("nothing-1"), Direction::Forward, None, 10)
        .try_collect()
        .await
        .unwrap();
    assert!(missing.is_empty());
    db.finish(store).await;
}

async fn concurrent_subscription(db: TestDb) {
    const WRITERS: usize = 8;
    const EVENTS: usize = 1000;
    const ROUNDS: usize = 3;
    let store = db.open().await;
    for round in 0..ROUNDS {
        let start = store.head_position().await.unwrap();
        let total = WRITERS * EVENTS;
        let subscriber = {
            let mut events = Box::pin(store.subscribe_all(start, Filter::all()));
            tokio::spawn(async move {
                let mut got = Vec::with_capacity(total);
                while got.len() < total {
                    let next = tokio::time::timeout(Duration::from_secs(60), events.next())
                        .await
                        .expect("subscriber stalled")
                        .expect("subscription ended")
                        .expect("subscription error");
                    got.push((next.position, next.event_id));
                }
                // Nothing more arrives: no duplicates after the last one.
                let extra = tokio::time::timeout(Duration::from_millis(300), events.next()).await;
                assert!(extra.is_err(), "an extra event arrived: {extra:?}");
                got
            })
        };
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut ids = Vec::with_capacity(EVENTS);
                    for i in 0..EVENTS {
                        // Some writers share streams, some append two events at once.
                        let stream = sid(&format!("load-{round}-{}", (w * EVENTS + i) % 50));
                        let e = event("Loaded", (w * EVENTS + i) as u64);
                        ids.push(e.event_id);
                        store
                            .append(&stream, ExpectedVersion::Any, vec![e])
                            .await
                            .unwrap();
                    }
                    ids
                })
            })
            .collect();
        let mut written = HashSet::new();
        for w in writers {
            written.extend(w.await.unwrap());
        }
        let got = subscriber.await.unwrap();
        assert_eq!(got.len(), total);
        assert!(
            got.windows(2).all(|w| w[0].0 < w[1].0),
            "round {round}: positions strictly increase"
        );
        let received: HashSet<Uuid> = got.iter().map(|(_, id)| *id).collect();
        assert_eq!(received.len(), total, "round {round}: no duplicates");
        assert_eq!(
            received, written,
            "round {round}: exactly the events written"
        );
        assert_eq!(got[0].0, start + 1);
        assert_eq!(got[total - 1].0, start + total as u64);
    }
    db.finish(store).await;
}

async fn stream_subscription(db: TestDb) {
    let store = db.open().await;
    let s = sid("watched-1");
    store
        .append(
            &s,
            ExpectedVersion::NoStream,
            vec![event("A", 1), event("B", 2)],
        )
        .await
        .unwrap();
    let mut sub = Box::pin(store.subscribe_stream(&s, 1));
    assert_eq!(next_within(&mut sub).await.stream_version, 2);
    let writer = {
        let store = store.clone();
        let s = s.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            store
                .append(
                    &sid("elsewhere-1"),
                    ExpectedVersion::Any,
                    vec![event("X", 0)],
                )
                .await
                .unwrap();
            store
                .append(&s, ExpectedVersion::Exact(2), vec![event("C", 3)])
                .await
                .unwrap();
        })
    };
    let live = next_within(&mut sub).await;
    assert_eq!((live.stream_version, live.event_type.as_str()), (3, "C"));
    writer.await.unwrap();
    db.finish(store).await;
}

async fn reopen(db: TestDb) {
    let store = db.open().await;
    for i in 0..20u64 {
        let stream = sid(&format!("keep-{}", i % 4));
        let e = event("Kept", i).with_metadata(EventMetadata {
            correlation_id: Some(Uuid::from_u128(i as u128 + 1)),
            causation_id: None,
            actor: Some("officer/K1".into()),
        });
        store
            .append(&stream, ExpectedVersion::Any, vec![e])
            .await
            .unwrap();
    }
    let before: Vec<_> = store
        .read_all(0, Filter::all(), usize::MAX)
        .try_collect()
        .await
        .unwrap();
    store.close().await;
    drop(store);

    let store = db.open().await;
    assert_eq!(store.head(), 20);
    let after: Vec<_> = store
        .read_all(0, Filter::all(), usize::MAX)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(before.len(), after.len());
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(
            (
                a.event_id,
                a.position,
                a.stream_version,
                &a.payload,
                a.hash,
                a.recorded_at
            ),
            (
                b.event_id,
                b.position,
                b.stream_version,
                &b.payload,
                b.hash,
                b.recorded_at
            )
        );
        assert_eq!(a.metadata, b.metadata);
    }
    let report = store.verify_all().await.unwrap();
    assert_eq!(report.broken, None);
    assert_eq!((report.streams_checked, report.events_checked), (4, 20));
    let next = store
        .append(
            &sid("keep-0"),
            ExpectedVersion::Exact(5),
            vec![event("Kept", 99)],
        )
        .await
        .unwrap();
    assert_eq!(next.positions, vec![21]);
    db.finish(store).await;
}

async fn immutability(db: TestDb) {
    let store = db.open().await;
    store
        .append(
            &sid("fixed-1"),
            ExpectedVersion::NoStream,
            vec![event("Done", 1)],
        )
        .await
        .unwrap();
    let update = db
        .try_execute("UPDATE events SET event_type = 'Changed'")
        .await;
    assert!(update.unwrap_err().contains("immutable"));
    let delete = db.try_execute("DELETE FROM events").await;
    assert!(delete.unwrap_err().contains("immutable"));
    assert_eq!(store.verify_all().await.unwrap().broken, None);
    db.finish(store).await;
}

async fn tamper_update(db: TestDb) {
    let store = db.open().await;
    let s = sid("audited-1");
    for i in 0..5u64 {
        store
            .append(&s, ExpectedVersion::Exact(i), vec![event("Step", i)])
            .await
            .unwrap();
    }
    store
        .append(
            &sid("audited-2"),
            ExpectedVersion::NoStream,
            vec![event("Step", 9)],
        )
        .await
        .unwrap();
    assert_eq!(store.verify_stream(&s).await.unwrap().broken, None);

    db.execute(db.disable_immutability_sql()).await;
    db.execute(
        "UPDATE events SET payload = '{\"n\":1000,\"note\":\"test event\"}' \
         WHERE stream_id = 'audited-1' AND stream_version = 3",
    )
    .await;

    let report = store.verify_stream(&s).await.unwrap();
    let broken = report.broken.expect("the change is found");
    assert_eq!(
        (broken.stream_id.as_str(), broken.stream_version),
        ("audited-1", 3)
    );
    let all = store
        .verify_all()
        .await
        .unwrap()
        .broken
        .expect("found by verify_all too");
    assert_eq!(
        (all.stream_id.as_str(), all.stream_version),
        ("audited-1", 3)
    );
    assert_eq!(
        store.verify_stream(&sid("audited-2")).await.unwrap().broken,
        None,
        "other streams stay intact"
    );
    db.finish(store).await;
}

async fn tamper_delete(db: TestDb) {
    let store = db.open().await;
    let s = sid("audited-1");
    for i in 0..4u64 {
        store
            .append(&s, ExpectedVersion::Exact(i), vec![event("Step", i)])
            .await
            .unwrap();
    }
    store
        .append(
            &sid("audited-2"),
            ExpectedVersion::NoStream,
            vec![event("Last", 9)],
        )
        .await
        .unwrap();
    db.execute(db.disable_immutability_sql()).await;
    db.execute("DELETE FROM events WHERE stream_id = 'audited-1' AND stream_version = 2")
        .await;
    let broken = store
        .verify_stream(&s)
        .await
        .unwrap()
        .broken
        .expect("gap found");
    assert_eq!(broken.stream_version, 3);

    // Removing the last event of a stream leaves a valid chain: the dense log reveals it.
    db.execute("DELETE FROM events WHERE stream_id = 'audited-2'")
        .await;
    assert_eq!(
        store.verify_stream(&sid("audited-2")).await.unwrap().broken,
        None
    );
    let all = store.verify_all().await.unwrap();
    assert!(all.broken.is_some());
    db.execute("DELETE FROM events WHERE stream_id = 'audited-1'")
        .await;
    let all = store
        .verify_all()
        .await
        .unwrap()
        .broken
        .expect("missing events found");
    assert_eq!(all.stream_id, "$all");
    db.finish(store).await;
}

async fn bad_input(db: TestDb) {
    let options = StoreOptions {
        limits: Limits {
            max_payload_bytes: 1024,
            max_events_per_append: 10,
        },
        ..StoreOptions::default()
    };
    let store = db.open_with(options).await;
    let s = sid("input-1");
    let code = |r: Result<eventstore::AppendResult, StoreError>| r.unwrap_err().code();

    assert_eq!(stream_id_error("$all"), "INVALID_STREAM_ID");
    assert_eq!(stream_id_error("Bad Id"), "INVALID_STREAM_ID");
    assert_eq!(
        code(store.append(&s, ExpectedVersion::Any, vec![]).await),
        "EMPTY_APPEND"
    );
    let many = (0..11).map(|i| event("Many", i)).collect();
    assert_eq!(
        code(store.append(&s, ExpectedVersion::Any, many).await),
        "TOO_MANY_EVENTS"
    );
    let big = NewEvent::new("Big", serde_json::json!({ "blob": "x".repeat(2000) }));
    match store.append(&s, ExpectedVersion::Any, vec![big]).await {
        Err(StoreError::PayloadTooLarge { size, limit, .. }) => {
            assert!(size > 2000);
            assert_eq!(limit, 1024);
        }
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    }
    let typed = NewEvent::new("not a type!", serde_json::json!({}));
    assert_eq!(
        code(store.append(&s, ExpectedVersion::Any, vec![typed]).await),
        "INVALID_EVENT_TYPE"
    );
    let schema = event("Ok", 1).with_schema_version(0);
    assert_eq!(
        code(store.append(&s, ExpectedVersion::Any, vec![schema]).await),
        "INVALID_SCHEMA_VERSION"
    );
    let twice = event("Twice", 1);
    assert_eq!(
        code(
            store
                .append(&s, ExpectedVersion::Any, vec![twice.clone(), twice])
                .await
        ),
        "DUPLICATE_EVENT_IN_APPEND"
    );
    let actor = event("Acted", 1).with_metadata(EventMetadata {
        actor: Some("evil\0actor".into()),
        ..EventMetadata::default()
    });
    assert_eq!(
        code(store.append(&s, ExpectedVersion::Any, vec![actor]).await),
        "INVALID_ACTOR"
    );
    let long_actor = event("Acted", 1).with_metadata(EventMetadata {
        actor: Some("a".repeat(300)),
        ..EventMetadata::default()
    });
    assert_eq!(
        code(
            store
                .append(&s, ExpectedVersion::Any, vec![long_actor])
                .await
        ),
        "INVALID_ACTOR"
    );

    // Payloads with characters a database might choke on are stored exactly.
    let odd = NewEvent::new(
        "Odd",
        serde_json::json!({ "nul": "a\u{0}b", "quote": "it's \"x\"", "emoji": "통관 ✓", "n": 1.5e300 }),
    );
    store
        .append(&s, ExpectedVersion::NoStream, vec![odd.clone()])
        .await
        .unwrap();
    let stored = read_stream_all(&store, &s).await;
    assert_eq!(
        stored.len(),
        1,
        "none of the refused appends wrote anything"
    );
    assert_eq!(
        stored[0].payload_as::<serde_json::Value>().unwrap(),
        odd.payload
    );
    assert_eq!(store.verify_all().await.unwrap().broken, None);

    let err = EventStore::open("mysql://localhost/x", StoreOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "UNSUPPORTED_DATABASE_URL");
    db.finish(store).await;
}

fn stream_id_error(s: &str) -> &'static str {
    StreamId::parse(s).unwrap_err().code()
}

/// CI sets `ADUANA_REQUIRE_POSTGRES=1`: then a run without a PostgreSQL URL fails instead of
/// silently skipping half of the suite.
#[test]
fn postgres_is_configured_when_the_run_requires_it() {
    if std::env::var("ADUANA_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
        assert!(
            std::env::var(aduana_tests::PG_URL_VAR).is_ok(),
            "ADUANA_REQUIRE_POSTGRES=1 but {} is not set: the PostgreSQL suite would be skipped",
            aduana_tests::PG_URL_VAR
        );
    }
}

async fn next_within<S>(sub: &mut S) -> eventstore::RecordedEvent
where
    S: futures::Stream<Item = Result<eventstore::RecordedEvent, StoreError>> + Unpin,
{
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("an event within 10 s")
        .expect("the subscription goes on")
        .expect("no error")
}

/// Three handles on one database stand for three processes: each has its own pool and writer,
/// so their commits interleave only through the database's own locking.
async fn separate_handles(db: TestDb) {
    const PER_WRITER: usize = 250;
    let options = StoreOptions {
        poll_interval: Duration::from_millis(50),
        ..StoreOptions::default()
    };
    let a = db.open_with(options.clone()).await;
    let b = db.open_with(options.clone()).await;
    let reader = db.open_with(options).await;
    let total = 2 * 4 * PER_WRITER;
    let mut sub = Box::pin(reader.subscribe_all(0, Filter::all()));
    let mut writers = Vec::new();
    for (h, store) in [&a, &b].into_iter().enumerate() {
        for w in 0..4 {
            let store = store.clone();
            writers.push(tokio::spawn(async move {
                for i in 0..PER_WRITER {
                    let stream = sid(&format!("proc{h}-{w}"));
                    store
                        .append(
                            &stream,
                            ExpectedVersion::Exact(i as u64),
                            vec![event("Step", i as u64)],
                        )
                        .await
                        .unwrap();
                }
            }));
        }
    }
    let mut positions = Vec::with_capacity(total);
    let mut ids = HashSet::new();
    while positions.len() < total {
        let e = next_within(&mut sub).await;
        positions.push(e.position);
        ids.insert(e.event_id);
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(positions, (1..=total as u64).collect::<Vec<_>>());
    assert_eq!(ids.len(), total);
    assert_eq!(reader.verify_all().await.unwrap().broken, None);
    a.close().await;
    b.close().await;
    db.finish(reader).await;
}

/// Handle `a` wrote a stream (and may remember its head); handle `b` then moves the stream on.
/// Whatever `a` remembers, its appends must be judged against the stream as stored.
async fn stale_handle(db: TestDb) {
    let a = db.open().await;
    let b = db.open().await;
    let s = sid("shared-1");
    a.append(&s, ExpectedVersion::NoStream, vec![event("One", 1)])
        .await
        .unwrap();
    b.append(&s, ExpectedVersion::Exact(1), vec![event("Two", 2)])
        .await
        .unwrap();

    // `a` believes version 1; the stream is at 2.
    match a
        .append(&s, ExpectedVersion::Exact(1), vec![event("Late", 3)])
        .await
    {
        Err(StoreError::WrongExpectedVersion { actual, .. }) => assert_eq!(actual, 2),
        other => panic!("expected a conflict at version 2, got {other:?}"),
    }
    // Expecting the true version works although `a` never saw it.
    let third = a
        .append(&s, ExpectedVersion::Exact(2), vec![event("Three", 4)])
        .await
        .unwrap();
    assert_eq!(third.next_version, 3);
    let any = b
        .append(&s, ExpectedVersion::Any, vec![event("Four", 5)])
        .await
        .unwrap();
    assert_eq!(any.next_version, 4);
    let again = a
        .append(&s, ExpectedVersion::Any, vec![event("Five", 6)])
        .await
        .unwrap();
    assert_eq!(again.next_version, 5);
    match a
        .append(&s, ExpectedVersion::NoStream, vec![event("New", 7)])
        .await
    {
        Err(StoreError::WrongExpectedVersion { actual, .. }) => assert_eq!(actual, 5),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(a.verify_stream(&s).await.unwrap().broken, None);
    let types: Vec<String> = read_stream_all(&a, &s)
        .await
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(types, ["One", "Two", "Three", "Four", "Five"]);
    b.close().await;
    db.finish(a).await;
}
