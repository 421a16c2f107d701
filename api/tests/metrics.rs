//! `/metrics` and the `projections` query: what operators see of the projections, the log and
//! the requests, and who may see it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use api::auth::Role;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::declarations::filing;
use common::{TestApp, declarant_token, first_code, token_for};
use serde_json::Value;

fn metrics_request(token: Option<&str>) -> Request<Body> {
    let mut request = Request::get("/metrics");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(Body::empty()).unwrap()
}

fn text(body: &Value) -> &str {
    body.as_str().unwrap()
}

/// The value of the sample line that starts with `series`.
fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[tokio::test]
async fn metrics_are_for_admins_only() {
    let app = TestApp::new().await;
    let anonymous = app.send(metrics_request(None)).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(first_code(&anonymous.body), "UNAUTHENTICATED");
    let declarant = app
        .send(metrics_request(Some(&declarant_token("alice", "ACME"))))
        .await;
    assert_eq!(declarant.status, StatusCode::FORBIDDEN);
    assert_eq!(first_code(&declarant.body), "FORBIDDEN");
    let bad = app.send(metrics_request(Some("not-a-token"))).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let admin = app
        .send(metrics_request(Some(&token_for(Role::Admin))))
        .await;
    assert_eq!(admin.status, StatusCode::OK);
    assert!(
        admin.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
}

#[tokio::test]
async fn metrics_show_projection_progress_the_head_and_request_latencies() {
    let (app, runner) = TestApp::with_read_model().await;
    let _state = app.state.clone().with_projections(vec![runner.status()]);
    let token = declarant_token("alice", "ACME");
    for i in 0..3 {
        app.file_ok(&token, filing("ACME", &format!("M-{i}"), "US"))
            .await;
    }
    let admin = token_for(Role::Admin);
    let before = text(&app.send(metrics_request(Some(&admin))).await.body).to_owned();
    let head = sample(&before, "aduana_log_head_position").unwrap();
    assert!(head > 0.0, "{before}");
    assert_eq!(
        sample(
            &before,
            "aduana_projection_lag_events{projection=\"declarations\"}"
        ),
        Some(head),
        "nothing applied yet: {before}"
    );

    let reached = runner.catch_up().await.unwrap();
    let after = text(&app.send(metrics_request(Some(&admin))).await.body).to_owned();
    assert_eq!(
        sample(
            &after,
            "aduana_projection_position{projection=\"declarations\"}"
        ),
        Some(reached as f64)
    );
    assert_eq!(
        sample(
            &after,
            "aduana_projection_lag_events{projection=\"declarations\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &after,
            "aduana_projection_failing{projection=\"declarations\"}"
        ),
        Some(0.0)
    );
    // Requests are counted by their route, not their raw path.
    let count = sample(
        &after,
        "aduana_http_request_duration_seconds_count{method=\"POST\",route=\"/graphql\",status=\"200\"}",
    );
    assert_eq!(count, Some(3.0), "{after}");
    assert!(after.contains("aduana_portal_live_streams 0"));
}

#[tokio::test]
async fn admins_read_each_projections_position_lag_and_state() {
    let (app, runner) = TestApp::with_read_model().await;
    let _state = app.state.clone().with_projections(vec![runner.status()]);
    app.file_ok(
        &declarant_token("alice", "ACME"),
        filing("ACME", "P-1", "US"),
    )
    .await;
    runner.catch_up().await.unwrap();
    let query = "{ projections { name version position lag state error failedAt } }";
    let body = app.graphql_as(Role::Admin, query).await;
    let projections = body["data"]["projections"].as_array().unwrap();
    assert_eq!(projections.len(), 1, "{body}");
    let p = &projections[0];
    assert_eq!(p["name"], "declarations");
    assert_eq!(p["lag"], "0");
    assert_eq!(
        p["state"], "CATCHING_UP",
        "caught up, not yet following live"
    );
    assert_eq!(p["error"], Value::Null);
    assert!(p["position"].as_str().unwrap().parse::<u64>().unwrap() > 0);
    let refused = app.graphql_as(Role::Declarant, query).await;
    assert_eq!(first_code(&refused), "FORBIDDEN");
}

#[tokio::test]
async fn the_cli_prints_each_checkpoint_and_its_lag() {
    let dir = tempfile::tempdir().unwrap();
    let args = api::StoreArgs::in_dir(dir.path());
    let store = args.open().await.unwrap();
    let models = projections::ReadModels::open(args.database_url().expose())
        .await
        .unwrap();
    let runner = projections::Runner::new(
        store.clone(),
        models.clone(),
        std::sync::Arc::new(projections::DeclarationsProjection),
    );
    // Some events, all passed; then one more, not yet.
    let stream = eventstore::StreamId::parse("note-1").unwrap();
    let event = |n: u32| eventstore::NewEvent::new("Noted", serde_json::json!({ "n": n }));
    store
        .append(
            &stream,
            eventstore::ExpectedVersion::Any,
            vec![event(1), event(2)],
        )
        .await
        .unwrap();
    let reached = runner.catch_up().await.unwrap();
    store
        .append(&stream, eventstore::ExpectedVersion::Any, vec![event(3)])
        .await
        .unwrap();
    models.close().await;
    store.close().await;

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_aduana"))
        .args(["projections", "status", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(line["name"], "declarations");
    assert_eq!(line["position"], reached);
    assert_eq!(line["head"], reached + 1);
    assert_eq!(line["lag"], 1);
}

#[tokio::test]
async fn the_projection_bench_rebuilds_and_reports_its_rate() {
    let dir = tempfile::tempdir().unwrap();
    let args = api::StoreArgs::in_dir(dir.path());
    let store = args.open().await.unwrap();
    commands::reference::import(
        &store,
        commands::reference::sample_events().unwrap(),
        "admin/test",
    )
    .await
    .unwrap();
    let view = commands::reference::ReferenceView::load(&store)
        .await
        .unwrap();
    let service = commands::declaration::DeclarationService::new(store.clone(), view);
    let caller = common::principal(Role::Declarant).caller();
    for i in 0..4 {
        let input: domain::declaration::RawFiling =
            serde_json::from_value(filing("ACME", &format!("B-{i}"), "US")).unwrap();
        service.file(&caller, input).await.unwrap();
    }
    store.close().await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_aduana"))
        .args(["bench", "projection", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["projection"], "declarations");
    assert!(
        report["projectedEvents"].as_u64().unwrap() >= 12,
        "{report}"
    );
    assert_eq!(report["reached"], report["logEvents"]);
    assert!(report["eventsPerSecond"].as_f64().unwrap() > 0.0);
}
