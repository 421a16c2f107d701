//! `declarations(filter, first, after)` over GraphQL, from the declarations read model: scope by
//! organisation, filters and cursor pages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use api::auth::Role;
use common::declarations::filing;
use common::{TestApp, declarant_token, first_code, token_for};
use serde_json::{Value, json};

const LIST: &str = "query($filter: DeclarationFilterInput, $first: Int!, $after: String) {
  declarations(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id lrn declarant status lane itemCount customsValue duty vat balance } }
    pageInfo { hasNextPage endCursor }
  }
}";

async fn list(app: &TestApp, token: &str, filter: Value, first: i64, after: Option<&str>) -> Value {
    app.graphql_vars(
        Some(token),
        LIST,
        json!({ "filter": filter, "first": first, "after": after }),
    )
    .await
}

fn lrns(page: &Value) -> Vec<String> {
    page["data"]["declarations"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["lrn"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declarants_list_their_own_declarations_and_officers_list_all_with_filters_and_pages() {
    let (app, runner) = TestApp::with_read_model().await;
    let acme = declarant_token("alice", "ACME");
    let rival = declarant_token("bob", "RIVAL");
    for n in 0..7 {
        let origin = if n % 2 == 0 { "US" } else { "VN" };
        app.file_ok(&acme, filing("ACME", &format!("A-{n}"), origin))
            .await;
    }
    app.file_ok(&rival, filing("RIVAL", "R-1", "US")).await;
    runner.catch_up().await.unwrap();

    // A declarant sees only its own, even when it asks for another organisation.
    let mine = list(&app, &acme, json!(null), 100, None).await;
    assert_eq!(lrns(&mine).len(), 7, "{mine}");
    let theirs = list(&app, &acme, json!({ "declarant": "RIVAL" }), 100, None).await;
    assert!(lrns(&theirs).is_empty());

    // Officers see everything; filters narrow it.
    let officer = token_for(Role::Officer);
    assert_eq!(
        lrns(&list(&app, &officer, json!(null), 100, None).await).len(),
        8
    );
    let yellow = list(&app, &officer, json!({ "lane": "YELLOW" }), 100, None).await;
    let yellow: BTreeSet<String> = lrns(&yellow).into_iter().collect();
    assert_eq!(yellow, ["A-1", "A-3", "A-5"].map(String::from).into());
    let by_code = list(
        &app,
        &officer,
        json!({ "tariffCodePrefix": "8471" }),
        100,
        None,
    )
    .await;
    assert_eq!(lrns(&by_code).len(), 8);
    let none = list(
        &app,
        &officer,
        json!({ "tariffCodePrefix": "01" }),
        100,
        None,
    )
    .await;
    assert!(lrns(&none).is_empty());

    // Pages of 3: every declaration once, in a stable order.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = list(&app, &acme, json!(null), 3, after.as_deref()).await;
        seen.extend(lrns(&page));
        let info = &page["data"]["declarations"]["pageInfo"];
        if !info["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = Some(info["endCursor"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen.len(), 7);
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>().len(),
        7,
        "no duplicates: {seen:?}"
    );
    assert_eq!(
        seen,
        lrns(&mine),
        "pages follow the same order as one big page"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_and_callers_without_a_listing_role_are_refused() {
    let (app, _runner) = TestApp::with_read_model().await;
    let officer = token_for(Role::Officer);
    let big = list(&app, &officer, json!(null), 101, None).await;
    assert_eq!(first_code(&big), "INVALID_ARGUMENT");
    let cursor = list(&app, &officer, json!(null), 10, Some("not-a-cursor")).await;
    assert_eq!(first_code(&cursor), "INVALID_ARGUMENT");
    let prefix = list(
        &app,
        &officer,
        json!({ "tariffCodePrefix": "84x" }),
        10,
        None,
    )
    .await;
    assert_eq!(first_code(&prefix), "INVALID_ARGUMENT");
    let integrator = list(&app, &token_for(Role::Integrator), json!(null), 10, None).await;
    assert_eq!(first_code(&integrator), "FORBIDDEN");
    let anonymous = app.graphql_vars(None, LIST, json!({ "first": 10 })).await;
    assert_eq!(first_code(&anonymous), "UNAUTHENTICATED");
}
