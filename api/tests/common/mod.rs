//! What the API tests share: a real SQLite store in a temporary directory, tokens for every
//! role, and a way to send a request through the router without a socket.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use api::auth::{Category, Principal, Role, SigningKey, TokenKeys};
use api::{AppState, StoreArgs, router};
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use eventstore::{EventMetadata, EventStore, ExpectedVersion, NewEvent, StreamId};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

pub struct TestApp {
    pub store: EventStore,
    pub state: AppState,
    _dir: tempfile::TempDir,
}

/// A response, its body decoded as JSON when it is JSON (else kept as a string).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with(AppState::new).await
    }

    /// An app whose state `make` builds from the store and [`keys`].
    pub async fn with(make: impl FnOnce(EventStore, TokenKeys) -> AppState) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreArgs::in_dir(dir.path()).open().await.unwrap();
        let state = make(store.clone(), keys());
        Self {
            store,
            state,
            _dir: dir,
        }
    }

    /// An app on `db` (SQLite or PostgreSQL; keep `db` for the test's length and
    /// [`aduana_tests::TestDb::finish`] it with [`TestApp::store`]).
    pub async fn on(db: &aduana_tests::TestDb) -> Self {
        let store = db.open().await;
        Self {
            state: AppState::new(store.clone(), keys()),
            store,
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A store holding three events in `declaration-1` (positions 1, 2, 3).
    pub async fn with_three_events() -> Self {
        let app = Self::new().await;
        app.append_three_events().await;
        app
    }

    pub async fn append_three_events(&self) {
        let stream = StreamId::parse("declaration-1").unwrap();
        let correlation = Uuid::new_v4();
        let events = ["DeclarationFiled", "ItemDeclared", "DeclarationAccepted"]
            .iter()
            .enumerate()
            .map(|(i, event_type)| {
                NewEvent::new(*event_type, json!({ "step": i + 1 })).with_metadata(EventMetadata {
                    correlation_id: Some(correlation),
                    causation_id: None,
                    actor: Some("declarant/ACME".into()),
                })
            })
            .collect();
        self.store
            .append(&stream, ExpectedVersion::NoStream, events)
            .await
            .unwrap();
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, Value) {
        let answer = self.get_answer(uri).await;
        (answer.status, answer.body)
    }

    pub async fn get_answer(&self, uri: &str) -> Answer {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    /// POSTs `{"query": query}` as JSON without a token and expects 200.
    pub async fn graphql(&self, query: &str) -> Value {
        let answer = self.post_json(&json!({ "query": query }).to_string()).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body
    }

    /// POSTs `{"query": query}` with a valid token for `role` and expects 200.
    pub async fn graphql_as(&self, role: Role, query: &str) -> Value {
        let answer = self.graphql_with_token(&token_for(role), query).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body
    }

    /// POSTs `{"query": query}` with `Authorization: Bearer <token>`.
    pub async fn graphql_with_token(&self, token: &str, query: &str) -> Answer {
        self.graphql_with_authorization(&format!("Bearer {token}"), query)
            .await
    }

    pub async fn graphql_with_authorization(&self, authorization: &str, query: &str) -> Answer {
        let request = Request::post("/graphql")
            .header("content-type", "application/json")
            .header("authorization", authorization)
            .body(Body::from(json!({ "query": query }).to_string()))
            .unwrap();
        self.send(request).await
    }

    /// POSTs `query` with `variables`, with a bearer token when one is given, and expects 200.
    pub async fn graphql_vars(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = Request::post("/graphql").header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = json!({ "query": query, "variables": variables }).to_string();
        let answer = self.send(request.body(Body::from(body)).unwrap()).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body
    }

    pub async fn post_json(&self, body: &str) -> Answer {
        self.post("application/json", body.to_owned()).await
    }

    pub async fn post(&self, content_type: &str, body: String) -> Answer {
        let request = Request::post("/graphql")
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = router(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer {
            status,
            headers,
            body,
        }
    }
}

/// The test server's signing key.
pub fn signing_key() -> SigningKey {
    SigningKey::from_bytes(vec![42; 32]).unwrap()
}

pub fn keys() -> TokenKeys {
    TokenKeys::new(&signing_key())
}

/// A principal with `role` (declarants act for `ACME`; integrators are granted nothing), valid
/// for an hour.
pub fn principal(role: Role) -> Principal {
    let organisation = (role == Role::Declarant).then(|| "ACME".to_owned());
    let expires_at = chrono::Utc::now() + chrono::Duration::hours(1);
    Principal::new(format!("{role}-1"), role, organisation, expires_at).unwrap()
}

/// A valid token for `role`, signed by the test server's key (an integrator's grants nothing:
/// see [`integrator_token`]).
pub fn token_for(role: Role) -> String {
    issue(&principal(role))
}

/// A valid token for a declarant of `organisation`, named `subject`.
pub fn declarant_token(subject: &str, organisation: &str) -> String {
    let expires_at = chrono::Utc::now() + chrono::Duration::hours(1);
    let principal = Principal::new(
        subject,
        Role::Declarant,
        Some(organisation.to_owned()),
        expires_at,
    )
    .unwrap();
    issue(&principal)
}

/// A valid token for an integrator granted `grants` (none: it reads no event stream).
pub fn integrator_token(grants: &[Category]) -> String {
    issue(
        &principal(Role::Integrator)
            .with_grants(grants.to_vec())
            .unwrap(),
    )
}

fn issue(principal: &Principal) -> String {
    keys()
        .issue(principal, chrono::Utc::now(), Uuid::new_v4())
        .unwrap()
}

/// The `extensions.code` of the first error.
pub fn first_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

pub mod declarations;
pub mod node;
pub mod organisations;
pub mod process;
