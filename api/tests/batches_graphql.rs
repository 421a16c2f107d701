//! Batches over GraphQL: `batch(id)` and its `results` right after the upload (read from the
//! batch's stream), and `batches(...)` from the `batches` read model, with access by role and
//! organisation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use api::auth::{Principal, Role};
use api::graphql::{AduanaSchema, ReadModelQueries};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use commands::batch::BatchSettings;
use commands::reference;
use common::declarations::{filing, vietnam_to_yellow};
use common::{TestApp, declarant_token, first_code, token_for};
use projections::{BatchesProjection, ReadModels, Runner};
use serde_json::{Value, json};
use tower::ServiceExt;

const BATCH: &str =
    "query($id: UUID!, $rejectedOnly: Boolean! = false, $first: Int! = 100, $after: Int) {
  batch(id: $id) {
    id status format submittedBy organisation contentLength receivedAt updatedAt completedAt
    items accepted rejected replayed interruption
    results(rejectedOnly: $rejectedOnly, first: $first, after: $after) {
      item line lrn declarant outcome declarationId status lane taxes
      errors { code field message } replayed
    }
  }
}";

const LIST: &str = "query($first: Int! = 20, $after: String, $status: BatchStatus) {
  batches(first: $first, after: $after, status: $status) {
    edges { cursor node { id status organisation items accepted rejected } }
    pageInfo { hasNextPage endCursor }
  }
}";

