//! The `batches` read model on every backend: batch events appended to a real store, projected
//! by the runner, and read through `BatchesQuery::list`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use aduana_tests::{TestDb, on_every_backend};
use chrono::{DateTime, TimeZone, Utc};
use domain::DomainEvent;
use domain::batch::{
    Batch, BatchCompleted, BatchEvent, BatchFormat, BatchInterrupted, BatchItemsRecorded,
    BatchReceived, BatchResumed, BatchStatus, BatchTotals, ItemError, ItemOutcome, ItemResult,
};
use domain::declaration::Status;
use domain::risk::Lane;
use eventstore::{EventMetadata, EventStore, ExpectedVersion, NewEvent, StreamId};
use projections::batches::{
    BatchFilter, BatchRow, BatchesQuery, MAX_PAGE_SIZE, PageRequest, QueryError, Scope,
};
use projections::{BatchesProjection, ProjectionError, ReadModels, Runner};
use uuid::Uuid;

on_every_backend! {
    a_batch_shows_its_status_and_counts_as_its_events_arrive => lifecycle;
    an_interrupted_batch_shows_why_until_it_is_resumed => interrupted_and_resumed;
    a_declarant_lists_only_its_organisations_batches_and_filters_by_status => scopes;
    paging_visits_every_batch_once_newest_first => paging;
    bad_page_requests_are_refused => bad_requests;
    the_rebuilt_projection_equals_the_live_one_row_for_row => rebuild;
    an_event_before_the_batch_was_received_stops_the_projection => orphan_event;
    an_unknown_schema_version_of_items_recorded_stops_the_projection => unknown_version;
}

struct Harness {
    db: TestDb,
    store: EventStore,
    models: ReadModels,
    runner: Runner,
    query: BatchesQuery,
}

impl Harness {
    async fn new(db: TestDb) -> Self {
        let store = db.open().await;
        let models = ReadModels::open(&db.url).await.unwrap();
        let runner = Runner::new(store.clone(), models.clone(), Arc::new(BatchesProjection));
        // As `aduana serve` does before it answers: the first generation and its views.
        runner.prepare().await.unwrap();
        let query = BatchesQuery::new(models.clone());
        Self {
            db,
            store,
            models,
            runner,
            query,
        }
    }

    async fn finish(self) {
        self.models.close().await;
        self.db.finish(self.store).await;
    }

    /// Appends `events` to the batch's stream; returns the last position.
    async fn append(&self, id: Uuid, events: &[BatchEvent]) -> u64 {
        let new = events
            .iter()
            .map(|e| {
                NewEvent::new(e.event_type(), e.payload().unwrap()).with_metadata(EventMetadata {
                    actor: Some("declarant/alice@ORGA".to_owned()),
                    ..EventMetadata::default()
                })
            })
            .collect();
        self.append_raw(id, new).await
    }

    async fn append_raw(&self, id: Uuid, events: Vec<NewEvent>) -> u64 {
        let stream = StreamId::parse(format!("batch-{id}")).unwrap();
        let result = self
            .store
            .append(&stream, ExpectedVersion::Any, events)
            .await
            .unwrap();
        *result.positions.last().unwrap()
    }

    async fn catch_up(&self) {
        self.runner.catch_up().await.unwrap();
    }

    /// Every row in `scope` matching `filter`, page by page; checks each page's cursor.
    async fn list_all(&self, scope: &Scope, filter: &BatchFilter, first: u32) -> Vec<BatchRow> {
        let mut rows = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .query
                .list(scope, filter, &PageRequest { first, after })
                .await
                .unwrap();
            assert!(page.rows.len() <= first as usize);
            assert_eq!(page.end_cursor, page.rows.last().map(BatchRow::cursor));
            if page.has_next_page {
                assert_eq!(page.rows.len(), first as usize);
            }
            rows.extend(page.rows);
            if !page.has_next_page {
                return rows;
            }
            after = page.end_cursor;
        }
    }

    async fn row(&self, id: Uuid) -> BatchRow {
        let rows = self
            .list_all(&Scope::All, &BatchFilter::default(), 100)
            .await;
        rows.into_iter()
            .find(|r| r.id == id)
            .expect("the batch is listed")
    }
}

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 5, 9, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

fn received(id: Uuid, organisation: Option<&str>, when: DateTime<Utc>) -> BatchEvent {
    BatchEvent::BatchReceived(BatchReceived {
        batch_id: id,
        format: BatchFormat::Ndjson,
        submitted_by: match organisation {
            Some(org) => format!("declarant/alice@{org}"),
            None => "admin/root".to_owned(),
        },
        organisation: organisation.map(str::to_owned),
        content_length: Some(4096),
        at: when,
    })
}

