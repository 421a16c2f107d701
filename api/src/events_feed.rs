//! The event log over plain HTTP, for integrators that poll in batches or read a stream:
//!
//! - `GET /api/v1/events?after=POS&limit=N&categories=a,b&types=X,Y[&wait=S]`: one page of
//!   events after a position, with `nextAfter` to continue from. With `wait` (seconds, at most
//!   30) an empty page waits for the next matching event first (long poll).
//! - `GET /api/v1/events/stream?after=POS&categories=…&types=…`: server-sent events, catch-up
//!   then live, each with its position as the SSE `id`; a browser's `EventSource` (or any client
//!   sending `Last-Event-ID`) resumes after the last event it received. The stream is pulled as
//!   the client reads, so a slow reader holds no unbounded buffer.
//!
//! By bearer token or API key, each principal reads what [`crate::log_access`] lets it read (as
//! `events` in GraphQL): officers, auditors and admins every category, integrators the
//! categories granted to them, declarants their organisation's declarations and batches. A
//! category asked for and not readable is 403 `FORBIDDEN` with the `category`. Errors have the
//! GraphQL error shape.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use eventstore::RecordedEvent;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth;
use crate::error::{FORBIDDEN, HttpError};
use crate::graphql::MAX_LIMIT;
use crate::log_access::{LogAccessError, LogReader};
use crate::metrics::Open;
use crate::server::AppState;

/// Longest long poll.
const MAX_WAIT_SECONDS: u64 = 30;

#[derive(Debug, Deserialize)]
pub struct FeedQuery {
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    categories: Option<String>,
    #[serde(default)]
    types: Option<String>,
    #[serde(default)]
    wait: Option<String>,
}

/// An event as the feed sends it (the fields of GraphQL's `RecordedEvent`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FeedEvent {
    event_id: uuid::Uuid,
    /// A string of digits, as in GraphQL (positions may exceed what JSON numbers hold exactly).
    position: String,
    stream_id: String,
    stream_version: u64,
    event_type: String,
    schema_version: u32,
    payload: Value,
    correlation_id: Option<uuid::Uuid>,
    causation_id: Option<uuid::Uuid>,
    actor: Option<String>,
    recorded_at: chrono::DateTime<chrono::Utc>,
    hash: String,
}

impl From<RecordedEvent> for FeedEvent {
    fn from(event: RecordedEvent) -> Self {
        Self {
            event_id: event.event_id,
            position: event.position.to_string(),
            payload: serde_json::from_str(&event.payload).unwrap_or(Value::Null),
            stream_id: event.stream_id,
            stream_version: event.stream_version,
            event_type: event.event_type,
            schema_version: event.schema_version,
            correlation_id: event.metadata.correlation_id,
            causation_id: event.metadata.causation_id,
            actor: event.metadata.actor,
            recorded_at: event.recorded_at,
            hash: hex::encode(event.hash),
        }
    }
}

/// Why a feed request is refused.
#[derive(Debug)]
enum Refused {
    Http(HttpError),
    Credentials(auth::Refusal),
    /// A category the principal may not read, or an integrator granted none.
    Access(LogAccessError),
    /// A bad parameter: its code and name.
    Parameter {
        code: &'static str,
        field: &'static str,
        message: String,
    },
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Self::Http(error) => error.into_response(),
            Self::Credentials(refusal) => refusal.into_response(),
            Self::Access(error) => {
                let mut extensions = json!({ "code": FORBIDDEN });
                if let Some(category) = error.category() {
                    extensions["category"] = json!(category);
                }
                let body = json!({
                    "errors": [{ "message": error.to_string(), "extensions": extensions }]
                });
                (StatusCode::FORBIDDEN, Json(body)).into_response()
            }
            Self::Parameter {
                code,
                field,
                message,
            } => refuse(StatusCode::BAD_REQUEST, code, Some(field), &message),
        }
    }
}

/// A refused feed request: status, code, the parameter concerned.
fn refuse(status: StatusCode, code: &str, field: Option<&str>, message: &str) -> Response {
    let mut extensions = json!({ "code": code });
    if let Some(field) = field {
        extensions["field"] = json!(field);
    }
    let body = json!({ "errors": [{ "message": message, "extensions": extensions }] });
    (status, Json(body)).into_response()
}

