//! Batches in the portal: send a file (NDJSON or the KCS CSV layout), watch it being filed,
//! read each item's result, and download the rejected items as CSV.
//!
//! The upload form carries a batch id chosen when the form was shown, so sending the same form
//! twice (a double click, a reload) resumes that batch instead of filing anything again. The
//! file is filed as it arrives, by the same service as `POST /api/v1/batches`.

mod results;

pub use results::{defuse, detail, panel_fragment, rejected_csv};

use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use commands::batch::{BatchError, Failure, Upload};
use domain::batch::BatchFormat;
use futures::Stream;
use maud::html;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::gql;
use super::page::{self, Page, csrf_input};
use super::session::{CSRF_FIELD, SignedIn};
use crate::server::AppState;

/// Results shown on one page of a batch.
const RESULTS_PAGE: i32 = 100;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchList {
    batches: Connection,
}

#[derive(Debug, Deserialize)]
struct Connection {
    edges: Vec<Edge>,
}

#[derive(Debug, Deserialize)]
struct Edge {
    node: BatchSummary,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchSummary {
    id: Uuid,
    status: String,
    format: String,
    received_at: chrono::DateTime<chrono::Utc>,
    items: i64,
    accepted: i64,
    rejected: i64,
}

const LIST: &str = "query { batches(first: 50) { edges { node { id status format receivedAt \
    items accepted rejected } } } }";

/// `GET /portal/batches`: the upload form and the latest batches.
pub async fn index(State(state): State<AppState>, user: SignedIn) -> Response {
    upload_page(&state, &user, None, StatusCode::OK).await
}

async fn upload_page(
    state: &AppState,
    user: &SignedIn,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let t = page::texts();
    let list = match gql::run::<BatchList>(state, user, LIST, json!({})).await {
        Ok(list) => list.batches.edges,
        Err(errors) => return page::failure(&errors),
    };
    let body = html! {
        h1 { (t.batches_title) }
        @if user.is_declarant() {
            section aria-labelledby="upload-title" {
                h2 #upload-title { (t.upload_title) }
                @if let Some(error) = error {
                    (page::error_summary(t, &[page::Problem { field_id: Some("batch-file".to_owned()), message: error.to_owned() }]))
                }
                p { (t.upload_intro) }
                form.batch-upload method="post" action="/portal/batches" enctype="multipart/form-data" {
                    (csrf_input(user))
                    input type="hidden" name="batch_id" value=(Uuid::now_v7());
                    div.field {
                        label for="batch-format" { (t.batch_format) }
                        select #batch-format name="format" {
                            option value="" { (t.format_auto) }
                            option value="ndjson" { "NDJSON" }
                            option value="kcs-csv" { "KCS CSV" }
                        }
                    }
                    div.field.(if error.is_some() { "has-error" } else { "" }) {
                        label for="batch-file" { (t.batch_file) }
                        input #batch-file type="file" name="file" accept=".ndjson,.jsonl,.json,.csv" required;
                    }
                    button type="submit" { (t.upload_button) }
                    p.upload-progress hidden role="status" aria-live="polite" { (t.uploading) }
                }
            }
        }
        @if list.is_empty() {
            p { (t.no_batches) }
        } @else {
            div.table-wrap {
                table.batches {
                    thead {
                        tr {
                            th scope="col" { (t.received_at) }
                            th scope="col" { (t.batch_format) }
                            th scope="col" { (t.status) }
                            th.num scope="col" { (t.items) }
                            th.num scope="col" { (t.accepted) }
                            th.num scope="col" { (t.rejected) }
                        }
                    }
                    tbody {
                        @for Edge { node: b } in &list {
                            tr {
                                td { a href={ "/portal/batches/" (b.id) } { (b.received_at.format("%Y-%m-%d %H:%M UTC")) } }
                                td { (b.format) }
                                td { (t.label(t.batch_statuses, &b.status)) }
                                td.num { (b.items) }
                                td.num { (b.accepted) }
                                td.num { (b.rejected) }
                            }
                        }
                    }
                }
            }
        }
    };
    Page::new(t, t.batches_title)
        .user(user)
        .body(body)
        .status(status)
        .into_response()
}

/// What the file part of an upload carries to the batch service: its bytes, then an explicit
/// end. A channel closed without the end means the browser went away mid-file: the batch is
/// then recorded as interrupted, never as complete with the items so far.
enum Part {
    Chunk(Bytes),
    End,
}

fn upload_stream(
    mut parts: mpsc::Receiver<Part>,
) -> impl Stream<Item = Result<Bytes, String>> + Unpin + Send {
    Box::pin(async_stream::stream! {
        loop {
            match parts.recv().await {
                Some(Part::Chunk(bytes)) => yield Ok(bytes),
                Some(Part::End) => break,
                None => {
                    yield Err("the upload stopped before the end of the file".to_owned());
                    break;
                }
            }
        }
    })
}

