//! Who may call what: bearer tokens signed by the server, roles and grants on the event-log
//! queries, and the `aduana token issue` command that mints tokens with the server's key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use api::auth::key::{ENV_VAR, FILE_NAME};
use api::auth::{Category, Principal, Role, SigningKey, TokenKeys};
use axum::http::{StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{Duration, Utc};
use common::{TestApp, first_code, integrator_token, keys, principal, token_for};
use serde_json::Value;
use uuid::Uuid;

const STREAM: &str = r#"{ stream(id: "declaration-1") { streamVersion } }"#;
const EVENTS: &str = "{ events { events { position } nextAfter } }";
const SERVER_INFO: &str = "{ serverInfo { version headPosition } }";

// --- Roles on the event log ---

#[tokio::test]
async fn officers_auditors_admins_and_integrators_granted_the_category_read_the_raw_log() {
    let app = TestApp::with_three_events().await;
    let tokens = [
        token_for(Role::Officer),
        token_for(Role::Auditor),
        token_for(Role::Admin),
        integrator_token(&[Category::Declaration]),
    ];
    for token in tokens {
        let body = app.graphql_with_token(&token, STREAM).await.body;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["stream"].as_array().unwrap().len(), 3);

        let body = app.graphql_with_token(&token, EVENTS).await.body;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(
            body["data"]["events"]["events"].as_array().unwrap().len(),
            3
        );
        assert_eq!(body["data"]["events"]["nextAfter"], "3");
    }
}

#[tokio::test]
async fn an_integrator_reads_no_stream_of_a_category_not_granted_to_it() {
    let app = TestApp::with_three_events().await;
    for token in [
        integrator_token(&[]),
        integrator_token(&[Category::Batch, Category::Tariff]),
    ] {
        let body = app.graphql_with_token(&token, STREAM).await.body;
        assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["category"], "declaration");
        assert_eq!(body["data"], Value::Null, "{body}");
    }
    let body = app
        .graphql_with_token(&integrator_token(&[]), EVENTS)
        .await
        .body;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    assert!(!body.to_string().contains("DeclarationFiled"));
}

#[tokio::test]
async fn declarants_read_no_whole_stream_and_no_event_they_do_not_own() {
    let app = TestApp::with_three_events().await;
    let body = app.graphql_as(Role::Declarant, STREAM).await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    assert_eq!(body["data"], Value::Null, "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("declarant"), "{message}");
    // `declaration-1` opens with an event that names no owner: it is nobody's, so hidden.
    let body = app.graphql_as(Role::Declarant, EVENTS).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["events"]["events"], serde_json::json!([]));
    assert_eq!(body["data"]["events"]["nextAfter"], "3");
}

#[tokio::test]
async fn anonymous_callers_are_asked_to_sign_in_for_the_log() {
    let app = TestApp::with_three_events().await;
    for query in [STREAM, EVENTS] {
        let body = app.graphql(query).await;
        assert_eq!(first_code(&body), "UNAUTHENTICATED", "{body}");
        assert_eq!(body["data"], Value::Null);
    }
}

#[tokio::test]
async fn server_info_is_public_to_everyone() {
    let app = TestApp::with_three_events().await;
    let body = app.graphql(SERVER_INFO).await;
    assert_eq!(body["data"]["serverInfo"]["headPosition"], "3");
    for role in Role::ALL {
        let body = app.graphql_as(role, SERVER_INFO).await;
        assert_eq!(body["data"]["serverInfo"]["headPosition"], "3", "{role}");
    }
}

#[tokio::test]
async fn a_refused_field_leaves_the_public_fields_beside_it_answered() {
    let app = TestApp::with_three_events().await;
    let query = r#"{ serverInfo { headPosition } stream(id: "declaration-1") { eventType } }"#;
    let body = app.graphql_as(Role::Declarant, query).await;
    assert_eq!(body["data"]["serverInfo"]["headPosition"], "3", "{body}");
    assert!(body["data"].get("stream").is_none(), "{body}");
    assert_eq!(first_code(&body), "FORBIDDEN");
    assert_eq!(body["errors"][0]["path"], serde_json::json!(["stream"]));
    assert!(!body.to_string().contains("DeclarationFiled"));
}

#[tokio::test]
async fn every_operation_of_a_batch_runs_as_the_tokens_principal() {
    let app = TestApp::with_three_events().await;
    let body = serde_json::json!([{ "query": EVENTS }, { "query": SERVER_INFO }]).to_string();
    let request = axum::http::Request::post("/graphql")
        .header("content-type", "application/json")
        .header(
            "authorization",
            format!("Bearer {}", token_for(Role::Auditor)),
        )
        .body(axum::body::Body::from(body))
        .unwrap();
    let answer = app.send(request).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body[0]["data"]["events"]["nextAfter"], "3");
    assert_eq!(answer.body[1]["data"]["serverInfo"]["headPosition"], "3");
}

// --- Bad tokens refuse the whole request ---

