//! Document limits (selections counted with `__typename` and fragments expanded, depth,
//! nesting, directives) and the introspection switch for production.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use api::AppState;
use api::config::GraphqlSettings;
use api::graphql::MAX_SELECTIONS;
use api::graphql::limits::count_selections;
use axum::http::StatusCode;
use common::{TestApp, first_code};
use serde_json::{Value, json};

// --- Document limits ---

fn aliased_typenames(count: usize) -> String {
    let fields: String = (0..count).map(|i| format!("a{i}: __typename ")).collect();
    format!("{{ {fields}}}")
}

#[tokio::test]
async fn aliased_typenames_count_toward_the_selection_limit() {
    let app = TestApp::new().await;
    let body = app.graphql(&aliased_typenames(MAX_SELECTIONS)).await;
    assert!(body.get("errors").is_none(), "{body}");

    let body = app.graphql(&aliased_typenames(MAX_SELECTIONS + 1)).await;
    assert_eq!(first_code(&body), "TOO_MANY_SELECTIONS");
    assert!(
        body.get("data").is_none() || body["data"].is_null(),
        "{body}"
    );
}

#[tokio::test]
async fn a_hundred_thousand_aliased_typenames_are_refused_cheaply() {
    let query = aliased_typenames(100_000);
    // Over HTTP the body limit refuses it before it is parsed.
    let app = TestApp::new().await;
    let answer = app.post_json(&json!({ "query": query }).to_string()).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Without the body limit (the schema called directly), the selection count refuses it
    // after one parse and before validation or execution.
    let started = Instant::now();
    let response = app.state.schema().execute(query.as_str()).await;
    let elapsed = started.elapsed();
    assert_eq!(response.errors.len(), 1);
    let error = serde_json::to_value(&response.errors[0]).unwrap();
    assert_eq!(error["extensions"]["code"], "TOO_MANY_SELECTIONS");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[tokio::test]
async fn fragments_that_double_at_each_level_are_refused_quickly() {
    let app = TestApp::new().await;
    let mut query = String::from("query { ...F40 } fragment F0 on Query { __typename }");
    for level in 1..=40 {
        let below = level - 1;
        query.push_str(&format!(
            " fragment F{level} on Query {{ ...F{below} ...F{below} }}"
        ));
    }
    let started = Instant::now();
    let body = app.graphql(&query).await;
    assert_eq!(first_code(&body), "TOO_MANY_SELECTIONS");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn fragment_cycles_are_refused_before_any_walk_of_them() {
    let app = TestApp::new().await;
    let query = "{ ...A } fragment A on Query { ...B ...B } fragment B on Query { ...A ...A }";
    let body = app.graphql(query).await;
    assert_eq!(first_code(&body), "GRAPHQL_VALIDATION_FAILED");
}

fn nested_of_type(levels: usize) -> String {
    let mut type_ref = String::from("name");
    for _ in 0..levels {
        type_ref = format!("name ofType {{ {type_ref} }}");
    }
    format!("{{ __schema {{ types {{ fields {{ type {{ {type_ref} }} }} }} }} }}")
}

#[tokio::test]
async fn a_query_deeper_than_the_depth_limit_is_refused() {
    let app = TestApp::new().await;
    let body = app.graphql(&nested_of_type(20)).await;
    assert_eq!(first_code(&body), "GRAPHQL_VALIDATION_FAILED");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("nested too deep"), "{body}");
}

#[tokio::test]
async fn deep_nesting_is_refused_by_the_parser_without_overflowing_the_stack() {
    let app = TestApp::new().await;
    let depth = 10_000;
    let query = format!("{}{}", "{ a ".repeat(depth), "}".repeat(depth));
    let body = app.graphql(&query).await;
    assert_eq!(first_code(&body), "GRAPHQL_PARSE_FAILED");

    let query = format!(
        "{{ {}__typename{} }}",
        "... on Query { ".repeat(40),
        " }".repeat(40)
    );
    let body = app.graphql(&query).await;
    assert_eq!(first_code(&body), "GRAPHQL_PARSE_FAILED");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("recursion depth"), "{body}");
}

#[tokio::test]
async fn more_than_four_directives_on_a_field_are_refused() {
    let app = TestApp::new().await;
    let directives = "@include(if: true) ".repeat(5);
    let body = app
        .graphql(&format!("{{ serverInfo {directives} {{ version }} }}"))
        .await;
    assert_eq!(first_code(&body), "GRAPHQL_PARSE_FAILED");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("directives"), "{body}");
}

#[tokio::test]
async fn schema_errors_carry_a_validation_code() {
    let app = TestApp::new().await;
    let body = app.graphql("{ nosuchField }").await;
    assert_eq!(first_code(&body), "GRAPHQL_VALIDATION_FAILED");
    let body = app.graphql("{ serverInfo { ").await;
    assert_eq!(first_code(&body), "GRAPHQL_PARSE_FAILED");
}

/// graphql-js's `getIntrospectionQuery()`, which GraphiQL sends on load.
const INTROSPECTION_QUERY: &str = r"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}";

#[tokio::test]
async fn graphiqls_introspection_query_fits_every_limit() {
    let document = async_graphql::parser::parse_query(INTROSPECTION_QUERY).unwrap();
    let selections = count_selections(&document, usize::MAX).unwrap();
    assert!(
        selections * 2 < MAX_SELECTIONS,
        "the introspection query expands to {selections} selections"
    );
    let app = TestApp::new().await;
    let body = app.graphql(INTROSPECTION_QUERY).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
}

// --- Introspection switch ---

async fn without_introspection() -> TestApp {
    TestApp::with(|store, keys| {
        AppState::with_settings(
            store,
            keys,
            GraphqlSettings {
                introspection: false,
            },
        )
    })
    .await
}

#[tokio::test]
async fn with_introspection_off_schema_and_type_answer_null() {
    let app = without_introspection().await;
    let body = app.graphql("{ __schema { types { name } } }").await;
    assert_eq!(body["data"]["__schema"], Value::Null, "{body}");
    let body = app.graphql(r#"{ __type(name: "Query") { name } }"#).await;
    assert_eq!(body["data"]["__type"], Value::Null, "{body}");
    let body = app.graphql(INTROSPECTION_QUERY).await;
    assert_eq!(body["data"]["__schema"], Value::Null, "{body}");
    // Everything else still runs.
    let body = app.graphql("{ serverInfo { version } }").await;
    assert_eq!(
        body["data"]["serverInfo"]["version"],
        env!("CARGO_PKG_VERSION")
    );
}

#[tokio::test]
async fn with_introspection_off_errors_suggest_no_field_names() {
    let on = TestApp::new().await;
    let body = on.graphql("{ serverInf { version } }").await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("serverInfo"), "{message}");

    let off = without_introspection().await;
    let body = off.graphql("{ serverInf { version } }").await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("serverInfo"), "{message}");
    assert_eq!(first_code(&body), "GRAPHQL_VALIDATION_FAILED");
}
