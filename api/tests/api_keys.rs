//! API keys for machine clients: `aduana apikey issue` and `revoke`, the `X-API-Key` header,
//! and a server that follows issues and revocations as they commit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use api::auth::api_key::{self, ApiKeyError};
use api::auth::{Category, Role};
use api::{AppState, StoreArgs, router};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use common::{Answer, first_code, token_for};
use eventstore::{EventStore, Filter};
use futures::TryStreamExt as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::task::JoinHandle;
use tower::ServiceExt as _;

const EVENTS: &str = "{ events { events { position } nextAfter } }";
const STREAM: &str = r#"{ stream(id: "declaration-1") { streamVersion } }"#;
const SERVER_INFO: &str = "{ serverInfo { headPosition } }";

/// A server state loaded from a store (API keys included) and following it.
struct Server {
    store: EventStore,
    state: AppState,
    follower: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreArgs::in_dir(dir.path()).open().await.unwrap();
        Self::start_on(dir, store).await
    }

    async fn start_on(dir: tempfile::TempDir, store: EventStore) -> Self {
        let (state, follower) =
            AppState::load(store.clone(), common::keys(), Default::default(), None)
                .await
                .unwrap();
        Self {
            store,
            state,
            follower,
            _dir: dir,
        }
    }

    async fn issue(&self, role: Role, org: Option<&str>) -> api_key::IssuedKey {
        self.issue_with(role, org, &[]).await
    }

    async fn issue_with(
        &self,
        role: Role,
        org: Option<&str>,
        grants: &[Category],
    ) -> api_key::IssuedKey {
        api_key::issue(
            &self.store,
            &format!("{role}-bot"),
            role,
            org.map(str::to_owned),
            grants.to_vec(),
            Utc::now(),
        )
        .await
        .unwrap()
    }

    async fn query(&self, headers: &[(&str, &str)], query: &str) -> Answer {
        let mut request = Request::post("/graphql").header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = Body::from(json!({ "query": query }).to_string());
        let response = router(self.state.clone())
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Answer {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap(),
        }
    }

    async fn with_key(&self, key: &str, query: &str) -> Answer {
        self.query(&[("x-api-key", key)], query).await
    }

    /// Waits up to two seconds for `key` to be accepted (the follower applies new keys).
    async fn until_accepted(&self, key: &str) -> Answer {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let answer = self.with_key(key, EVENTS).await;
            if answer.status == StatusCode::OK || Instant::now() > deadline {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn stop(self) {
        self.follower.abort();
        self.store.close().await;
    }
}

#[tokio::test]
async fn a_key_issued_before_start_up_reads_the_log_as_its_role() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreArgs::in_dir(dir.path()).open().await.unwrap();
    let issued = api_key::issue(
        &store,
        "port-system",
        Role::Officer,
        None,
        Vec::new(),
        Utc::now(),
    )
    .await
    .unwrap();
    let server = Server::start_on(dir, store).await;

    let answer = server.with_key(&issued.key, EVENTS).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.body.get("errors").is_none(), "{}", answer.body);
    // The key's own issue is in the log it reads.
    assert_eq!(answer.body["data"]["events"]["nextAfter"], "1");
    server.stop().await;
}

#[tokio::test]
async fn a_key_issued_while_the_server_runs_is_accepted_without_a_restart() {
    let server = Server::start().await;
    let issued = server.issue(Role::Auditor, None).await;
    let answer = server.until_accepted(&issued.key).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.body.get("errors").is_none(), "{}", answer.body);
    server.stop().await;
}