fn accepted(item: u64) -> ItemResult {
    ItemResult {
        item,
        line: item,
        lrn: Some(format!("L-{item}")),
        declarant: Some("ORGA".to_owned()),
        outcome: ItemOutcome::Accepted {
            declaration_id: Uuid::from_u128(u128::from(item)),
            status: Status::Accepted,
            lane: Some(Lane::Green),
            taxes: Some("1234.50".parse().unwrap()),
        },
        replayed: item.is_multiple_of(5),
    }
}

fn rejected(item: u64) -> ItemResult {
    ItemResult {
        item,
        line: item + 1,
        lrn: None,
        declarant: None,
        outcome: ItemOutcome::Rejected {
            declaration_id: None,
            errors: vec![ItemError::new("MALFORMED_LINE", None, "not JSON")],
        },
        replayed: false,
    }
}

/// Results for items `from..=to`, every third one rejected, with the totals after them.
fn recorded(id: Uuid, before: BatchTotals, from: u64, to: u64, when: DateTime<Utc>) -> BatchEvent {
    let results: Vec<ItemResult> = (from..=to)
        .map(|n| {
            if n.is_multiple_of(3) {
                rejected(n)
            } else {
                accepted(n)
            }
        })
        .collect();
    BatchEvent::BatchItemsRecorded(BatchItemsRecorded {
        batch_id: id,
        totals: before.with(&results),
        results,
        at: when,
    })
}

fn completed(id: Uuid, totals: BatchTotals, when: DateTime<Utc>) -> BatchEvent {
    BatchEvent::BatchCompleted(BatchCompleted {
        batch_id: id,
        totals,
        at: when,
    })
}

/// A completed batch of `items` items received at `when`.
fn whole_batch(
    id: Uuid,
    organisation: Option<&str>,
    items: u64,
    when: DateTime<Utc>,
) -> Vec<BatchEvent> {
    let chunk = recorded(id, BatchTotals::default(), 1, items, when);
    let totals = chunk.totals();
    vec![
        received(id, organisation, when),
        chunk,
        completed(id, totals, when + chrono::Duration::seconds(30)),
    ]
}

fn fold(events: &[BatchEvent]) -> Batch {
    events.iter().fold(Batch::default(), Batch::evolve)
}

async fn lifecycle(db: TestDb) {
    let h = Harness::new(db).await;
    let id = Uuid::from_u128(1);
    let mut events = vec![received(id, Some("ORGA"), at(0))];
    h.append(id, &events).await;
    h.catch_up().await;
    let row = h.row(id).await;
    assert_eq!(row.status, BatchStatus::Received);
    assert_eq!(row.totals, BatchTotals::default());
    assert_eq!(row.organisation.as_deref(), Some("ORGA"));
    assert_eq!(row.submitted_by, "declarant/alice@ORGA");
    assert_eq!(row.format, BatchFormat::Ndjson);
    assert_eq!(row.content_length, Some(4096));
    assert_eq!((row.received_at, row.updated_at), (at(0), at(0)));
    assert_eq!(row.version, 1);

    // Two chunks of 600 results: the totals, not the results, reach the row.
    let first = recorded(id, BatchTotals::default(), 1, 600, at(1));
    let second = recorded(id, first.totals(), 601, 1200, at(2));
    events.extend([first, second]);
    h.append(id, &events[1..]).await;
    h.catch_up().await;
    let row = h.row(id).await;
    assert_eq!(row.status, BatchStatus::Processing);
    assert_eq!(
        row.totals,
        BatchTotals {
            items: 1200,
            accepted: 800,
            rejected: 400,
            replayed: 160
        }
    );
    assert_eq!(row.updated_at, at(2));
    assert_eq!(row.completed_at, None);

    let totals = events[2].totals();
    events.push(completed(id, totals, at(3)));
    h.append(id, &events[3..]).await;
    h.catch_up().await;
    let row = h.row(id).await;
    assert_eq!(row.status, BatchStatus::Completed);
    assert_eq!(row.completed_at, Some(at(3)));
    assert_eq!(row.version, 4);
    // The row is the domain's own fold of the stream.
    assert_eq!(row.batch(), fold(&events));
    h.finish().await;
}

