//! Who may do what with declarations through GraphQL: a declarant sees and changes only its own
//! organisation's declarations (another's answer `NOT_FOUND`, as if they did not exist), one
//! test per operation; declarants cannot do officers' work (`FORBIDDEN`); officers, auditors
//! and admins read everything; a caller without a token is asked to sign in.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use api::auth::Role;
use common::declarations::filing;
use common::{TestApp, declarant_token, first_code, token_for};
use serde_json::{Value, json};

/// A yellow-lane (open) declaration of ACME, filed by ACME's declarant; returns its id.
async fn acme_declaration(app: &TestApp) -> String {
    let filed = app
        .file_ok(&token_for(Role::Declarant), filing("ACME", "LRN-A", "VN"))
        .await;
    assert_eq!(filed["status"], "AWAITING_INSPECTION", "{filed}");
    filed["id"].as_str().unwrap().to_owned()
}

fn rival() -> String {
    declarant_token("rival-1", "RIVAL")
}

/// Sends `query` with `token`; expects the one error `code` and no data for the field.
async fn assert_refused(app: &TestApp, token: Option<&str>, query: &str, code: &str) -> Value {
    let body = app.graphql_vars(token, query, json!({})).await;
    assert_eq!(first_code(&body), code, "{query}: {body}");
    assert_eq!(body["errors"].as_array().unwrap().len(), 1, "{body}");
    assert!(
        body["data"].is_null()
            || body["data"]
                .as_object()
                .unwrap()
                .values()
                .all(Value::is_null),
        "{body}"
    );
    body
}

// --- Another organisation's declaration does not exist for a declarant ---

#[tokio::test]
async fn another_declarant_cannot_read_the_declaration() {
    let app = TestApp::with_reference_data().await;
    let id = acme_declaration(&app).await;
    let query = format!("{{ declaration(id: \"{id}\") {{ id status }} }}");
    let body = assert_refused(&app, Some(&rival()), &query, "NOT_FOUND").await;
    assert!(!body.to_string().contains("AWAITING_INSPECTION"));
    // The same answer as for an id that exists nowhere.
    let nowhere = format!(
        "{{ declaration(id: \"{}\") {{ id }} }}",
        uuid::Uuid::new_v4()
    );
    assert_refused(&app, Some(&rival()), &nowhere, "NOT_FOUND").await;
}

#[tokio::test]
async fn another_declarant_cannot_amend_the_declaration() {
    let app = TestApp::with_reference_data().await;
    let id = acme_declaration(&app).await;
    let query = format!(
        "mutation($input: DeclarationInput!) {{ amendDeclaration(id: \"{id}\", input: $input, \
         reason: \"mine now\") {{ id }} }}"
    );
    let body = app
        .graphql_vars(
            Some(&rival()),
            &query,
            json!({ "input": filing("RIVAL", "LRN-A", "VN") }),
        )
        .await;
    assert_eq!(first_code(&body), "NOT_FOUND", "{body}");
    let own = format!("{{ declaration(id: \"{id}\") {{ dataVersion }} }}");
    let body = app.graphql_as(Role::Declarant, &own).await;
    assert_eq!(body["data"]["declaration"]["dataVersion"], 1, "unchanged");
}

#[tokio::test]
async fn another_declarant_cannot_withdraw_the_declaration() {
    let app = TestApp::with_reference_data().await;
    let id = acme_declaration(&app).await;
    let query =
        format!("mutation {{ withdrawDeclaration(id: \"{id}\", reason: \"mine now\") {{ id }} }}");
    assert_refused(&app, Some(&rival()), &query, "NOT_FOUND").await;
    let own = format!("{{ declaration(id: \"{id}\") {{ status }} }}");
    let body = app.graphql_as(Role::Declarant, &own).await;
    assert_eq!(body["data"]["declaration"]["status"], "AWAITING_INSPECTION");
}

#[tokio::test]
async fn another_declarant_cannot_see_the_history() {
    let app = TestApp::with_reference_data().await;
    let id = acme_declaration(&app).await;
    let query = format!("{{ declarationHistory(id: \"{id}\") {{ eventType payload }} }}");
    let body = assert_refused(&app, Some(&rival()), &query, "NOT_FOUND").await;
    assert!(!body.to_string().contains("DeclarationFiled"));
}

#[tokio::test]
async fn another_declarant_cannot_see_a_past_state() {
    let app = TestApp::with_reference_data().await;
    let id = acme_declaration(&app).await;
    let query = format!("{{ declarationAsOf(id: \"{id}\", version: 1) {{ status }} }}");
    assert_refused(&app, Some(&rival()), &query, "NOT_FOUND").await;
}

#[tokio::test]
async fn another_declarant_cannot_do_officers_work_on_it_either() {
    let app = TestApp::with_reference_data().await;
    let id = acme_declaration(&app).await;
    let query = format!("mutation {{ acceptDeclaration(id: \"{id}\") {{ id }} }}");
    assert_refused(&app, Some(&rival()), &query, "NOT_FOUND").await;
}