#[tokio::test]
async fn a_revoked_key_is_refused_within_moments() {
    let server = Server::start().await;
    let issued = server
        .issue_with(Role::Integrator, None, &[Category::Declaration])
        .await;
    assert_eq!(
        server.until_accepted(&issued.key).await.status,
        StatusCode::OK
    );

    api_key::revoke(&server.store, &issued.key_id, Utc::now())
        .await
        .unwrap();
    let revoked_at = Instant::now();
    loop {
        let answer = server.with_key(&issued.key, EVENTS).await;
        if answer.status == StatusCode::UNAUTHORIZED {
            assert_eq!(first_code(&answer.body), "INVALID_API_KEY");
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(2),
            "still accepted: {}",
            answer.body
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Public fields do not make a revoked key anonymous.
    let answer = server.with_key(&issued.key, SERVER_INFO).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

#[tokio::test]
async fn a_key_is_revoked_once() {
    let server = Server::start().await;
    let issued = server.issue(Role::Officer, None).await;
    api_key::revoke(&server.store, &issued.key_id, Utc::now())
        .await
        .unwrap();
    assert!(matches!(
        api_key::revoke(&server.store, &issued.key_id, Utc::now()).await,
        Err(ApiKeyError::AlreadyRevoked(_))
    ));
    assert!(matches!(
        api_key::revoke(
            &server.store,
            "0190f3a2b4c57d8e9f00112233445566",
            Utc::now()
        )
        .await,
        Err(ApiKeyError::UnknownKey(_))
    ));
    assert!(matches!(
        api_key::revoke(&server.store, "apikey-1", Utc::now()).await,
        Err(ApiKeyError::InvalidKeyId(_))
    ));
    server.stop().await;
}

#[tokio::test]
async fn tampered_unknown_and_malformed_keys_are_refused() {
    let server = Server::start().await;
    let issued = server.issue(Role::Officer, None).await;
    assert_eq!(
        server.until_accepted(&issued.key).await.status,
        StatusCode::OK
    );

    let mut tampered = issued.key.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let secret = &issued.key[3 + 32 + 1..];
    let unknown = format!("ak_0190f3a2b4c57d8e9f00112233445566_{secret}");
    for key in [
        tampered.as_str(),
        unknown.as_str(),
        "ak_nope",
        &issued.key[..issued.key.len() - 1],
        "",
    ] {
        let answer = server.with_key(key, EVENTS).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{key:?}");
        assert_eq!(first_code(&answer.body), "INVALID_API_KEY", "{key:?}");
        assert!(answer.body["data"].is_null());
    }
    server.stop().await;
}

#[tokio::test]
async fn a_declarant_key_acts_for_its_organisation_only() {
    let server = Server::start().await;
    assert!(matches!(
        api_key::issue(
            &server.store,
            "bot",
            Role::Declarant,
            None,
            Vec::new(),
            Utc::now()
        )
        .await,
        Err(ApiKeyError::Principal(_))
    ));
    let issued = server.issue(Role::Declarant, Some("ACME")).await;
    assert_eq!(
        issued.principal.actor().as_str(),
        "declarant/declarant-bot@ACME"
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    let answer = loop {
        let answer = server.with_key(&issued.key, STREAM).await;
        if answer.status == StatusCode::OK || Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(first_code(&answer.body), "FORBIDDEN", "{}", answer.body);
    let message = answer.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("declarant"), "{message}");
    server.stop().await;
}

#[tokio::test]
async fn an_integrator_key_reads_the_categories_granted_to_it_only() {
    let server = Server::start().await;
    let granted = server
        .issue_with(Role::Integrator, None, &[Category::Declaration])
        .await;
    let answer = server.until_accepted(&granted.key).await;
    assert!(answer.body.get("errors").is_none(), "{}", answer.body);
    let batches = "{ events(categories: [\"batch\"]) { nextAfter } }";
    let answer = server.with_key(&granted.key, batches).await;
    assert_eq!(first_code(&answer.body), "FORBIDDEN", "{}", answer.body);
    assert_eq!(answer.body["errors"][0]["extensions"]["category"], "batch");

    let ungranted = server.issue(Role::Integrator, None).await;
    let answer = server.until_accepted(&ungranted.key).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(first_code(&answer.body), "FORBIDDEN", "{}", answer.body);
    assert_eq!(answer.body["data"], Value::Null);
    server.stop().await;
}

#[tokio::test]
async fn a_request_with_both_a_token_and_a_key_is_refused() {
    let server = Server::start().await;
    let issued = server.issue(Role::Officer, None).await;
    let bearer = format!("Bearer {}", token_for(Role::Officer));
    let answer = server
        .query(
            &[("authorization", &bearer), ("x-api-key", &issued.key)],
            SERVER_INFO,
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert_eq!(first_code(&answer.body), "BAD_REQUEST");
    // Bearer tokens alone still work beside API keys.
    let answer = server.query(&[("authorization", &bearer)], EVENTS).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.body.get("errors").is_none(), "{}", answer.body);
    server.stop().await;
}

#[tokio::test]
async fn the_store_keeps_the_hash_of_the_secret_never_the_secret() {
    let server = Server::start().await;
    let issued = server
        .issue_with(
            Role::Integrator,
            None,
            &[Category::Batch, Category::Declaration],
        )
        .await;
    // `ak_`, 32 hex digits, `_`, then the secret (which may hold `_` itself).
    let secret = issued.key[3 + 32 + 1..].to_owned();
    assert_eq!(secret.len(), 43);
    api_key::revoke(&server.store, &issued.key_id, Utc::now())
        .await
        .unwrap();

    let events: Vec<_> = server
        .store
        .read_all(0, Filter::categories(["apikey"]), 100)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].stream_id, format!("apikey-{}", issued.key_id));
    assert_eq!(
        (events[0].event_type.as_str(), events[1].event_type.as_str()),
        ("ApiKeyIssued", "ApiKeyRevoked")
    );
    for event in &events {
        assert!(!event.payload.contains(&secret), "{}", event.payload);
        assert_eq!(event.metadata.actor.as_deref(), Some("admin/cli"));
    }
    let issued_payload: Value = serde_json::from_str(&events[0].payload).unwrap();
    assert_eq!(
        issued_payload["secretHash"],
        hex::encode(Sha256::digest(secret.as_bytes()))
    );
    assert_eq!(issued_payload["keyId"], issued.key_id);
    assert_eq!(issued_payload["subject"], "integrator-bot");
    assert_eq!(issued_payload["role"], "integrator");
    assert!(issued_payload["organisation"].is_null());
    assert_eq!(issued_payload["grants"], json!(["declaration", "batch"]));
    assert!(issued_payload["issuedAt"].is_string());
    let revoked_payload: Value = serde_json::from_str(&events[1].payload).unwrap();
    assert_eq!(revoked_payload["keyId"], issued.key_id);
    assert!(revoked_payload["revokedAt"].is_string());
    server.stop().await;
}

// --- The command line ---

fn aduana(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aduana"))
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

#[tokio::test]
async fn apikey_issue_prints_the_key_last_and_logs_no_secret_and_revoke_refuses_twice() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let output = aduana(&[
        "apikey",
        "issue",
        "--subject",
        "bank",
        "--role",
        "declarant",
        "--org",
        "ACME",
        "--data-dir",
        data_dir,
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let key = stdout.lines().last().unwrap().to_owned();
    assert!(
        key.starts_with("ak_") && key.len() == 3 + 32 + 1 + 43,
        "{key}"
    );
    let key_id = &key[3..35];
    assert!(!stderr.contains(&key[36..]), "{stderr}");

    // A server started on that store accepts it as a declarant of ACME.
    let store = StoreArgs::in_dir(dir.path()).open().await.unwrap();
    let server = Server::start_on(tempfile::tempdir().unwrap(), store).await;
    let answer = server.with_key(&key, STREAM).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(first_code(&answer.body), "FORBIDDEN");
    let message = answer.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("declarant"), "{message}");
    server.stop().await;

    let output = aduana(&["apikey", "revoke", key_id, "--data-dir", data_dir]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = aduana(&["apikey", "revoke", key_id, "--data-dir", data_dir]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already revoked"), "{stderr}");

    let output = aduana(&[
        "apikey",
        "issue",
        "--subject",
        "bank",
        "--role",
        "declarant",
        "--data-dir",
        data_dir,
    ]);
    assert!(!output.status.success());
}

#[tokio::test]
async fn apikey_issue_grants_integrators_categories_and_refuses_grants_to_other_roles() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let issue = |role: &str, extra: &[&str]| {
        let mut args = vec![
            "apikey",
            "issue",
            "--subject",
            "bank",
            "--role",
            role,
            "--data-dir",
            data_dir,
        ];
        args.extend_from_slice(extra);
        aduana(&args)
    };

    let output = issue("officer", &["--grant", "declaration"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("only integrators"), "{stderr}");
    assert!(output.stdout.is_empty());
    for (grant, why) in [
        ("apikey", "never granted"),
        ("manifest", "no category"),
        ("Declaration", "lowercase"),
    ] {
        let output = issue("integrator", &["--grant", grant]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{grant}: {stderr}");
        assert!(stderr.contains(why), "{grant}: {stderr}");
    }

    let output = issue(
        "integrator",
        &["--grant", "batch", "--grant", "declaration"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("reads declaration, batch"), "{stderr}");
    let key = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();

    // Only the integrator's key was recorded, with its grants.
    let store = StoreArgs::in_dir(dir.path()).open().await.unwrap();
    let keys = api::auth::ApiKeys::default();
    keys.load(&store).await.unwrap();
    let principal = keys.authenticate(&key).unwrap();
    assert_eq!(principal.role(), Role::Integrator);
    assert_eq!(principal.grants(), [Category::Declaration, Category::Batch]);
    let recorded: Vec<_> = store
        .read_all(0, Filter::categories(["apikey"]), 100)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(recorded.len(), 1);
    store.close().await;
}