async fn interrupted_and_resumed(db: TestDb) {
    let h = Harness::new(db).await;
    let id = Uuid::from_u128(2);
    let chunk = recorded(id, BatchTotals::default(), 1, 10, at(1));
    let totals = chunk.totals();
    let mut events = vec![
        received(id, Some("ORGA"), at(0)),
        chunk,
        BatchEvent::BatchInterrupted(BatchInterrupted {
            batch_id: id,
            totals,
            reason: "the body could not be read to its end: connection reset".to_owned(),
            at: at(2),
        }),
    ];
    h.append(id, &events).await;
    h.catch_up().await;
    let row = h.row(id).await;
    assert_eq!(row.status, BatchStatus::Interrupted);
    assert_eq!(row.totals.items, 10);
    assert!(
        row.interruption
            .as_deref()
            .unwrap()
            .contains("connection reset")
    );
    assert_eq!(row.batch(), fold(&events));

    let resumed = BatchEvent::BatchResumed(BatchResumed {
        batch_id: id,
        totals,
        at: at(5),
    });
    let more = recorded(id, totals, 11, 15, at(6));
    let done = completed(id, more.totals(), at(7));
    events.extend([resumed, more, done]);
    h.append(id, &events[3..4]).await;
    h.catch_up().await;
    let row = h.row(id).await;
    assert_eq!(row.status, BatchStatus::Processing);
    assert_eq!(row.interruption, None);
    assert_eq!(row.totals.items, 10);

    h.append(id, &events[4..]).await;
    h.catch_up().await;
    let row = h.row(id).await;
    assert_eq!(row.status, BatchStatus::Completed);
    assert_eq!(row.totals.items, 15);
    assert_eq!(row.batch(), fold(&events));
    h.finish().await;
}

async fn scopes(db: TestDb) {
    let h = Harness::new(db).await;
    let orga = [Uuid::from_u128(10), Uuid::from_u128(11)];
    let orgb = Uuid::from_u128(12);
    let admin = Uuid::from_u128(13);
    h.append(orga[0], &whole_batch(orga[0], Some("ORGA"), 3, at(0)))
        .await;
    h.append(orga[1], &[received(orga[1], Some("ORGA"), at(1))])
        .await;
    h.append(orgb, &whole_batch(orgb, Some("ORGB"), 2, at(2)))
        .await;
    h.append(admin, &whole_batch(admin, None, 4, at(3))).await;
    h.catch_up().await;

    let ids = |rows: Vec<BatchRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = BatchFilter::default();
    let mine = Scope::Organisation("ORGA".to_owned());
    assert_eq!(ids(h.list_all(&mine, &all, 10).await), [orga[1], orga[0]]);
    let theirs = Scope::Organisation("ORGB".to_owned());
    assert_eq!(ids(h.list_all(&theirs, &all, 10).await), [orgb]);
    let nobody = Scope::Organisation("NOBODY".to_owned());
    assert!(h.list_all(&nobody, &all, 10).await.is_empty());
    assert_eq!(
        ids(h.list_all(&Scope::All, &all, 10).await),
        [admin, orgb, orga[1], orga[0]]
    );

    let filter = |status| BatchFilter {
        status: Some(status),
    };
    assert_eq!(
        ids(h
            .list_all(&Scope::All, &filter(BatchStatus::Completed), 10)
            .await),
        [admin, orgb, orga[0]]
    );
    assert_eq!(
        ids(h.list_all(&mine, &filter(BatchStatus::Completed), 10).await),
        [orga[0]]
    );
    assert_eq!(
        ids(h.list_all(&mine, &filter(BatchStatus::Received), 10).await),
        [orga[1]]
    );
    assert!(
        h.list_all(&theirs, &filter(BatchStatus::Received), 10)
            .await
            .is_empty()
    );
    h.finish().await;
}

async fn paging(db: TestDb) {
    let h = Harness::new(db).await;
    // Eleven batches; pairs received at the same instant are ordered by id, descending.
    let mut expected = Vec::new();
    for n in 0..11u128 {
        let id = Uuid::from_u128(0xB000 + n * 7919 % 101);
        let when = at(i64::try_from(n / 2).unwrap());
        h.append(id, &whole_batch(id, Some("ORGA"), 1, when)).await;
        expected.push((when, id));
    }
    h.catch_up().await;
    expected.sort_by(|a, b| b.cmp(a));
    let expected: Vec<Uuid> = expected.into_iter().map(|(_, id)| id).collect();
    for first in [1, 3, 4, 11, MAX_PAGE_SIZE] {
        for scope in [Scope::All, Scope::Organisation("ORGA".to_owned())] {
            let rows = h.list_all(&scope, &BatchFilter::default(), first).await;
            let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
            assert_eq!(ids, expected, "pages of {first}");
        }
    }
    // A page that ends exactly at the last row says so.
    let page = h
        .query
        .list(
            &Scope::All,
            &BatchFilter::default(),
            &PageRequest {
                first: 11,
                after: None,
            },
        )
        .await
        .unwrap();
    assert!(!page.has_next_page);
    assert_eq!(page.rows.len(), 11);
    h.finish().await;
}

