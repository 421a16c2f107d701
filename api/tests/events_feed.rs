//! The HTTP event feed: pages with `nextAfter`, filters, long polling, the server-sent event
//! stream resumed with `Last-Event-ID` (on every backend: live delivery differs between them),
//! parameter errors, and who reads what: integrators their granted categories, declarants their
//! own organisation's streams.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aduana_tests::{TestDb, on_every_backend};
use api::auth::{Category, Role};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::declarations::filing;
use common::organisations::Organisation;
use common::{Answer, TestApp, declarant_token, first_code, integrator_token, token_for};
use eventstore::{ExpectedVersion, NewEvent, StreamId};
use futures::StreamExt;
use serde_json::{Value, json};
use tower::ServiceExt;

on_every_backend! {
    pages_follow_next_after_to_the_head_with_filters => pages_follow_next_after;
    a_long_poll_answers_when_an_event_commits_or_when_the_wait_is_over => long_poll;
    the_event_stream_resumes_after_the_last_event_id => stream_resumes;
    an_integrator_granted_declarations_reads_declarations_and_not_batches => integrator_reads_grants;
    declarants_read_only_their_own_organisations_streams_page_by_page => declarants_page;
    a_declarants_event_stream_and_long_poll_carry_only_its_own_events => declarants_stream;
}

async fn append(app: &TestApp, category: &str, from: u32, to: u32) {
    let stream = StreamId::parse(format!("{category}-1")).unwrap();
    for n in from..to {
        let kind = if n % 2 == 0 { "Even" } else { "Odd" };
        app.store
            .append(
                &stream,
                ExpectedVersion::Any,
                vec![NewEvent::new(kind, json!({ "n": n }))],
            )
            .await
            .unwrap();
    }
}