async fn assert_invalid_token(app: &TestApp, authorization: &str) -> String {
    let answer = app
        .graphql_with_authorization(authorization, SERVER_INFO)
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{authorization}");
    assert_eq!(first_code(&answer.body), "INVALID_TOKEN");
    assert_eq!(
        answer.headers[header::WWW_AUTHENTICATE],
        "Bearer error=\"invalid_token\""
    );
    assert!(answer.body.get("data").is_none());
    answer.body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn an_expired_token_is_401_even_for_public_fields() {
    let app = TestApp::new().await;
    let past = Utc::now() - Duration::minutes(1);
    let expired = Principal::new("bob", Role::Officer, None, past).unwrap();
    let token = keys()
        .issue(&expired, past - Duration::hours(8), Uuid::new_v4())
        .unwrap();
    let message = assert_invalid_token(&app, &format!("Bearer {token}")).await;
    assert!(message.contains("expired"), "{message}");
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_401() {
    let app = TestApp::new().await;
    let other = TokenKeys::new(&SigningKey::generate().unwrap());
    let token = other
        .issue(&principal(Role::Admin), Utc::now(), Uuid::new_v4())
        .unwrap();
    assert_invalid_token(&app, &format!("Bearer {token}")).await;
}

#[tokio::test]
async fn a_token_with_a_changed_claim_is_401() {
    let app = TestApp::new().await;
    // A declarant's token whose payload is swapped for an admin's: the signature no longer fits.
    let declarant = token_for(Role::Declarant);
    let admin = token_for(Role::Admin);
    let mut parts: Vec<&str> = declarant.split('.').collect();
    parts[1] = admin.split('.').nth(1).unwrap();
    assert_invalid_token(&app, &format!("Bearer {}", parts.join("."))).await;
}

#[tokio::test]
async fn an_unsigned_token_is_401() {
    let app = TestApp::new().await;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = engine.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let claims = engine.encode(format!(
        r#"{{"sub":"eve","role":"admin","exp":{},"iat":1,"jti":"{}"}}"#,
        Utc::now().timestamp() + 3600,
        Uuid::new_v4()
    ));
    assert_invalid_token(&app, &format!("Bearer {header}.{claims}.")).await;
}

#[tokio::test]
async fn a_malformed_authorization_header_is_401_not_anonymous() {
    let app = TestApp::new().await;
    for authorization in [
        "Bearer",
        "Bearer ",
        "Bearer not-a-token",
        "Basic YWxpY2U6c2VjcmV0",
        &token_for(Role::Officer),
    ] {
        assert_invalid_token(&app, authorization).await;
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = TestApp::with_three_events().await;
    let answer = app
        .graphql_with_authorization(&format!("bearer {}", token_for(Role::Officer)), EVENTS)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["data"]["events"]["nextAfter"], "3");
}

// --- `aduana token issue` ---

fn aduana(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aduana"));
    command
        .args(args)
        .env_remove(ENV_VAR)
        .env("RUST_LOG", "info");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn last_line(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    stdout.lines().last().unwrap().to_owned()
}

#[test]
fn token_issue_prints_a_token_the_server_accepts_signed_with_the_data_dir_key() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let output = aduana(
        &[
            "token",
            "issue",
            "--subject",
            "alice",
            "--role",
            "declarant",
            "--org",
            "ACME",
            "--ttl",
            "2h",
            "--data-dir",
            data_dir,
        ],
        &[],
    );
    let token = last_line(&output);

    // The key was created in the data directory, private, and is what the server loads.
    let key_path = dir.path().join(FILE_NAME);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (key, _) = SigningKey::load(None, dir.path()).unwrap();
    let principal = TokenKeys::new(&key).verify(&token).unwrap();
    assert_eq!(principal.subject(), "alice");
    assert_eq!(principal.role(), Role::Declarant);
    assert_eq!(principal.organisation(), Some("ACME"));
    let ttl = principal.expires_at() - Utc::now();
    assert!(
        ttl > Duration::minutes(119) && ttl <= Duration::hours(2),
        "{ttl}"
    );

    // The key itself appears in no output.
    let key_text = std::fs::read_to_string(&key_path).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains(key_text.trim()));
    assert!(stderr.contains("signing key"), "{stderr}");

    // A second token reuses the same key.
    let output = aduana(
        &[
            "token",
            "issue",
            "--subject",
            "bob",
            "--role",
            "officer",
            "--data-dir",
            data_dir,
        ],
        &[],
    );
    let principal = TokenKeys::new(&key).verify(&last_line(&output)).unwrap();
    assert_eq!(principal.role(), Role::Officer);
    assert_eq!(principal.organisation(), None);
}

#[test]
fn token_issue_signs_with_the_environment_key_when_given() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let encoded = STANDARD.encode(key.expose());
    let output = aduana(
        &[
            "token",
            "issue",
            "--subject",
            "port-system",
            "--role",
            "integrator",
            "--grant",
            "declaration",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &[(ENV_VAR, &encoded)],
    );
    let principal = TokenKeys::new(&key).verify(&last_line(&output)).unwrap();
    assert_eq!(principal.role(), Role::Integrator);
    assert_eq!(principal.grants(), [Category::Declaration]);
    assert!(!dir.path().join(FILE_NAME).exists());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains(&encoded));
}

#[test]
fn token_issue_refuses_a_declarant_without_an_organisation() {
    let dir = tempfile::tempdir().unwrap();
    let output = aduana(
        &[
            "token",
            "issue",
            "--subject",
            "alice",
            "--role",
            "declarant",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("organisation"), "{stderr}");
}

#[test]
fn token_issue_refuses_grants_for_other_roles_than_integrator() {
    let dir = tempfile::tempdir().unwrap();
    for role in ["officer", "auditor", "admin", "declarant"] {
        let output = aduana(
            &[
                "token",
                "issue",
                "--subject",
                "k123",
                "--role",
                role,
                "--org",
                "ACME",
                "--grant",
                "declaration",
                "--data-dir",
                dir.path().to_str().unwrap(),
            ],
            &[],
        );
        assert!(!output.status.success(), "{role}");
        assert!(output.stdout.is_empty(), "{role}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("only integrators"), "{role}: {stderr}");
    }
}

#[test]
fn token_issue_refuses_a_category_that_is_never_granted() {
    let dir = tempfile::tempdir().unwrap();
    let output = aduana(
        &[
            "token",
            "issue",
            "--subject",
            "bank",
            "--role",
            "integrator",
            "--grant",
            "apikey",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("never granted"), "{stderr}");
}
