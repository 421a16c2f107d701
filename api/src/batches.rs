//! Batch transmission over HTTP: `POST /api/v1/batches` (the body is filed as it arrives),
//! `GET /api/v1/batches/{id}` (status and counts) and `GET /api/v1/batches/{id}/results`
//! (per-item results, NDJSON, streamed). See `docs/batches.md`.
//!
//! Errors have the shape of GraphQL errors (`{"errors":[{"message","extensions":{"code"}}]}`),
//! as on `/graphql`, so a client reads one error format.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use commands::batch::{BatchError, Failure, Upload};
use commands::declaration::Caller;
use domain::batch::{Batch, BatchFormat, ItemOutcome};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth;
use crate::server::AppState;

/// The header a client names its batch with (a UUID); sending the same batch again with the
/// same key resumes it.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// A batch's status as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BatchView {
    pub id: Uuid,
    /// `received`, `processing`, `completed` or `interrupted`.
    pub status: String,
    /// `ndjson` or `kcs-csv`.
    pub format: String,
    pub submitted_by: String,
    pub organisation: Option<String>,
    pub content_length: Option<u64>,
    pub received_at: Option<chrono::DateTime<chrono::Utc>>,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
    pub completed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Items with a result so far.
    pub items: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Items answered from an earlier transmission.
    pub replayed: u64,
    /// Why the latest upload stopped early.
    pub interruption: Option<String>,
}

impl From<&Batch> for BatchView {
    fn from(batch: &Batch) -> Self {
        Self {
            id: batch.id.unwrap_or_default(),
            status: batch.status.as_str().to_owned(),
            format: batch.format.map_or("", BatchFormat::as_str).to_owned(),
            submitted_by: batch.submitted_by.clone(),
            organisation: batch.organisation.clone(),
            content_length: batch.content_length,
            received_at: batch.received_at,
            updated_at: batch.updated_at,
            completed_at: batch.completed_at,
            items: batch.totals.items,
            accepted: batch.totals.accepted,
            rejected: batch.totals.rejected,
            replayed: batch.totals.replayed,
            interruption: batch.interruption.clone(),
        }
    }
}

/// `POST /api/v1/batches`.
pub async fn submit(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let caller = match caller(&state, &headers) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let Some(format) = format_of(&headers) else {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send NDJSON as application/x-ndjson or the KCS CSV layout as text/csv",
        );
    };
    let batch_id = match headers.get(IDEMPOTENCY_KEY) {
        None => Uuid::now_v7(),
        Some(value) => match value
            .to_str()
            .ok()
            .and_then(|v| Uuid::parse_str(v.trim()).ok())
        {
            Some(id) => id,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_BATCH_ID",
                    "the Idempotency-Key header must be a UUID",
                );
            }
        },
    };
    let content_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let upload = Upload {
        batch_id,
        format,
        content_length,
        body: body.into_data_stream(),
    };
    let started = std::time::Instant::now();
    // Detached: a client that goes away mid-way leaves the batch recorded as interrupted.
    match state.batches().submit_detached(caller, upload).await {
        Ok(batch) => {
            tracing::info!(
                batch = %batch_id,
                items = batch.totals.items,
                accepted = batch.totals.accepted,
                rejected = batch.totals.rejected,
                seconds = started.elapsed().as_secs_f64(),
                "batch completed"
            );
            let mut response = Json(BatchView::from(&batch)).into_response();
            if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/batches/{batch_id}")) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        Err(Failure { error, batch }) => {
            tracing::warn!(batch = %batch_id, %error, code = error.code(), "batch not completed");
            batch_error(&error, batch.as_ref())
        }
    }
}

/// `GET /api/v1/batches/{id}`.
pub async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let caller = match caller(&state, &headers) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let Ok(id) = Uuid::parse_str(&id) else {
        return batch_error(&BatchError::NotFound(Uuid::nil()), None);
    };
    match state.batches().get(&caller, id).await {
        Ok(batch) => Json(BatchView::from(&batch)).into_response(),
        Err(e) => batch_error(&e, None),
    }
}

#[derive(Debug, Deserialize)]
pub struct ResultsQuery {
    /// Only the rejected items.
    #[serde(default)]
    rejected: bool,
}

/// `GET /api/v1/batches/{id}/results[?rejected=true]`: NDJSON, one result per item, in item
/// order, streamed from the batch's events.
pub async fn results(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<ResultsQuery>,
) -> Response {
    let caller = match caller(&state, &headers) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let Ok(id) = Uuid::parse_str(&id) else {
        return batch_error(&BatchError::NotFound(Uuid::nil()), None);
    };
    if let Err(e) = state.batches().get(&caller, id).await {
        return batch_error(&e, None);
    }
    let rejected_only = query.rejected;
    let service = state.batches().clone();
    let lines = async_stream::try_stream! {
        let mut chunks = std::pin::pin!(service.results(id));
        while let Some(chunk) = chunks.try_next().await? {
            let mut out = Vec::with_capacity(chunk.len() * 160);
            for result in &chunk {
                if rejected_only && matches!(result.outcome, ItemOutcome::Accepted { .. }) {
                    continue;
                }
                serde_json::to_writer(&mut out, result)
                    .map_err(|e| BatchError::Corrupt(e.to_string()))?;
                out.push(b'\n');
            }
            yield bytes::Bytes::from(out);
        }
    };
    let body = Body::from_stream(lines.map(move |r: Result<bytes::Bytes, BatchError>| {
        r.map_err(|e| {
            tracing::error!(batch = %id, error = %e, "results stream failed");
            std::io::Error::other(e.code())
        })
    }));
    (
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The caller of a batch request; every batch route needs credentials.
#[allow(clippy::result_large_err)]
fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, Response> {
    match auth::authenticate_request(headers, state.tokens(), state.api_keys()) {
        Ok(Some(principal)) => Ok(principal.caller()),
        Ok(None) => Err(error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "send a bearer token (Authorization) or an API key (X-API-Key)",
        )),
        Err(refusal) => {
            tracing::info!(reason = %refusal, "credentials refused");
            Err(refusal.into_response())
        }
    }
}

/// The batch format a content type selects.
fn format_of(headers: &HeaderMap) -> Option<BatchFormat> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
            Some(BatchFormat::Ndjson)
        }
        "text/csv" => Some(BatchFormat::KcsCsv),
        _ => None,
    }
}

fn batch_error(e: &BatchError, batch: Option<&Batch>) -> Response {
    let status = match e {
        BatchError::Forbidden(_) => StatusCode::FORBIDDEN,
        BatchError::NotFound(_) => StatusCode::NOT_FOUND,
        BatchError::InProgress(_) | BatchError::IdTaken(_) => StatusCode::CONFLICT,
        BatchError::Format(_) | BatchError::Body(_) => StatusCode::BAD_REQUEST,
        BatchError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        BatchError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        BatchError::Corrupt(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = match e {
        BatchError::Store(_) | BatchError::Corrupt(_) => {
            "the batch could not be recorded; send it again (items already filed are answered \
             with their result)"
                .to_owned()
        }
        BatchError::NotFound(_) => "no such batch".to_owned(),
        other => other.to_string(),
    };
    let mut body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": e.code() } }]
    });
    if let Some(batch) = batch {
        body["batch"] = serde_json::to_value(BatchView::from(batch)).unwrap_or_default();
    }
    (status, Json(body)).into_response()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": code } }]
    });
    (status, Json(body)).into_response()
}
