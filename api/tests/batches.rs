//! Batch transmission over HTTP: per-item results, retransmission, resumption, limits and
//! access. The store is SQLite here; `tests/tests/batches.rs` runs the store-level behaviour on
//! every backend.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use api::auth::Role;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use commands::batch::BatchSettings;
use common::declarations::filing;
use common::{Answer, TestApp, declarant_token, token_for};
use serde_json::{Value, json};

fn ndjson(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn post(
    token: &str,
    content_type: &str,
    key: Option<&str>,
    body: impl Into<Body>,
) -> Request<Body> {
    let mut request = Request::post("/api/v1/batches")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", content_type);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request.body(body.into()).unwrap()
}

fn get(token: &str, uri: &str) -> Request<Body> {
    Request::get(uri)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

/// The results of a batch, parsed.
async fn results(app: &TestApp, token: &str, id: &str, query: &str) -> Vec<Value> {
    let answer = app
        .send(get(token, &format!("/api/v1/batches/{id}/results{query}")))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.headers["content-type"], "application/x-ndjson");
    let text = match &answer.body {
        Value::String(text) => text.clone(),
        // A single line parses as JSON by itself.
        other => format!("{other}\n"),
    };
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn declarant() -> String {
    token_for(Role::Declarant)
}

async fn submit(app: &TestApp, token: &str, key: Option<&str>, body: String) -> Answer {
    app.send(post(token, "application/x-ndjson", key, body))
        .await
}

#[tokio::test]
async fn a_mixed_batch_gets_a_result_for_every_item() {
    let app = TestApp::with_reference_data().await;
    let mut bad_hs = filing("ACME", "B-3", "US");
    bad_hs["items"][1]["hsCode"] = json!("9999999999");
    let body = format!(
        "{}{{not json\n\n{}{}",
        ndjson(&[filing("ACME", "B-1", "US"), filing("ACME", "B-2", "VN")]),
        ndjson(&[bad_hs]),
        ndjson(&[filing("OTHER", "B-4", "US")]),
    );
    let answer = submit(&app, &declarant(), None, body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let batch = &answer.body;
    assert_eq!(batch["status"], "completed");
    assert_eq!(batch["format"], "ndjson");
    assert_eq!(
        (
            batch["items"].as_u64(),
            batch["accepted"].as_u64(),
            batch["rejected"].as_u64()
        ),
        (Some(5), Some(2), Some(3))
    );
    let id = batch["id"].as_str().unwrap();
    assert_eq!(answer.headers["location"], format!("/api/v1/batches/{id}"));

    let items = results(&app, &declarant(), id, "").await;
    let summary: Vec<(u64, u64, &str)> = items
        .iter()
        .map(|r| {
            (
                r["item"].as_u64().unwrap(),
                r["line"].as_u64().unwrap(),
                r["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, 1, "accepted"),
            (2, 2, "accepted"),
            (3, 3, "rejected"),
            (4, 5, "rejected"),
            (5, 6, "rejected")
        ]
    );
    assert_eq!(items[0]["lane"], "green");
    assert_eq!(items[0]["status"], "accepted");
    assert_eq!(items[1]["lane"], "yellow");
    assert_eq!(items[1]["status"], "awaitingInspection");
    assert!(items[0]["taxes"].as_str().unwrap().parse::<u64>().unwrap() > 0);
    assert_eq!(items[2]["errors"][0]["code"], "MALFORMED_LINE");
    assert_eq!(items[3]["lrn"], "B-3");
    assert_eq!(items[3]["errors"][0]["code"], "UNKNOWN_TARIFF_CODE");
    assert_eq!(items[3]["errors"][0]["field"], "items[1].hsCode");
    assert_eq!(items[4]["errors"][0]["code"], "DECLARANT_NOT_ALLOWED");
    assert_eq!(items[4]["errors"][0]["field"], "header.declarant");

    let rejected = results(&app, &declarant(), id, "?rejected=true").await;
    assert_eq!(rejected.len(), 3);
    assert!(rejected.iter().all(|r| r["outcome"] == "rejected"));
}

fn batch_id(answer: &Answer) -> String {
    answer.body["id"].as_str().unwrap().to_owned()
}

/// Every declaration stream in the store and how many filings each records.
async fn declarations_in_store(app: &TestApp) -> std::collections::BTreeMap<String, usize> {
    use futures::TryStreamExt;
    let events: Vec<_> = app
        .store
        .read_all(
            0,
            eventstore::Filter::categories(["declaration"]),
            usize::MAX,
        )
        .try_collect()
        .await
        .unwrap();
    let mut filed = std::collections::BTreeMap::new();
    for event in events {
        if event.event_type == "DeclarationFiled" {
            *filed.entry(event.stream_id.to_string()).or_insert(0) += 1;
        }
    }
    filed
}

#[tokio::test]
async fn sending_a_completed_batch_again_duplicates_nothing() {
    let app = TestApp::with_reference_data().await;
    let lines: Vec<Value> = (1..=5)
        .map(|i| filing("ACME", &format!("R-{i}"), "US"))
        .collect();
    let key = uuid::Uuid::new_v4().to_string();
    let first = submit(&app, &declarant(), Some(&key), ndjson(&lines)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let head = app.store.head_position().await.unwrap();

    // Same key: the batch is done; its status is the answer and nothing is written.
    let again = submit(&app, &declarant(), Some(&key), ndjson(&lines)).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, first.body);
    assert_eq!(app.store.head_position().await.unwrap(), head);

    // Another key: a new batch whose every item is answered with its original result.
    let other = submit(&app, &declarant(), None, ndjson(&lines)).await;
    assert_eq!(other.body["accepted"], 5);
    assert_eq!(other.body["replayed"], 5);
    let before = results(&app, &declarant(), &key, "").await;
    let after = results(&app, &declarant(), &batch_id(&other), "").await;
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(a["declarationId"], b["declarationId"]);
        assert_eq!(a["taxes"], b["taxes"]);
        assert_eq!(b["replayed"], true);
    }
    let filed = declarations_in_store(&app).await;
    assert_eq!(filed.len(), 5);
    assert!(filed.values().all(|&n| n == 1), "{filed:?}");
}

#[tokio::test]
async fn a_batch_cut_off_mid_way_resumes_where_it_stopped() {
    let app = TestApp::with_reference_data().await;
    let lines: Vec<Value> = (1..=40)
        .map(|i| filing("ACME", &format!("H-{i}"), "US"))
        .collect();
    let body = ndjson(&lines);
    let key = uuid::Uuid::new_v4().to_string();

    // The connection breaks after 25 lines.
    let cut = body
        .lines()
        .take(25)
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![
        Ok(bytes::Bytes::from(cut)),
        Err(std::io::Error::other("connection reset")),
    ];
    let broken = Body::from_stream(futures::stream::iter(chunks));
    let answer = app
        .send(post(
            &declarant(),
            "application/x-ndjson",
            Some(&key),
            broken,
        ))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert_eq!(
        answer.body["errors"][0]["extensions"]["code"],
        "BODY_INCOMPLETE"
    );
    assert_eq!(answer.body["batch"]["status"], "interrupted");
    assert_eq!(answer.body["batch"]["items"], 25);
    let status = app
        .send(get(&declarant(), &format!("/api/v1/batches/{key}")))
        .await;
    assert_eq!(status.body["status"], "interrupted");
    assert_eq!(status.body["items"], 25);

    // The whole batch again, same key: the first 25 are skipped, the rest filed.
    let resumed = submit(&app, &declarant(), Some(&key), body).await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.body);
    assert_eq!(resumed.body["status"], "completed");
    assert_eq!(resumed.body["items"], 40);
    assert_eq!(resumed.body["accepted"], 40);
    let items = results(&app, &declarant(), &key, "").await;
    let numbers: Vec<u64> = items.iter().map(|r| r["item"].as_u64().unwrap()).collect();
    assert_eq!(
        numbers,
        (1..=40).collect::<Vec<_>>(),
        "every item once, in order"
    );
    let filed = declarations_in_store(&app).await;
    assert_eq!(filed.len(), 40);
    assert!(filed.values().all(|&n| n == 1));
}

#[tokio::test]
async fn the_same_lrn_with_different_content_is_rejected_with_its_own_code() {
    let app = TestApp::with_reference_data().await;
    let original = filing("ACME", "D-1", "US");
    let mut changed = original.clone();
    changed["items"][0]["description"] = json!("Laptops, changed");
    let answer = submit(&app, &declarant(), None, ndjson(&[original, changed])).await;
    assert_eq!(answer.body["accepted"], 1);
    let items = results(&app, &declarant(), &batch_id(&answer), "").await;
    assert_eq!(items[1]["errors"][0]["code"], "DUPLICATE_LRN", "{items:?}");
    assert_eq!(items[1]["errors"][0]["field"], "header.lrn");
    assert_eq!(declarations_in_store(&app).await.len(), 1);
}

#[tokio::test]
async fn content_type_selects_the_parser_and_an_unknown_one_is_refused() {
    let app = TestApp::with_reference_data().await;
    let answer = app
        .send(post(
            &declarant(),
            "application/json",
            None,
            ndjson(&[filing("ACME", "C-1", "US")]),
        ))
        .await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(common::first_code(&answer.body), "UNSUPPORTED_MEDIA_TYPE");
    assert!(
        answer.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("text/csv")
    );
    assert!(
        declarations_in_store(&app).await.is_empty(),
        "nothing filed"
    );
    let answer = app
        .send(post(
            &declarant(),
            "text/csv",
            None,
            "a,b\n1,2\n".to_owned(),
        ))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(common::first_code(&answer.body), "INVALID_CSV_HEADER");
}

#[tokio::test]
async fn bad_bytes_and_huge_lines_reject_their_item_only() {
    let app = TestApp::with_reference_data().await;
    let mut body = ndjson(&[filing("ACME", "U-1", "US")]).into_bytes();
    body.extend_from_slice(b"{\"header\":{\"lrn\":\"\xff\xfe\"}}\n");
    body.extend(std::iter::repeat_n(b'x', 10 << 20));
    body.push(b'\n');
    body.extend_from_slice(ndjson(&[filing("ACME", "U-2", "US")]).as_bytes());
    // Truncated: the last line has no end and is not JSON.
    body.extend_from_slice(b"{\"header\":{\"lrn\":\"U-3\"");
    let answer = app
        .send(post(&declarant(), "application/x-ndjson", None, body))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let items = results(&app, &declarant(), &batch_id(&answer), "").await;
    let codes: Vec<&str> = items
        .iter()
        .map(|r| r["errors"][0]["code"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        codes,
        [
            "-",
            "INVALID_ENCODING",
            "LINE_TOO_LONG",
            "-",
            "MALFORMED_LINE"
        ]
    );
    let health = app
        .send(Request::get("/ready").body(Body::empty()).unwrap())
        .await;
    assert_eq!(health.status, StatusCode::OK);
}

#[tokio::test]
async fn a_body_past_the_limit_gets_413_and_what_was_filed_stands() {
    let app = TestApp::with_reference_data().await;
    let settings = BatchSettings {
        max_bytes: 4000,
        ..BatchSettings::default()
    };
    let state = app.state.clone().with_batch_settings(settings);
    let lines: Vec<Value> = (1..=20)
        .map(|i| filing("ACME", &format!("L-{i}"), "US"))
        .collect();
    let body = ndjson(&lines);
    assert!(body.len() > 4000);
    // Announced too large: refused before anything is read.
    let request = post(&declarant(), "application/x-ndjson", None, body.clone());
    let response = tower::ServiceExt::oneshot(api::router(state.clone()), request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(declarations_in_store(&app).await.len(), 0);
    // Streamed without a length: stopped at the limit, the items before it recorded.
    let stream = futures::stream::iter(
        body.lines()
            .map(|l| Ok::<_, std::io::Error>(bytes::Bytes::from(format!("{l}\n"))))
            .collect::<Vec<_>>(),
    );
    let request = post(
        &declarant(),
        "application/x-ndjson",
        None,
        Body::from_stream(stream),
    );
    let response = tower::ServiceExt::oneshot(api::router(state), request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BATCH_TOO_LARGE");
    assert_eq!(body["batch"]["status"], "interrupted");
    let done = body["batch"]["items"].as_u64().unwrap();
    assert!(done > 0 && done < 20, "{body}");
    assert_eq!(declarations_in_store(&app).await.len() as u64, done);
}

#[tokio::test]
async fn a_declarant_sees_only_its_own_batches() {
    let app = TestApp::with_reference_data().await;
    let answer = submit(
        &app,
        &declarant(),
        None,
        ndjson(&[filing("ACME", "S-1", "US")]),
    )
    .await;
    let id = batch_id(&answer);
    let other = declarant_token("eve", "EVIL");
    for uri in [
        format!("/api/v1/batches/{id}"),
        format!("/api/v1/batches/{id}/results"),
    ] {
        let answer = app.send(get(&other, &uri)).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(common::first_code(&answer.body), "BATCH_NOT_FOUND");
        let officer = app.send(get(&token_for(Role::Officer), &uri)).await;
        assert_eq!(officer.status, StatusCode::OK, "{uri}");
    }
    // Nor may it continue someone else's batch id.
    let answer = submit(
        &app,
        &other,
        Some(&id),
        ndjson(&[filing("EVIL", "S-2", "US")]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert_eq!(common::first_code(&answer.body), "BATCH_ID_TAKEN");
    // Without credentials, nothing.
    let answer = app
        .send(
            Request::get(format!("/api/v1/batches/{id}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    // Officers read but do not send batches.
    let answer = submit(
        &app,
        &token_for(Role::Officer),
        None,
        ndjson(&[filing("ACME", "S-3", "US")]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn only_an_admin_loads_historical_filings_with_their_date() {
    let app = TestApp::with_reference_data().await;
    let mut dated = filing("TRADER9", "HIST-1", "US");
    dated["filingDate"] = json!("2020-03-02");
    let answer = submit(
        &app,
        &token_for(Role::Admin),
        None,
        ndjson(&[dated.clone()]),
    )
    .await;
    assert_eq!(answer.body["accepted"], 1, "{}", answer.body);
    let items = results(&app, &token_for(Role::Admin), &batch_id(&answer), "").await;
    let id = items[0]["declarationId"].as_str().unwrap();
    let outcome = app
        .state
        .declarations()
        .get(
            &common::principal(Role::Admin).caller(),
            id.parse().unwrap(),
        )
        .await
        .unwrap();
    let data = outcome.state.data.unwrap();
    assert_eq!(data.header.filing_date.to_string(), "2020-03-02");
    assert_eq!(
        data.header.declarant.to_string(),
        "TRADER9",
        "the declarant it names"
    );

    let mut mine = dated;
    mine["header"]["declarant"] = json!("ACME");
    let answer = submit(&app, &declarant(), None, ndjson(&[mine])).await;
    let items = results(&app, &declarant(), &batch_id(&answer), "").await;
    assert_eq!(items[0]["errors"][0]["code"], "FILING_DATE_NOT_ALLOWED");
    assert_eq!(items[0]["errors"][0]["field"], "filingDate");
}