async fn bad_requests(db: TestDb) {
    let h = Harness::new(db).await;
    let list = |first, after: Option<&str>| {
        let page = PageRequest {
            first,
            after: after.map(str::to_owned),
        };
        let query = h.query.clone();
        async move {
            query
                .list(&Scope::All, &BatchFilter::default(), &page)
                .await
        }
    };
    assert!(matches!(
        list(0, None).await,
        Err(QueryError::InvalidPageSize(0))
    ));
    assert!(matches!(
        list(MAX_PAGE_SIZE + 1, None).await,
        Err(QueryError::InvalidPageSize(_))
    ));
    for cursor in ["not base64!", "bm90IGEgY3Vyc29y", ""] {
        assert!(
            matches!(list(10, Some(cursor)).await, Err(QueryError::InvalidCursor)),
            "{cursor:?}"
        );
    }
    let empty = list(10, None).await.unwrap();
    assert!(empty.rows.is_empty() && !empty.has_next_page && empty.end_cursor.is_none());
    h.finish().await;
}

async fn rebuild(db: TestDb) {
    let h = Harness::new(db).await;
    for n in 0..6u128 {
        let id = Uuid::from_u128(100 + n);
        let organisation = ["ORGA", "ORGB"][usize::try_from(n % 2).unwrap()];
        let when = at(i64::try_from(n).unwrap());
        let mut events = whole_batch(id, Some(organisation), 20, when);
        if n % 3 == 0 {
            // Interrupted instead of completed.
            events[2] = BatchEvent::BatchInterrupted(BatchInterrupted {
                batch_id: id,
                totals: events[1].totals(),
                reason: "the body is larger than the limit of 10 bytes".to_owned(),
                at: when,
            });
        }
        h.append(id, &events).await;
    }
    h.catch_up().await;
    let live = h.list_all(&Scope::All, &BatchFilter::default(), 4).await;
    assert_eq!(live.len(), 6);
    // A rebuild fills a new generation from position 0 and switches to it: the same model.
    assert_eq!(h.runner.rebuild().await.unwrap().generation, 2);
    assert_eq!(
        h.list_all(&Scope::All, &BatchFilter::default(), 4).await,
        live
    );
    h.finish().await;
}

async fn orphan_event(db: TestDb) {
    let h = Harness::new(db).await;
    let good = Uuid::from_u128(20);
    h.append(good, &whole_batch(good, Some("ORGA"), 2, at(0)))
        .await;
    h.catch_up().await;
    let checkpoint = h.runner.checkpoint().await.unwrap();
    let orphan = Uuid::from_u128(21);
    let position = h
        .append(orphan, &[completed(orphan, BatchTotals::default(), at(1))])
        .await;
    let error = h.runner.catch_up().await.unwrap_err();
    assert!(
        matches!(&error, ProjectionError::Handler { position: p, message, .. }
            if *p == position && message.contains("before")),
        "{error}"
    );
    assert_eq!(h.runner.checkpoint().await.unwrap(), checkpoint);
    assert_eq!(h.row(good).await.status, BatchStatus::Completed);
    h.finish().await;
}

async fn unknown_version(db: TestDb) {
    let h = Harness::new(db).await;
    let id = Uuid::from_u128(30);
    h.append(id, &[received(id, Some("ORGA"), at(0))]).await;
    h.catch_up().await;
    let chunk = recorded(id, BatchTotals::default(), 1, 2, at(1));
    let position = h
        .append_raw(
            id,
            vec![
                NewEvent::new(chunk.event_type(), chunk.payload().unwrap()).with_schema_version(2),
            ],
        )
        .await;
    let error = h.runner.catch_up().await.unwrap_err();
    assert!(
        matches!(&error, ProjectionError::Handler { position: p, message, .. }
            if *p == position && message.contains("schema version 2")),
        "{error}"
    );
    assert_eq!(h.row(id).await.status, BatchStatus::Received);
    h.finish().await;
}