async fn get(app: &TestApp, token: Option<&str>, uri: &str) -> Answer {
    let mut request = Request::get(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    app.send(request.body(Body::empty()).unwrap()).await
}

fn numbers(page: &Value) -> Vec<u64> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["n"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_feed_answers_each_principal_with_what_it_may_read() {
    let app = TestApp::new().await;
    let anonymous = get(&app, None, "/api/v1/events").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let readers = [
        token_for(Role::Officer),
        token_for(Role::Auditor),
        token_for(Role::Admin),
        integrator_token(&[Category::Declaration]),
        declarant_token("alice", "ACME"),
    ];
    for token in readers {
        let answer = get(&app, Some(&token), "/api/v1/events").await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }
}

#[tokio::test]
async fn an_integrator_without_grants_is_refused_the_feed() {
    let app = TestApp::new().await;
    let token = integrator_token(&[]);
    for uri in [
        "/api/v1/events",
        "/api/v1/events?categories=declaration",
        "/api/v1/events/stream",
    ] {
        let answer = get(&app, Some(&token), uri).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{uri}");
        assert_eq!(first_code(&answer.body), "FORBIDDEN", "{uri}");
        let message = answer.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("--grant"), "{message}");
    }
}

#[tokio::test]
async fn a_category_asked_for_and_not_readable_is_refused_by_name() {
    let app = TestApp::new().await;
    for (token, uri, category) in [
        (
            integrator_token(&[Category::Declaration]),
            "/api/v1/events?categories=declaration,batch",
            "batch",
        ),
        (
            integrator_token(&[Category::Declaration]),
            "/api/v1/events/stream?categories=apikey",
            "apikey",
        ),
        (
            declarant_token("alice", "ACME"),
            "/api/v1/events?categories=tariff",
            "tariff",
        ),
        (
            declarant_token("alice", "ACME"),
            "/api/v1/events/stream?categories=riskrules",
            "riskrules",
        ),
    ] {
        let answer = get(&app, Some(&token), uri).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{uri}");
        assert_eq!(first_code(&answer.body), "FORBIDDEN", "{uri}");
        assert_eq!(
            answer.body["errors"][0]["extensions"]["category"], category,
            "{uri}"
        );
    }
}

async fn pages_follow_next_after(db: TestDb) {
    let app = TestApp::on(&db).await;
    append(&app, "note", 0, 250).await;
    append(&app, "other", 0, 30).await;
    let token = token_for(Role::Auditor);
    let mut after = "0".to_owned();
    let mut seen = Vec::new();
    loop {
        let page = get(
            &app,
            Some(&token),
            &format!("/api/v1/events?after={after}&limit=100&categories=note"),
        )
        .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let got = numbers(&page.body);
        let done = got.len() < 100;
        seen.extend(got);
        after = page.body["nextAfter"].as_str().unwrap().to_owned();
        if done {
            break;
        }
    }
    assert_eq!(seen, (0..250).collect::<Vec<u64>>());
    let head = app.store.head_position().await.unwrap();
    assert_eq!(
        after,
        head.to_string(),
        "the last page says how far it looked"
    );
    let odd = get(
        &app,
        Some(&token),
        "/api/v1/events?categories=note&types=Odd&limit=1000",
    )
    .await;
    assert_eq!(
        numbers(&odd.body),
        (0..250).filter(|n| n % 2 == 1).collect::<Vec<u64>>()
    );
    let event = &odd.body["events"][0];
    for field in [
        "eventId",
        "position",
        "streamId",
        "streamVersion",
        "eventType",
        "recordedAt",
        "hash",
    ] {
        assert!(!event[field].is_null(), "{field} in {event}");
    }
    db.finish(app.store.clone()).await;
}

#[tokio::test]
async fn bad_parameters_are_refused_with_the_field() {
    let app = TestApp::new().await;
    let token = token_for(Role::Auditor);
    for (query, code, field) in [
        ("after=-1", "INVALID_ARGUMENT", "after"),
        ("after=x", "INVALID_ARGUMENT", "after"),
        ("limit=0", "LIMIT_TOO_LARGE", "limit"),
        ("limit=5000", "LIMIT_TOO_LARGE", "limit"),
        ("wait=60", "INVALID_ARGUMENT", "wait"),
    ] {
        let answer = get(&app, Some(&token), &format!("/api/v1/events?{query}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(first_code(&answer.body), code, "{query}");
        assert_eq!(
            answer.body["errors"][0]["extensions"]["field"], field,
            "{query}"
        );
    }
}

async fn long_poll(db: TestDb) {
    let app = TestApp::on(&db).await;
    append(&app, "note", 0, 3).await;
    let token = token_for(Role::Auditor);
    let head = app.store.head_position().await.unwrap();

    let started = Instant::now();
    let empty = get(
        &app,
        Some(&token),
        &format!("/api/v1/events?after={head}&wait=1"),
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(numbers(&empty.body), Vec::<u64>::new());
    assert_eq!(empty.body["nextAfter"], head.to_string());

    let writer = {
        let store = app.store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let stream = StreamId::parse("note-1").unwrap();
            store
                .append(
                    &stream,
                    ExpectedVersion::Any,
                    vec![NewEvent::new("Even", json!({ "n": 100 }))],
                )
                .await
                .unwrap();
        })
    };
    let started = Instant::now();
    let woke = get(
        &app,
        Some(&token),
        &format!("/api/v1/events?after={head}&wait=20&categories=note"),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered when the event committed"
    );
    assert_eq!(numbers(&woke.body), [100]);
    writer.await.unwrap();
    db.finish(app.store.clone()).await;
}

/// Reads server-sent events from `uri` until `count` events arrived: (id, n) of each.
async fn read_sse(
    app: &TestApp,
    token: &str,
    uri: &str,
    last_event_id: Option<&str>,
    count: usize,
) -> Vec<(String, u64)> {
    read_sse_events(app, token, uri, last_event_id, count)
        .await
        .into_iter()
        .map(|event| {
            let n = event["payload"]["n"].as_u64().unwrap();
            (event["position"].as_str().unwrap().to_owned(), n)
        })
        .collect()
}

/// Reads server-sent events from `uri` until `count` events arrived; each `id` is checked to be
/// its event's position.
async fn read_sse_events(
    app: &TestApp,
    token: &str,
    uri: &str,
    last_event_id: Option<&str>,
    count: usize,
) -> Vec<Value> {
    let mut request = Request::get(uri).header("authorization", format!("Bearer {token}"));
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = api::router(app.state.clone())
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body().into_data_stream();
    let mut text = String::new();
    let mut events = Vec::new();
    while events.len() < count {
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let id = block
                .lines()
                .find_map(|l| l.strip_prefix("id: "))
                .map(str::to_owned);
            let data = block.lines().find_map(|l| l.strip_prefix("data: "));
            if let (Some(id), Some(data)) = (id, data) {
                let event: Value = serde_json::from_str(data).unwrap();
                assert_eq!(event["position"], id.as_str());
                events.push(event);
            }
        }
    }
    events
}

async fn stream_resumes(db: TestDb) {
    let app = TestApp::on(&db).await;
    append(&app, "note", 0, 10).await;
    append(&app, "other", 0, 5).await;
    let token = token_for(Role::Auditor);
    let first = read_sse(
        &app,
        &token,
        "/api/v1/events/stream?categories=note",
        None,
        6,
    )
    .await;
    assert_eq!(
        first.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5]
    );
    let writer = {
        let store = app.store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let stream = StreamId::parse("note-1").unwrap();
            for n in 10..14 {
                store
                    .append(
                        &stream,
                        ExpectedVersion::Any,
                        vec![NewEvent::new("Even", json!({ "n": n }))],
                    )
                    .await
                    .unwrap();
            }
        })
    };
    // Reconnecting as EventSource does: Last-Event-ID wins over `after`.
    let last = &first.last().unwrap().0;
    let second = read_sse(
        &app,
        &token,
        "/api/v1/events/stream?categories=note&after=0",
        Some(last),
        8,
    )
    .await;
    assert_eq!(
        second.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
        [6, 7, 8, 9, 10, 11, 12, 13]
    );
    writer.await.unwrap();
    db.finish(app.store.clone()).await;
}

