//! The HTTP event feed: pages with `nextAfter`, filters, long polling, the server-sent event
//! stream resumed with `Last-Event-ID` (on every backend: live delivery differs between them),
//! parameter errors and access.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use aduana_tests::{TestDb, on_every_backend};
use api::auth::Role;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{Answer, TestApp, declarant_token, first_code, token_for};
use eventstore::{ExpectedVersion, NewEvent, StreamId};
use futures::StreamExt;
use serde_json::{Value, json};
use tower::ServiceExt;

on_every_backend! {
    pages_follow_next_after_to_the_head_with_filters => pages_follow_next_after;
    a_long_poll_answers_when_an_event_commits_or_when_the_wait_is_over => long_poll;
    the_event_stream_resumes_after_the_last_event_id => stream_resumes;
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
async fn the_feed_is_for_log_readers() {
    let app = TestApp::new().await;
    let anonymous = get(&app, None, "/api/v1/events").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let declarant = get(
        &app,
        Some(&declarant_token("alice", "ACME")),
        "/api/v1/events",
    )
    .await;
    assert_eq!(declarant.status, StatusCode::FORBIDDEN);
    assert_eq!(first_code(&declarant.body), "FORBIDDEN");
    let stream = get(
        &app,
        Some(&declarant_token("alice", "ACME")),
        "/api/v1/events/stream",
    )
    .await;
    assert_eq!(stream.status, StatusCode::FORBIDDEN);
    for role in [Role::Integrator, Role::Officer, Role::Auditor, Role::Admin] {
        let answer = get(&app, Some(&token_for(role)), "/api/v1/events").await;
        assert_eq!(answer.status, StatusCode::OK, "{role}");
    }
}

async fn pages_follow_next_after(db: TestDb) {
    let app = TestApp::on(&db).await;
    append(&app, "note", 0, 250).await;
    append(&app, "other", 0, 30).await;
    let token = token_for(Role::Integrator);
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
    let token = token_for(Role::Integrator);
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
    let token = token_for(Role::Integrator);
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
                events.push((id, event["payload"]["n"].as_u64().unwrap()));
            }
        }
    }
    events
}

async fn stream_resumes(db: TestDb) {
    let app = TestApp::on(&db).await;
    append(&app, "note", 0, 10).await;
    append(&app, "other", 0, 5).await;
    let token = token_for(Role::Integrator);
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