/// `POST /portal/batches` (multipart: `csrf`, `batch_id`, `format`, then `file`).
pub async fn upload(
    State(state): State<AppState>,
    user: SignedIn,
    mut multipart: Multipart,
) -> Response {
    let t = page::texts();
    let mut csrf_ok = false;
    let mut batch_id = None;
    let mut format = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) => {
                tracing::info!(%error, "portal batch upload unreadable");
                return upload_page(&state, &user, Some(t.choose_file), StatusCode::BAD_REQUEST)
                    .await;
            }
        };
        match field.name().unwrap_or("") {
            CSRF_FIELD => {
                let sent = small_text(field).await.unwrap_or_default();
                csrf_ok = user.csrf_matches(&sent);
            }
            "batch_id" => {
                batch_id = small_text(field)
                    .await
                    .and_then(|v| Uuid::parse_str(v.trim()).ok());
            }
            "format" => {
                format = match small_text(field).await.unwrap_or_default().as_str() {
                    "ndjson" => Some(BatchFormat::Ndjson),
                    "kcs-csv" => Some(BatchFormat::KcsCsv),
                    _ => None,
                };
            }
            "file" => {
                // The token comes before the file in the form: nothing is filed without it.
                if !csrf_ok {
                    return page::form_expired(t);
                }
                if !user.is_declarant() {
                    return page::forbidden(t);
                }
                let name = field.file_name().unwrap_or("").to_lowercase();
                let Some(format) = format.or_else(|| format_of_name(&name)) else {
                    return upload_page(
                        &state,
                        &user,
                        Some(t.choose_file),
                        StatusCode::UNPROCESSABLE_ENTITY,
                    )
                    .await;
                };
                let batch_id = batch_id.unwrap_or_else(Uuid::now_v7);
                return send(&state, &user, batch_id, format, field).await;
            }
            _ => {}
        }
    }
    if !csrf_ok {
        return page::form_expired(t);
    }
    upload_page(
        &state,
        &user,
        Some(t.choose_file),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// Longest value read from a form field other than the file.
const MAX_FIELD_BYTES: usize = 256;

/// The text of a small form field; `None` past [`MAX_FIELD_BYTES`] (read no further: a huge
/// field is never held in memory) or when it is not UTF-8.
async fn small_text(mut field: axum::extract::multipart::Field<'_>) -> Option<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.ok()? {
        if bytes.len() + chunk.len() > MAX_FIELD_BYTES {
            return None;
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).ok()
}

fn format_of_name(name: &str) -> Option<BatchFormat> {
    if name.ends_with(".csv") {
        Some(BatchFormat::KcsCsv)
    } else if name.ends_with(".ndjson") || name.ends_with(".jsonl") || name.ends_with(".json") {
        Some(BatchFormat::Ndjson)
    } else {
        None
    }
}

async fn send(
    state: &AppState,
    user: &SignedIn,
    batch_id: Uuid,
    format: BatchFormat,
    mut field: axum::extract::multipart::Field<'_>,
) -> Response {
    let t = page::texts();
    let (parts, received) = mpsc::channel::<Part>(8);
    let upload = Upload {
        batch_id,
        format,
        content_length: None,
        body: upload_stream(received),
    };
    // Filed detached: a browser that goes away mid-way leaves the batch recorded as interrupted.
    let submitted = state
        .batches()
        .submit_detached(user.principal.caller(), upload);
    // The file goes to the service as it arrives; the channel closes when this ends (with an
    // explicit end only when the whole file was read).
    let forwarded = async move {
        while let Some(chunk) = field.chunk().await.map_err(|e| e.to_string())? {
            if parts.send(Part::Chunk(chunk)).await.is_err() {
                // The service stopped reading (it refused the batch): its answer says why.
                return Ok(());
            }
        }
        let _ = parts.send(Part::End).await;
        Ok::<(), String>(())
    };
    let (forwarded, submitted) = tokio::join!(forwarded, submitted);
    if let Err(error) = forwarded {
        tracing::info!(batch = %batch_id, %error, "portal batch upload cut off");
    }
    match submitted {
        Ok(_) => Redirect::to(&format!("/portal/batches/{batch_id}")).into_response(),
        Err(Failure {
            error,
            batch: Some(_),
        }) => {
            tracing::warn!(batch = %batch_id, %error, "portal batch not completed");
            Redirect::to(&format!(
                "/portal/batches/{batch_id}?failed={}",
                error.code()
            ))
            .into_response()
        }
        Err(Failure { error, batch: None }) => {
            tracing::warn!(batch = %batch_id, %error, "portal batch refused");
            let message = match &error {
                BatchError::Corrupt(_) | BatchError::Store(_) => t.unavailable_text.to_owned(),
                other => other.to_string(),
            };
            upload_page(
                state,
                user,
                Some(&message),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_file_name_tells_the_format() {
        assert_eq!(format_of_name("x.csv"), Some(BatchFormat::KcsCsv));
        assert_eq!(format_of_name("x.ndjson"), Some(BatchFormat::Ndjson));
        assert_eq!(format_of_name("x.txt"), None);
    }
}
