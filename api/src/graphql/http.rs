//! GraphQL over HTTP, held to what a browser cannot be tricked into sending.
//!
//! - Operations run only from `POST /graphql`. `GET /graphql` serves GraphiQL; with a query
//!   string it answers 405 and runs nothing, so neither a link nor an `<img>` can run one.
//! - The body must be declared `application/json` (415 otherwise). A cross-site form or a
//!   `fetch` with `text/plain` needs no CORS preflight; `application/json` does, and the server
//!   answers no preflight, so no other site's page can make a browser send a GraphQL request.
//! - The body is read up to [`MAX_BODY_BYTES`] before anything parses it: a larger declared
//!   length is refused without reading, a longer stream is cut off at the limit (413 both ways).
//! - A JSON array is a batch of at most [`MAX_BATCH`] operations (400 `BATCH_TOO_LARGE`
//!   otherwise, counted before any operation is decoded); each operation is held to the
//!   document limits on its own (async-graphql runs a batch's operations concurrently).
//!
//! - A bearer token or an API key, when sent, is checked before the body is read (401
//!   `INVALID_TOKEN` or `INVALID_API_KEY` when it is not valid, 400 for both at once, see
//!   [`crate::auth`]); its [`crate::auth::Principal`] goes into the data of every operation.
//!
//! Every refusal has a stable code (see [`HttpError`]).

use async_graphql::BatchRequest;
use async_graphql_axum::GraphQLResponse;
use axum::body::Body;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::{HeaderMap, Uri, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde_json::value::RawValue;

use crate::auth;
use crate::error::HttpError;
use crate::graphql::graphiql;
use crate::server::AppState;

/// Largest request body accepted: a GraphQL document and its variables.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most operations in one batch.
pub const MAX_BATCH: usize = 10;

/// `POST /graphql`: checks the request and its token, then runs the operation or batch.
pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    if !is_json(&headers) {
        return HttpError::UnsupportedMediaType.into_response();
    }
    let principal = match auth::authenticate_request(&headers, state.tokens(), state.api_keys()) {
        Ok(principal) => principal,
        Err(refusal) => {
            tracing::info!(reason = %refusal, "credentials refused");
            return refusal.into_response();
        }
    };
    let batch = match read_request(&headers, body).await {
        Ok(batch) => batch,
        Err(error) => return error.into_response(),
    };
    let batch = match principal {
        Some(principal) => batch.data(principal),
        None => batch,
    };
    GraphQLResponse::from(state.schema().execute_batch(batch).await).into_response()
}

/// `GET /graphql`: with `Upgrade: websocket`, GraphQL over WebSocket (subscriptions, see
/// [`super::ws`]); otherwise the GraphiQL page, never an operation.
pub async fn get(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Ok(ws) = ws {
        return super::ws::upgrade(state, &headers, ws);
    }
    if uri.query().is_some() {
        return HttpError::MethodNotAllowed.into_response();
    }
    graphiql::page()
}

/// The operations in the body, once the content type, size and batch size are acceptable.
pub async fn read_request(headers: &HeaderMap, body: Body) -> Result<BatchRequest, HttpError> {
    if !is_json(headers) {
        return Err(HttpError::UnsupportedMediaType);
    }
    let too_large = HttpError::PayloadTooLarge {
        limit: MAX_BODY_BYTES,
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(too_large);
    }
    let bytes = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => return Err(too_large),
        Err(error) => {
            return Err(HttpError::BadRequest(format!(
                "the body could not be read: {error}"
            )));
        }
    };
    parse_batch(&bytes)
}

/// A JSON object is one operation; a JSON array is a batch, counted before it is decoded.
fn parse_batch(bytes: &[u8]) -> Result<BatchRequest, HttpError> {
    let not_a_request =
        |error: serde_json::Error| HttpError::BadRequest(format!("not a GraphQL request: {error}"));
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'[') {
        let request = serde_json::from_slice(bytes).map_err(not_a_request)?;
        return Ok(BatchRequest::Single(request));
    }
    let items: Vec<&RawValue> = serde_json::from_slice(bytes).map_err(not_a_request)?;
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(HttpError::BatchTooLarge {
            operations: items.len(),
            limit: MAX_BATCH,
        });
    }
    let requests = items
        .into_iter()
        .map(|item| serde_json::from_str(item.get()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(not_a_request)?;
    Ok(BatchRequest::Batch(requests))
}

/// `application/json`, with or without parameters such as `charset=utf-8`.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
        headers
    }

    #[test]
    fn only_application_json_is_json() {
        assert!(is_json(&headers("application/json")));
        assert!(is_json(&headers("Application/JSON; charset=utf-8")));
        assert!(!is_json(&headers("text/plain")));
        assert!(!is_json(&headers("application/x-www-form-urlencoded")));
        assert!(!is_json(&headers("multipart/form-data; boundary=x")));
        assert!(!is_json(&headers("application/jsonx")));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn an_object_is_one_operation_and_an_array_a_batch() {
        let single = parse_batch(br#"{"query":"{ a }"}"#).unwrap();
        assert!(matches!(single, BatchRequest::Single(_)));
        let batch = parse_batch(br#" [{"query":"{ a }"},{"query":"{ b }"}]"#).unwrap();
        assert!(matches!(batch, BatchRequest::Batch(ref items) if items.len() == 2));
    }

    #[test]
    fn an_empty_batch_is_refused() {
        assert_eq!(
            parse_batch(b"[]").unwrap_err(),
            HttpError::BatchTooLarge {
                operations: 0,
                limit: MAX_BATCH
            }
        );
    }

    #[test]
    fn a_body_that_is_not_a_request_is_a_bad_request() {
        assert!(matches!(
            parse_batch(b"{\"query\": 3}"),
            Err(HttpError::BadRequest(_))
        ));
        assert!(matches!(
            parse_batch(b"nonsense"),
            Err(HttpError::BadRequest(_))
        ));
    }
}
