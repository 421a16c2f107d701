//! The HTTP surface, driven through the router without a socket (and once through `App` on
//! port 0), against a real SQLite store in a temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use api::auth::Role;
use api::{App, AppState, StoreArgs};
use axum::http::StatusCode;
use common::{TestApp, keys};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const EVENT_FIELDS: &str = "eventId position streamId streamVersion eventType schemaVersion \
     payload correlationId causationId actor recordedAt hash";

#[tokio::test]
async fn health_answers_ok() {
    let app = TestApp::new().await;
    assert_eq!(
        app.get("/health").await,
        (StatusCode::OK, json!({ "status": "ok" }))
    );
}

#[tokio::test]
async fn ready_answers_ok_when_the_database_answers() {
    let app = TestApp::new().await;
    assert_eq!(
        app.get("/ready").await,
        (StatusCode::OK, json!({ "status": "ok" }))
    );
}

#[tokio::test]
async fn ready_answers_503_with_a_code_when_the_database_is_gone() {
    let app = TestApp::new().await;
    app.store.close().await;
    let (status, body) = app.get("/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["code"], "STORE_UNAVAILABLE");
}

#[tokio::test]
async fn graphiql_is_served_on_get() {
    let app = TestApp::new().await;
    let (status, body) = app.get("/graphql").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.as_str().unwrap().contains("graphiql"));
}

#[tokio::test]
async fn server_info_names_the_backend_and_the_head_position() {
    let app = TestApp::with_three_events().await;
    let body = app
        .graphql("{ serverInfo { version backend headPosition } }")
        .await;
    assert_eq!(
        body["data"]["serverInfo"],
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "backend": "sqlite",
            "headPosition": "3",
        })
    );
}

#[tokio::test]
async fn a_stream_is_read_in_order_and_backward() {
    let app = TestApp::with_three_events().await;
    let body = app
        .graphql_as(
            Role::Officer,
            &format!(r#"{{ stream(id: "declaration-1") {{ {EVENT_FIELDS} }} }}"#),
        )
        .await;
    let events = body["data"]["stream"].as_array().unwrap();
    let versions: Vec<_> = events.iter().map(|e| e["streamVersion"].clone()).collect();
    assert_eq!(versions, vec![json!(1), json!(2), json!(3)]);
    let first = &events[0];
    assert_eq!(first["position"], "1");
    assert_eq!(first["streamId"], "declaration-1");
    assert_eq!(first["eventType"], "DeclarationFiled");
    assert_eq!(first["schemaVersion"], 1);
    assert_eq!(first["payload"], json!({ "step": 1 }));
    assert_eq!(first["actor"], "declarant/ACME");
    assert_eq!(first["causationId"], Value::Null);
    assert_eq!(first["correlationId"], events[2]["correlationId"]);
    assert_eq!(first["hash"].as_str().unwrap().len(), 64);
    let recorded_at = first["recordedAt"].as_str().unwrap();
    let recorded_at = chrono::DateTime::parse_from_rfc3339(recorded_at).unwrap();
    assert_eq!(recorded_at.offset().local_minus_utc(), 0);

    let body = app
        .graphql_as(
            Role::Officer,
            r#"{ stream(id: "declaration-1", direction: BACKWARD) { streamVersion eventType } }"#,
        )
        .await;
    assert_eq!(
        body["data"]["stream"],
        json!([
            { "streamVersion": 3, "eventType": "DeclarationAccepted" },
            { "streamVersion": 2, "eventType": "ItemDeclared" },
            { "streamVersion": 1, "eventType": "DeclarationFiled" },
        ])
    );

    let body = app
        .graphql_as(
            Role::Officer,
            r#"{ stream(id: "declaration-1", fromVersion: 2, limit: 1) { streamVersion } }"#,
        )
        .await;
    assert_eq!(body["data"]["stream"], json!([{ "streamVersion": 2 }]));
}

#[tokio::test]
async fn events_after_a_position_come_with_the_position_to_resume_from() {
    let app = TestApp::with_three_events().await;
    let body = app
        .graphql_as(
            Role::Officer,
            "{ events(after: 1) { events { position } nextAfter } }",
        )
        .await;
    assert_eq!(
        body["data"]["events"],
        json!({ "events": [{ "position": "2" }, { "position": "3" }], "nextAfter": "3" })
    );

    let body = app
        .graphql_as(Role::Officer, r#"{ events(types: ["ItemDeclared"], categories: ["declaration"]) { events { position } nextAfter } }"#)
        .await;
    assert_eq!(
        body["data"]["events"],
        json!({ "events": [{ "position": "2" }], "nextAfter": "3" })
    );

    let body = app
        .graphql_as(
            Role::Officer,
            r#"{ events(after: "3") { events { position } nextAfter } }"#,
        )
        .await;
    assert_eq!(
        body["data"]["events"],
        json!({ "events": [], "nextAfter": "3" })
    );
}

#[tokio::test]
async fn an_invalid_stream_id_is_a_coded_error_naming_the_argument() {
    let app = TestApp::new().await;
    let body = app
        .graphql_as(
            Role::Officer,
            r#"{ stream(id: "Not a stream!") { eventId } }"#,
        )
        .await;
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "INVALID_STREAM_ID");
    assert_eq!(error["extensions"]["field"], "id");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("invalid stream id")
    );
}

#[tokio::test]
async fn a_limit_above_1000_is_refused() {
    let app = TestApp::new().await;
    let body = app
        .graphql_as(
            Role::Officer,
            r#"{ stream(id: "declaration-1", limit: 1001) { eventId } }"#,
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "LIMIT_TOO_LARGE");
    assert_eq!(body["errors"][0]["extensions"]["field"], "limit");
}

#[tokio::test]
async fn a_full_page_with_every_field_fits_the_complexity_limit_but_two_do_not() {
    let app = TestApp::with_three_events().await;
    let one = format!("{{ events(limit: 1000) {{ events {{ {EVENT_FIELDS} }} nextAfter }} }}");
    let body = app.graphql_as(Role::Officer, &one).await;
    assert!(body.get("errors").is_none(), "{body}");

    let two = format!(
        "{{ a: events(limit: 1000) {{ events {{ {EVENT_FIELDS} }} }} \
         b: stream(id: \"declaration-1\", limit: 1000) {{ {EVENT_FIELDS} }} }}"
    );
    let body = app.graphql_as(Role::Officer, &two).await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("complex"), "{body}");
}

#[tokio::test]
async fn the_graphiql_introspection_query_fits_the_depth_limit() {
    let app = TestApp::new().await;
    // The shape of GraphiQL's introspection query, with nine levels of `ofType` (graphql-js
    // asks for seven to nine) under an argument type.
    let mut type_ref = String::from("kind name");
    for _ in 0..9 {
        type_ref = format!("kind name ofType {{ {type_ref} }}");
    }
    let query = format!(
        "{{ __schema {{ types {{ fields {{ args {{ type {{ {type_ref} }} }} type {{ {type_ref} }} }} }} }} }}"
    );
    let body = app.graphql(&query).await;
    assert!(body.get("errors").is_none(), "{body}");
}

#[tokio::test]
async fn app_binds_port_zero_and_serves_until_shut_down() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreArgs::in_dir(dir.path()).open().await.unwrap();
    let app = App::bind("127.0.0.1:0".parse().unwrap(), AppState::new(store, keys()))
        .await
        .unwrap();
    let addr = app.local_addr().unwrap();
    assert_ne!(addr.port(), 0);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(r#"{"status":"ok"}"#), "{response}");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