/// Every page of the feed after `after` for `token`, `limit` at a time (`query` adds
/// parameters): the events and the last `nextAfter`.
async fn read_pages(
    app: &TestApp,
    token: &str,
    query: &str,
    after: u64,
    limit: usize,
) -> (Vec<Value>, u64) {
    let mut after = after;
    let mut events = Vec::new();
    loop {
        let uri = format!("/api/v1/events?after={after}&limit={limit}{query}");
        let page = get(app, Some(token), &uri).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}: {}", page.body);
        let got = page.body["events"].as_array().unwrap().clone();
        let done = got.len() < limit;
        events.extend(got);
        after = page.body["nextAfter"].as_str().unwrap().parse().unwrap();
        if done {
            return (events, after);
        }
    }
}

fn positions(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e["position"].as_str().unwrap().parse().unwrap())
        .collect()
}

fn streams(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| e["streamId"].as_str().unwrap().to_owned())
        .collect()
}

/// The events of `all` in the streams `org` owns.
fn owned_by(all: &[Value], org: &Organisation) -> Vec<Value> {
    all.iter()
        .filter(|e| org.streams.contains(e["streamId"].as_str().unwrap()))
        .cloned()
        .collect()
}

async fn integrator_reads_grants(db: TestDb) {
    let app = TestApp::with_reference_data_on(&db).await;
    let two = app.two_organisations_file().await;
    let head = app.store.head_position().await.unwrap();
    let officer = token_for(Role::Officer);
    let (declarations, _) = read_pages(&app, &officer, "&categories=declaration", 0, 1000).await;
    let (batches, _) = read_pages(&app, &officer, "&categories=batch", 0, 1000).await;
    assert!(!batches.is_empty());

    let token = integrator_token(&[Category::Declaration]);
    let (events, next_after) = read_pages(&app, &token, "", 0, 5).await;
    assert_eq!(next_after, head, "the last page says how far it looked");
    assert_eq!(positions(&events), positions(&declarations));
    let expected: BTreeSet<String> = two
        .acme
        .streams
        .union(&two.other.streams)
        .filter(|s| s.starts_with("declaration-"))
        .cloned()
        .collect();
    assert_eq!(streams(&events), expected);

    // The batches lie between the declarations: a stream that sent them would show them.
    let last_batch = positions(&batches).into_iter().max().unwrap();
    assert!(positions(&declarations).into_iter().max().unwrap() > last_batch);
    let sse = read_sse_events(
        &app,
        &token,
        "/api/v1/events/stream",
        None,
        declarations.len(),
    )
    .await;
    assert_eq!(positions(&sse), positions(&declarations));
    db.finish(app.store.clone()).await;
}