#[tokio::test]
async fn a_declarant_cannot_file_for_another_organisation() {
    let app = TestApp::with_reference_data().await;
    let body = app
        .file(&token_for(Role::Declarant), filing("RIVAL", "LRN-B", "US"))
        .await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
}

// --- Roles ---

#[tokio::test]
async fn declarants_cannot_call_officer_mutations_on_their_own_declaration() {
    let app = TestApp::with_reference_data().await;
    let id = acme_declaration(&app).await;
    let own = token_for(Role::Declarant);
    for args in [
        format!("recordInspection(id: \"{id}\", kind: DOCUMENTARY, result: COMPLIANT)"),
        format!("acceptDeclaration(id: \"{id}\")"),
        format!("refuseDeclaration(id: \"{id}\", reason: \"no\")"),
        format!("recordPayment(id: \"{id}\", amount: \"1\", reference: \"R\")"),
        format!("correctDeclaration(id: \"{id}\", additionalTax: \"1\", reason: \"audit\")"),
    ] {
        let query = format!("mutation {{ {args} {{ id }} }}");
        assert_refused(&app, Some(&own), &query, "FORBIDDEN").await;
    }
    let query = r#"mutation { publishReferenceData(files: [{name: "units.csv", content: "code,name\nKGM,kg\n"}]) { written } }"#;
    assert_refused(&app, Some(&own), query, "FORBIDDEN").await;
}

#[tokio::test]
async fn officers_auditors_and_admins_read_every_declaration_and_its_history() {
    let app = TestApp::with_reference_data().await;
    let id = acme_declaration(&app).await;
    for role in [Role::Officer, Role::Auditor, Role::Admin] {
        let query = format!(
            "{{ declaration(id: \"{id}\") {{ status }} declarationHistory(id: \"{id}\") {{ actor }} \
             declarationAsOf(id: \"{id}\", version: 1) {{ status }} }}"
        );
        let body = app.graphql_as(role, &query).await;
        assert!(body.get("errors").is_none(), "{role}: {body}");
        assert_eq!(body["data"]["declaration"]["status"], "AWAITING_INSPECTION");
        assert_eq!(
            body["data"]["declarationHistory"].as_array().unwrap().len(),
            3
        );
        assert_eq!(body["data"]["declarationAsOf"]["status"], "FILED");
    }
}

#[tokio::test]
async fn only_officers_inspect_accept_and_refuse() {
    let app = TestApp::with_reference_data().await;
    let id = acme_declaration(&app).await;
    for role in [Role::Auditor, Role::Admin, Role::Integrator] {
        let query = format!("mutation {{ acceptDeclaration(id: \"{id}\") {{ id }} }}");
        assert_refused(&app, Some(&token_for(role)), &query, "FORBIDDEN").await;
    }
    let query = format!(
        "mutation {{ recordInspection(id: \"{id}\", kind: DOCUMENTARY, result: COMPLIANT) {{ status }} }}"
    );
    let body = app.graphql_as(Role::Officer, &query).await;
    assert_eq!(
        body["data"]["recordInspection"]["status"], "INSPECTED",
        "{body}"
    );
}

#[tokio::test]
async fn anonymous_callers_are_asked_to_sign_in_for_every_declaration_field() {
    let app = TestApp::with_reference_data().await;
    let id = acme_declaration(&app).await;
    let fields = [
        format!("{{ declaration(id: \"{id}\") {{ id }} }}"),
        format!("{{ declarationHistory(id: \"{id}\") {{ eventType }} }}"),
        format!("{{ declarationAsOf(id: \"{id}\", version: 1) {{ status }} }}"),
        "mutation { fileDeclaration(input: {}) { id } }".to_owned(),
        format!("mutation {{ amendDeclaration(id: \"{id}\", input: {{}}, reason: \"r\") {{ id }} }}"),
        format!("mutation {{ withdrawDeclaration(id: \"{id}\", reason: \"r\") {{ id }} }}"),
        format!(
            "mutation {{ recordInspection(id: \"{id}\", kind: PHYSICAL, result: COMPLIANT) {{ id }} }}"
        ),
        format!("mutation {{ acceptDeclaration(id: \"{id}\") {{ id }} }}"),
        format!("mutation {{ refuseDeclaration(id: \"{id}\", reason: \"r\") {{ id }} }}"),
        format!(
            "mutation {{ recordPayment(id: \"{id}\", amount: \"1\", reference: \"R\") {{ id }} }}"
        ),
        format!(
            "mutation {{ correctDeclaration(id: \"{id}\", drawback: \"1\", reason: \"r\") {{ id }} }}"
        ),
        r#"mutation { publishReferenceData(files: [{name: "u.csv", content: "code,name\n"}]) { written } }"#
            .to_owned(),
    ];
    for query in &fields {
        assert_refused(&app, None, query, "UNAUTHENTICATED").await;
    }
    // Nothing was written by any of them.
    let history = format!("{{ declarationHistory(id: \"{id}\") {{ eventType }} }}");
    let body = app.graphql_as(Role::Auditor, &history).await;
    assert_eq!(
        body["data"]["declarationHistory"].as_array().unwrap().len(),
        3
    );
}