/// The caller's reader of the categories and types `query` asks for.
fn reader(state: &AppState, headers: &HeaderMap, query: &FeedQuery) -> Result<LogReader, Refused> {
    let principal = match auth::authenticate_request(headers, state.tokens(), state.api_keys()) {
        Ok(Some(principal)) => principal,
        Ok(None) => return Err(Refused::Http(HttpError::Unauthenticated)),
        Err(refusal) => return Err(Refused::Credentials(refusal)),
    };
    LogReader::new(
        state.store().clone(),
        &principal,
        list(query.categories.as_deref()),
        list(query.types.as_deref()),
    )
    .map_err(Refused::Access)
}

fn list(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn number(value: Option<&str>, field: &'static str, default: u64) -> Result<u64, Refused> {
    match value {
        None | Some("") => Ok(default),
        Some(text) => text.parse().map_err(|_| Refused::Parameter {
            code: "INVALID_ARGUMENT",
            field,
            message: format!("{field} must be a whole number of at least 0"),
        }),
    }
}

/// `GET /api/v1/events`.
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<FeedQuery>,
) -> Response {
    let parsed = reader(&state, &headers, &query).and_then(|reader| {
        let after = number(query.after.as_deref(), "after", 0)?;
        let limit = number(query.limit.as_deref(), "limit", 100)?;
        let wait = number(query.wait.as_deref(), "wait", 0)?;
        Ok((reader, after, limit, wait))
    });
    let (mut reader, after, limit, wait) = match parsed {
        Ok(parsed) => parsed,
        Err(refused) => return refused.into_response(),
    };
    let max = u64::try_from(MAX_LIMIT).unwrap_or(1000);
    if limit == 0 || limit > max {
        return refuse(
            StatusCode::BAD_REQUEST,
            "LIMIT_TOO_LARGE",
            Some("limit"),
            &format!("limit must be 1 to {max}"),
        );
    }
    if wait > MAX_WAIT_SECONDS {
        return refuse(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            Some("wait"),
            &format!("wait at most {MAX_WAIT_SECONDS} seconds"),
        );
    }
    let limit = usize::try_from(limit).unwrap_or(100);
    let mut read = reader.page(after, limit).await;
    if let Ok(page) = &read
        && page.events.is_empty()
        && page.at_head
        && wait > 0
    {
        // Long poll: wait for the next event this caller may see (or the time), then read the
        // page from where the empty one ended.
        let from = page.next_after;
        let mut next = std::pin::pin!(reader.clone().follow(from));
        let shutdown = state.shutdown_token().clone();
        tokio::select! {
            _ = tokio::time::timeout(Duration::from_secs(wait), next.next()) => {}
            () = shutdown.cancelled() => {}
        }
        read = reader.page(from, limit).await;
    }
    match read {
        Ok(page) => Json(json!({
            "events": page.events.into_iter().map(FeedEvent::from).collect::<Vec<_>>(),
            "nextAfter": page.next_after.to_string(),
        }))
        .into_response(),
        Err(error) => {
            tracing::warn!(%error, "event feed read failed");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                error.code(),
                None,
                "the event store is unavailable; try again later",
            )
        }
    }
}

/// `GET /api/v1/events/stream`.
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<FeedQuery>,
) -> Response {
    let reader = match reader(&state, &headers, &query) {
        Ok(reader) => reader,
        Err(refused) => return refused.into_response(),
    };
    // A reconnecting EventSource says where it stopped; it wins over the URL's `after`.
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let after = match number(resume.as_deref().or(query.after.as_deref()), "after", 0) {
        Ok(after) => after,
        Err(refused) => return refused.into_response(),
    };
    let shutdown = state.shutdown_token().clone();
    let counted = state.metrics().open(Open::FeedStream);
    let events = reader
        .follow(after)
        .take_while(|event| std::future::ready(event.is_ok()))
        .filter_map(|event| std::future::ready(event.ok()))
        .map(move |event| {
            let _counted = &counted;
            let id = event.position.to_string();
            let data = serde_json::to_string(&FeedEvent::from(event)).unwrap_or_default();
            Ok::<_, Infallible>(SseEvent::default().id(id).event("event").data(data))
        })
        .take_until(async move { shutdown.cancelled().await });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