async fn declarants_page(db: TestDb) {
    let app = TestApp::with_reference_data_on(&db).await;
    let two = app.two_organisations_file().await;
    let head = app.store.head_position().await.unwrap();
    let (all, _) = read_pages(&app, &token_for(Role::Officer), "", 0, 1000).await;
    for org in [&two.acme, &two.other] {
        // Small pages, so that pages end among the other organisation's events.
        let (events, next_after) = read_pages(&app, &org.token, "", 0, 2).await;
        assert_eq!(streams(&events), org.streams, "{}", org.name);
        assert_eq!(
            positions(&events),
            positions(&owned_by(&all, org)),
            "{}: every event of its streams, and no other",
            org.name
        );
        assert_eq!(next_after, head, "{}", org.name);
        let (named, _) = read_pages(&app, &org.token, "&categories=batch", 0, 1000).await;
        let batch: BTreeSet<String> = org
            .streams
            .iter()
            .filter(|s| s.starts_with("batch-"))
            .cloned()
            .collect();
        assert_eq!(batch.len(), 1);
        assert_eq!(
            streams(&named),
            batch,
            "{}: its batch's events only",
            org.name
        );
    }
    // Read from after the filings, the inspections' streams are placed by their first events,
    // which this read never met.
    for (org, inspected) in [
        (&two.acme, &two.inspected[0]),
        (&two.other, &two.inspected[1]),
    ] {
        let (events, _) = read_pages(&app, &org.token, "", two.before_inspections, 100).await;
        assert!(!events.is_empty(), "{}", org.name);
        assert_eq!(
            streams(&events),
            BTreeSet::from([inspected.clone()]),
            "{}",
            org.name
        );
        assert_eq!(events[0]["eventType"], "InspectionRecorded");
    }
    db.finish(app.store.clone()).await;
}

async fn declarants_stream(db: TestDb) {
    let app = TestApp::with_reference_data_on(&db).await;
    let two = app.two_organisations_file().await;
    let (all, _) = read_pages(&app, &token_for(Role::Officer), "", 0, 1000).await;
    for org in [&two.acme, &two.other] {
        let own = owned_by(&all, org);
        let sse = read_sse_events(&app, &org.token, "/api/v1/events/stream", None, own.len()).await;
        assert_eq!(positions(&sse), positions(&own), "{}", org.name);
    }

    // A long poll at the head wakes for the caller's own event, never for another's.
    let head = app.store.head_position().await.unwrap();
    let poll = {
        let state = app.state.clone();
        let token = two.acme.token.clone();
        tokio::spawn(async move {
            let request = Request::get(format!("/api/v1/events?after={head}&wait=20"))
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap();
            let response = api::router(state).oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            serde_json::from_slice::<Value>(&bytes).unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.file_ok(&two.other.token, filing("OTHER", "OTHER-3", "US"))
        .await;
    let acme = app
        .file_ok(&two.acme.token, filing("ACME", "ACME-3", "US"))
        .await;
    let page = tokio::time::timeout(Duration::from_secs(15), poll)
        .await
        .expect("the long poll answers")
        .unwrap();
    let events = page["events"].as_array().unwrap();
    assert!(!events.is_empty(), "{page}");
    assert_eq!(
        streams(events),
        BTreeSet::from([format!("declaration-{}", acme["id"].as_str().unwrap())]),
        "{page}"
    );
    db.finish(app.store.clone()).await;
}