fn ndjson(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn upload(token: &str, body: String) -> Request<Body> {
    Request::post("/api/v1/batches")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/x-ndjson")
        .header("content-length", body.len())
        .body(Body::from(body))
        .unwrap()
}

/// Sends a batch through the REST route; returns its id.
async fn submit(app: &TestApp, token: &str, body: String) -> String {
    let answer = app.send(upload(token, body)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["id"].as_str().unwrap().to_owned()
}

/// Five items: two accepted (green, yellow), a line that is not JSON, an unknown tariff code,
/// and a filing for another declarant.
fn mixed_batch() -> String {
    let mut bad_hs = filing("ACME", "G-3", "US");
    bad_hs["items"][1]["hsCode"] = json!("9999999999");
    format!(
        "{}{{not json\n{}",
        ndjson(&[filing("ACME", "G-1", "US"), filing("ACME", "G-2", "VN")]),
        ndjson(&[bad_hs, filing("OTHER", "G-4", "US")]),
    )
}

async fn batch_query(app: &TestApp, token: &str, variables: Value) -> Value {
    app.graphql_vars(Some(token), BATCH, variables).await
}

fn items(body: &Value) -> Vec<u64> {
    body["data"]["batch"]["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {body}"))
        .iter()
        .map(|r| r["item"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_batch_and_its_results_are_there_as_soon_as_the_upload_is_answered() {
    let mut app = TestApp::with_reference_data().await;
    // Two results per event, so that paging crosses events.
    let settings = BatchSettings {
        chunk_items: 2,
        ..BatchSettings::default()
    };
    app.state = app.state.clone().with_batch_settings(settings);
    let acme = token_for(Role::Declarant);
    let id = submit(&app, &acme, mixed_batch()).await;

    let body = batch_query(&app, &acme, json!({ "id": id })).await;
    assert!(body.get("errors").is_none(), "{body}");
    let batch = &body["data"]["batch"];
    assert_eq!(batch["id"], id.as_str());
    assert_eq!(batch["status"], "COMPLETED");
    assert_eq!(batch["format"], "NDJSON");
    assert_eq!(batch["submittedBy"], "declarant/declarant-1@ACME");
    assert_eq!(batch["organisation"], "ACME");
    let length = mixed_batch().len().to_string();
    assert_eq!(batch["contentLength"], length.as_str());
    assert!(batch["completedAt"].is_string());
    assert_eq!(batch["interruption"], Value::Null);
    assert_eq!(
        [
            &batch["items"],
            &batch["accepted"],
            &batch["rejected"],
            &batch["replayed"]
        ],
        [&json!(5), &json!(2), &json!(3), &json!(0)]
    );

    let results = batch["results"].as_array().unwrap();
    assert_eq!(items(&body), [1, 2, 3, 4, 5]);
    let green = &results[0];
    assert_eq!(green["outcome"], "ACCEPTED");
    assert_eq!(green["lrn"], "G-1");
    assert_eq!(green["declarant"], "ACME");
    assert_eq!(green["status"], "ACCEPTED");
    assert_eq!(green["lane"], "GREEN");
    assert!(green["declarationId"].is_string());
    assert!(green["taxes"].as_str().unwrap().parse::<f64>().unwrap() > 0.0);
    assert_eq!(green["errors"], json!([]));
    assert_eq!(results[1]["lane"], "YELLOW");
    assert_eq!(results[1]["status"], "AWAITING_INSPECTION");
    let malformed = &results[2];
    assert_eq!(malformed["outcome"], "REJECTED");
    assert_eq!(
        (malformed["item"].as_u64(), malformed["line"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(malformed["errors"][0]["code"], "MALFORMED_LINE");
    assert_eq!(malformed["errors"][0]["field"], Value::Null);
    assert_eq!(malformed["declarationId"], Value::Null);
    assert_eq!(malformed["lane"], Value::Null);
    assert_eq!(results[3]["errors"][0]["code"], "UNKNOWN_TARIFF_CODE");
    assert_eq!(results[3]["errors"][0]["field"], "items[1].hsCode");
    assert_eq!(results[4]["errors"][0]["code"], "DECLARANT_NOT_ALLOWED");

    // Rejected only; pages by item number, across the events' chunks.
    let rejected = batch_query(&app, &acme, json!({ "id": id, "rejectedOnly": true })).await;
    assert_eq!(items(&rejected), [3, 4, 5]);
    let page = batch_query(&app, &acme, json!({ "id": id, "first": 2 })).await;
    assert_eq!(items(&page), [1, 2]);
    let page = batch_query(&app, &acme, json!({ "id": id, "first": 2, "after": 2 })).await;
    assert_eq!(items(&page), [3, 4]);
    let page = batch_query(&app, &acme, json!({ "id": id, "first": 2, "after": 4 })).await;
    assert_eq!(items(&page), [5]);
    let page = batch_query(&app, &acme, json!({ "id": id, "after": 5 })).await;
    assert!(items(&page).is_empty());
    let page = batch_query(
        &app,
        &acme,
        json!({ "id": id, "rejectedOnly": true, "first": 1, "after": 3 }),
    )
    .await;
    assert_eq!(items(&page), [4]);

    // Officers, auditors and admins see it too.
    for role in [Role::Officer, Role::Auditor, Role::Admin] {
        let body = batch_query(&app, &token_for(role), json!({ "id": id, "first": 1 })).await;
        assert_eq!(body["data"]["batch"]["items"], 5, "{role}: {body}");
    }
}

#[tokio::test]
async fn results_pages_are_held_to_the_limit() {
    let app = TestApp::with_reference_data().await;
    let acme = token_for(Role::Declarant);
    let id = submit(&app, &acme, ndjson(&[filing("ACME", "P-1", "US")])).await;
    for (first, after, code) in [
        (1001, None, "LIMIT_TOO_LARGE"),
        (0, None, "INVALID_ARGUMENT"),
        (-1, None, "INVALID_ARGUMENT"),
        (10, Some(-1), "INVALID_ARGUMENT"),
    ] {
        let body = batch_query(
            &app,
            &acme,
            json!({ "id": id, "first": first, "after": after }),
        )
        .await;
        assert_eq!(
            first_code(&body),
            code,
            "first {first}, after {after:?}: {body}"
        );
    }
}

#[tokio::test]
async fn another_organisation_cannot_tell_a_batch_exists_and_integrators_are_refused() {
    let app = TestApp::with_reference_data().await;
    let id = submit(
        &app,
        &token_for(Role::Declarant),
        ndjson(&[filing("ACME", "S-1", "US")]),
    )
    .await;

    let rival = declarant_token("bob", "RIVAL");
    let theirs = batch_query(&app, &rival, json!({ "id": id })).await;
    let missing = batch_query(&app, &rival, json!({ "id": uuid::Uuid::new_v4() })).await;
    assert_eq!(theirs, json!({ "data": { "batch": null } }));
    assert_eq!(theirs, missing);

    let integrator = batch_query(&app, &token_for(Role::Integrator), json!({ "id": id })).await;
    assert_eq!(first_code(&integrator), "FORBIDDEN");
    assert_eq!(integrator["data"]["batch"], Value::Null);

    let anonymous = app.graphql_vars(None, BATCH, json!({ "id": id })).await;
    assert_eq!(first_code(&anonymous), "UNAUTHENTICATED");

    let list = app
        .graphql_vars(Some(&token_for(Role::Integrator)), LIST, json!({}))
        .await;
    assert_eq!(first_code(&list), "FORBIDDEN");
}

/// A store with the reference data; batches are sent through the router of an `AppState` on
/// it, and GraphQL runs on a schema that also serves the `batches` read model, executed as
/// `POST /graphql` does (the caller's principal in the request data).
struct ListApp {
    state: api::AppState,
    schema: AduanaSchema,
    runner: Runner,
    models: ReadModels,
    _dir: tempfile::TempDir,
}

impl ListApp {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let args = api::StoreArgs::in_dir(dir.path());
        let store = args.open().await.unwrap();
        let mut events = reference::sample_events().unwrap();
        events.push(vietnam_to_yellow());
        reference::import(&store, events, "admin/test")
            .await
            .unwrap();
        let models = ReadModels::open(args.database_url().expose())
            .await
            .unwrap();
        let view = reference::ReferenceView::load(&store).await.unwrap();
        let declarations = commands::declaration::DeclarationService::new(store.clone(), view);
        let state = api::AppState::with_service(
            store.clone(),
            common::keys(),
            Default::default(),
            declarations.clone(),
            None,
        );
        let schema = api::graphql::schema(
            store.clone(),
            declarations,
            state.batches().clone(),
            state.reference().clone(),
            ReadModelQueries::new(&models),
            Default::default(),
        );
        let runner = Runner::new(store, models.clone(), Arc::new(BatchesProjection));
        // As `aduana serve` does before it answers: the first generation and its views.
        runner.prepare().await.unwrap();
        Self {
            state,
            schema,
            runner,
            models,
            _dir: dir,
        }
    }

    /// Sends a batch as a declarant of `organisation`; returns its id.
    async fn submit(&self, organisation: &str, lrns: &[&str]) -> String {
        let lines: Vec<Value> = lrns.iter().map(|l| filing(organisation, l, "US")).collect();
        let token = declarant_token("clerk", organisation);
        let response = api::router(self.state.clone())
            .oneshot(upload(&token, ndjson(&lines)))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    async fn list(&self, principal: Principal, variables: Value) -> Value {
        let request = async_graphql::Request::new(LIST)
            .variables(async_graphql::Variables::from_json(variables))
            .data(principal);
        serde_json::to_value(self.schema.execute(request).await).unwrap()
    }

    /// The ids of a page, and its end cursor when a page follows.
    async fn page(&self, principal: Principal, variables: Value) -> (Vec<String>, Option<String>) {
        let body = self.list(principal, variables).await;
        assert!(body.get("errors").is_none(), "{body}");
        let connection = &body["data"]["batches"];
        let ids = connection["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect();
        let next = connection["pageInfo"]["hasNextPage"]
            .as_bool()
            .unwrap()
            .then(|| {
                connection["pageInfo"]["endCursor"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            });
        (ids, next)
    }
}

fn declarant(organisation: &str) -> Principal {
    let expires_at = chrono::Utc::now() + chrono::Duration::hours(1);
    Principal::new(
        "clerk",
        Role::Declarant,
        Some(organisation.to_owned()),
        expires_at,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_shows_each_organisation_its_own_batches_and_officers_all_of_them() {
    let app = ListApp::new().await;
    let first = app.submit("ACME", &["A-1", "A-2"]).await;
    let second = app.submit("ACME", &["A-3"]).await;
    let rival = app.submit("RIVAL", &["R-1", "R-2", "R-3"]).await;

    // Not projected yet: the list lags the log, `batch(id)` does not.
    let (ids, _) = app.page(common::principal(Role::Officer), json!({})).await;
    assert!(ids.is_empty());
    app.runner.catch_up().await.unwrap();

    // Newest first; a declarant sees only its organisation's.
    let (ids, next) = app.page(declarant("ACME"), json!({})).await;
    assert_eq!(ids, [second.clone(), first.clone()]);
    assert_eq!(next, None);
    let (ids, _) = app.page(declarant("RIVAL"), json!({})).await;
    assert_eq!(ids, std::slice::from_ref(&rival));
    let (ids, _) = app.page(declarant("NOBODY"), json!({})).await;
    assert!(ids.is_empty());
    let (ids, _) = app.page(common::principal(Role::Officer), json!({})).await;
    assert_eq!(ids, [rival.clone(), second.clone(), first.clone()]);

    // The node carries the status and counts.
    let body = app.list(declarant("RIVAL"), json!({})).await;
    let node = &body["data"]["batches"]["edges"][0]["node"];
    assert_eq!(
        *node,
        json!({ "id": rival, "status": "COMPLETED", "organisation": "RIVAL",
                "items": 3, "accepted": 3, "rejected": 0 })
    );

    // Pages of one, continued with each page's cursor.
    let auditor = || common::principal(Role::Auditor);
    let (page1, after) = app.page(auditor(), json!({ "first": 1 })).await;
    let (page2, after) = app
        .page(auditor(), json!({ "first": 1, "after": after.unwrap() }))
        .await;
    let (page3, after) = app
        .page(auditor(), json!({ "first": 1, "after": after.unwrap() }))
        .await;
    assert_eq!([page1, page2, page3].concat(), [rival, second, first]);
    assert_eq!(after, None);

    // The status filter.
    let (ids, _) = app.page(auditor(), json!({ "status": "COMPLETED" })).await;
    assert_eq!(ids.len(), 3);
    let (ids, _) = app
        .page(auditor(), json!({ "status": "INTERRUPTED" }))
        .await;
    assert!(ids.is_empty());

    // Refusals.
    let integrator = app
        .list(common::principal(Role::Integrator), json!({}))
        .await;
    assert_eq!(first_code(&integrator), "FORBIDDEN");
    let too_many = app.list(auditor(), json!({ "first": 101 })).await;
    assert_eq!(first_code(&too_many), "INVALID_ARGUMENT");
    let bad_cursor = app.list(auditor(), json!({ "after": "nope" })).await;
    assert_eq!(first_code(&bad_cursor), "INVALID_ARGUMENT");
    app.models.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_live_next_to_the_declarations_projection_the_list_follows_new_batches() {
    use futures::FutureExt as _;
    let app = ListApp::new().await;
    let store = app.state.store().clone();
    let declarations = Arc::new(Runner::new(
        store.clone(),
        app.models.clone(),
        Arc::new(projections::DeclarationsProjection),
    ));
    let batches = Arc::new(Runner::new(
        store,
        app.models.clone(),
        Arc::new(BatchesProjection),
    ));
    // As `aduana serve` runs them: both runners in one task, stopped by one signal.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn({
        let (declarations, batches) = (declarations.clone(), batches.clone());
        async move {
            let stopped = async move { stopped.await.unwrap_or(()) }.shared();
            tokio::join!(declarations.run(stopped.clone()), batches.run(stopped));
        }
    });

    let id = app.submit("ACME", &["LIVE-1", "LIVE-2"]).await;
    tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let (ids, _) = app.page(declarant("ACME"), json!({})).await;
            if ids == [id.clone()] {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the live projection lists the new batch");
    stop.send(()).unwrap();
    task.await.unwrap();
    app.models.close().await;
}
