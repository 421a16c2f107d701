//! The GraphQL endpoint over HTTP refuses what it was measured to accept with async-graphql's
//! defaults (issue 3, "Harden the endpoint"): operations sent as GET, bodies not declared as
//! JSON, large batches and large bodies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use api::graphql::MAX_SELECTIONS;
use api::graphql::http::{MAX_BATCH, MAX_BODY_BYTES};
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header};
use common::{TestApp, first_code};
use serde_json::{Value, json};

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// --- Only POST runs operations ---

#[tokio::test]
async fn a_mutation_sent_as_get_is_405_and_runs_nothing() {
    let app = TestApp::new().await;
    for query in [
        "mutation { appendEvent(stream: \"declaration-1\") }",
        "{ serverInfo { version } }",
    ] {
        let answer = app
            .get_answer(&format!("/graphql?query={}", url_encode(query)))
            .await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{query}");
        assert_eq!(answer.headers[header::ALLOW], "POST");
        assert_eq!(first_code(&answer.body), "METHOD_NOT_ALLOWED");
        assert!(answer.body.get("data").is_none(), "{}", answer.body);
    }
    assert_eq!(app.store.head_position().await.unwrap(), 0);
}

#[tokio::test]
async fn other_methods_are_405() {
    let app = TestApp::new().await;
    let request = Request::put("/graphql")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"query":"{ serverInfo { version } }"}"#))
        .unwrap();
    assert_eq!(
        app.send(request).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn a_cors_preflight_gets_no_permission() {
    let app = TestApp::new().await;
    let request = Request::options("/graphql")
        .header("origin", "https://elsewhere.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .body(Body::empty())
        .unwrap();
    let answer = app.send(request).await;
    assert!(!answer.status.is_success(), "{:?}", answer.status);
    assert!(
        !answer
            .headers
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );
}

// --- Only application/json ---

#[tokio::test]
async fn bodies_not_declared_as_json_are_415_with_a_coded_error() {
    let app = TestApp::new().await;
    let body = json!({ "query": "{ serverInfo { version } }" }).to_string();
    for content_type in [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/graphql",
    ] {
        let answer = app.post(content_type, body.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
        assert_eq!(first_code(&answer.body), "UNSUPPORTED_MEDIA_TYPE");
        assert!(answer.body.get("data").is_none());
    }
    let request = Request::post("/graphql").body(Body::from(body)).unwrap();
    let answer = app.send(request).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn json_with_a_charset_is_accepted() {
    let app = TestApp::new().await;
    let body = json!({ "query": "{ serverInfo { version } }" }).to_string();
    let answer = app.post("application/json; charset=utf-8", body).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.body["data"]["serverInfo"]["version"],
        env!("CARGO_PKG_VERSION")
    );
}

#[tokio::test]
async fn a_body_that_is_not_a_graphql_request_is_400() {
    let app = TestApp::new().await;
    for body in ["{", "{\"query\": 3}", "\"query\""] {
        let answer = app.post_json(body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(first_code(&answer.body), "BAD_REQUEST");
    }
}

// --- Batches ---

fn batch(operations: usize) -> String {
    let one = json!({ "query": "{ serverInfo { version } }" });
    Value::Array(vec![one; operations]).to_string()
}

#[tokio::test]
async fn a_batch_of_up_to_ten_operations_runs_each() {
    let app = TestApp::new().await;
    let answer = app.post_json(&batch(MAX_BATCH)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let results = answer.body.as_array().unwrap();
    assert_eq!(results.len(), MAX_BATCH);
    for result in results {
        assert_eq!(
            result["data"]["serverInfo"]["version"],
            env!("CARGO_PKG_VERSION")
        );
    }
}

#[tokio::test]
async fn a_batch_of_more_than_ten_operations_is_refused_whole() {
    let app = TestApp::new().await;
    for operations in [MAX_BATCH + 1, 1000] {
        let answer = app.post_json(&batch(operations)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert_eq!(first_code(&answer.body), "BATCH_TOO_LARGE");
        let message = answer.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(&operations.to_string()), "{message}");
    }
    let answer = app.post_json("[]").await;
    assert_eq!(first_code(&answer.body), "BATCH_TOO_LARGE");
}

#[tokio::test]
async fn each_operation_of_a_batch_is_held_to_the_document_limits() {
    let app = TestApp::new().await;
    let too_many = vec!["__typename"; MAX_SELECTIONS + 1].join(" ");
    let body = json!([
        { "query": "{ serverInfo { version } }" },
        { "query": format!("{{ {too_many} }}") },
    ])
    .to_string();
    let answer = app.post_json(&body).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body[0]["data"]["serverInfo"].is_object());
    assert_eq!(first_code(&answer.body[1]), "TOO_MANY_SELECTIONS");
}

// --- Body size, before parsing ---

#[tokio::test]
async fn an_8_mib_body_is_413_before_it_is_read() {
    let app = TestApp::new().await;
    let padding = "x".repeat(8 * 1024 * 1024);
    let body = json!({ "query": "{ serverInfo { version } }", "variables": { "p": padding } });
    let answer = app.post_json(&body.to_string()).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(first_code(&answer.body), "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn a_streamed_body_without_a_length_is_cut_off_at_the_limit() {
    let app = TestApp::new().await;
    let chunk = Bytes::from(vec![b' '; 16 * 1024]);
    let chunks = (0..512).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
    let request = Request::post("/graphql")
        .header("content-type", "application/json")
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap();
    let answer = app.send(request).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(first_code(&answer.body), "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn a_body_just_under_the_limit_is_accepted() {
    let app = TestApp::new().await;
    let query = "{ serverInfo { version } }";
    let overhead = json!({ "query": query, "variables": { "p": "" } })
        .to_string()
        .len();
    let padding = "x".repeat(MAX_BODY_BYTES - overhead);
    let body = json!({ "query": query, "variables": { "p": padding } }).to_string();
    assert_eq!(body.len(), MAX_BODY_BYTES);
    let answer = app.post_json(&body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}
