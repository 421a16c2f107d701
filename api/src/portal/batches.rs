//! Batches in the portal: send a file (NDJSON or the KCS CSV layout), watch it being filed,
//! read each item's result, and download the rejected items as CSV.
//!
//! The upload form carries a batch id chosen when the form was shown, so sending the same form
//! twice (a double click, a reload) resumes that batch instead of filing anything again. The
//! file is filed as it arrives, by the same service as `POST /api/v1/batches`.

use axum::body::Body;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use commands::batch::{BatchError, Failure, Upload};
use domain::batch::{BatchFormat, ItemOutcome, ItemResult};
use futures::{Stream, TryStreamExt as _};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::gql::{self, GqlError};
use super::page::{self, Page, csrf_input};
use super::session::{CSRF_FIELD, SignedIn};
use super::texts::Texts;
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
        Err(errors) => return failure(&errors),
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

fn failure(errors: &[GqlError]) -> Response {
    let t = page::texts();
    if errors.iter().any(GqlError::is_not_found) {
        return page::not_found(t);
    }
    if errors.iter().any(|e| e.code == "FORBIDDEN") {
        return page::forbidden(t);
    }
    let reference = errors.iter().find_map(|e| e.error_id);
    page::unavailable(t, StatusCode::INTERNAL_SERVER_ERROR, reference)
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
                let sent = field.text().await.unwrap_or_default();
                csrf_ok = user.csrf_matches(&sent);
            }
            "batch_id" => {
                batch_id = field
                    .text()
                    .await
                    .ok()
                    .and_then(|v| Uuid::parse_str(v.trim()).ok());
            }
            "format" => {
                format = match field.text().await.unwrap_or_default().as_str() {
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
    let service = state.batches().clone();
    let caller = user.principal.caller();
    // The batch is filed in a task of its own, so a browser that goes away mid-way still leaves
    // the batch recorded (as interrupted, with the results so far).
    let task = tokio::spawn(async move {
        let upload = Upload {
            batch_id,
            format,
            content_length: None,
            body: upload_stream(received),
        };
        service.submit(&caller, upload).await
    });
    let forwarded = async {
        while let Some(chunk) = field.chunk().await.map_err(|e| e.to_string())? {
            if parts.send(Part::Chunk(chunk)).await.is_err() {
                // The service stopped reading (it refused the batch): its answer says why.
                return Ok(());
            }
        }
        let _ = parts.send(Part::End).await;
        Ok::<(), String>(())
    };
    if let Err(error) = forwarded.await {
        tracing::info!(batch = %batch_id, %error, "portal batch upload cut off");
    }
    drop(parts);
    let submitted = match task.await {
        Ok(submitted) => submitted,
        Err(e) => Err(Failure {
            error: BatchError::Corrupt(format!("batch task failed: {e}")),
            batch: None,
        }),
    };
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

#[derive(Debug, Deserialize)]
struct BatchData {
    batch: Option<BatchDetail>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchDetail {
    id: Uuid,
    status: String,
    format: String,
    submitted_by: String,
    received_at: chrono::DateTime<chrono::Utc>,
    items: i64,
    accepted: i64,
    rejected: i64,
    replayed: i64,
    interruption: Option<String>,
    results: Vec<ResultRow>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultRow {
    item: i64,
    line: i64,
    lrn: Option<String>,
    outcome: String,
    declaration_id: Option<Uuid>,
    status: Option<String>,
    lane: Option<String>,
    taxes: Option<String>,
    errors: Vec<ItemErrorRow>,
}

#[derive(Debug, Deserialize)]
struct ItemErrorRow {
    code: String,
    field: Option<String>,
    message: String,
}

const DETAIL: &str = "query Batch($id: UUID!, $rejectedOnly: Boolean!, $first: Int!, \
    $after: Int) { batch(id: $id) { id status format submittedBy receivedAt items accepted \
    rejected replayed interruption results(rejectedOnly: $rejectedOnly, first: $first, \
    after: $after) { item line lrn outcome declarationId status lane taxes \
    errors { code field message } } } }";

#[derive(Debug, Default, Deserialize)]
pub struct DetailQuery {
    #[serde(default)]
    rejected: Option<String>,
    #[serde(default)]
    after: Option<i64>,
    #[serde(default)]
    failed: Option<String>,
}

async fn load(
    state: &AppState,
    user: &SignedIn,
    id: &str,
    query: &DetailQuery,
) -> Result<BatchDetail, Response> {
    let t = page::texts();
    let id = Uuid::parse_str(id).map_err(|_| page::not_found(t))?;
    let variables = json!({
        "id": id,
        "rejectedOnly": query.rejected.is_some(),
        "first": RESULTS_PAGE,
        "after": query.after.filter(|a| *a > 0),
    });
    match gql::run::<BatchData>(state, user, DETAIL, variables).await {
        Ok(BatchData { batch: Some(batch) }) => Ok(batch),
        Ok(BatchData { batch: None }) => Err(page::not_found(t)),
        Err(errors) => Err(failure(&errors)),
    }
}

/// `GET /portal/batches/{id}`.
pub async fn detail(
    State(state): State<AppState>,
    user: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<DetailQuery>,
) -> Response {
    let t = page::texts();
    let batch = match load(&state, &user, &id, &query).await {
        Ok(batch) => batch,
        Err(response) => return response,
    };
    let in_progress = matches!(batch.status.as_str(), "RECEIVED" | "PROCESSING");
    let panel_url = format!("/portal/batches/{}/panel", batch.id);
    let body = html! {
        h1 { (t.batch_title) " " small { (batch.id) } }
        @if let Some(code) = &query.failed {
            div.error-summary role="alert" {
                h2 { (t.batch_failed) }
                p { code { (code) } }
            }
        }
        div #batch-panel data-poll=[in_progress.then_some(panel_url.as_str())] {
            (panel(t, &batch, &query))
        }
    };
    Page::new(t, t.batch_title)
        .user(&user)
        .body(body)
        .into_response()
}

/// `GET /portal/batches/{id}/panel`: the counts and results, for the page's progress poll.
pub async fn panel_fragment(
    State(state): State<AppState>,
    user: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<DetailQuery>,
) -> Response {
    let t = page::texts();
    match load(&state, &user, &id, &query).await {
        Ok(batch) => panel(t, &batch, &query).into_response(),
        Err(response) => response,
    }
}

fn panel(t: &Texts, b: &BatchDetail, query: &DetailQuery) -> Markup {
    let rejected_only = query.rejected.is_some();
    let last_item = b.results.last().map(|r| r.item);
    html! {
        dl.facts data-batch-status=(b.status) {
            div { dt { (t.status) } dd { (t.label(t.batch_statuses, &b.status)) } }
            div { dt { (t.batch_format) } dd { (b.format) } }
            div { dt { (t.received_at) } dd { (b.received_at.format("%Y-%m-%d %H:%M:%S UTC")) } }
            div { dt { (t.sent_by) } dd { (b.submitted_by) } }
            div { dt { (t.items) } dd data-items { (b.items) } }
            div { dt { (t.accepted) } dd data-accepted { (b.accepted) } }
            div { dt { (t.rejected) } dd data-rejected { (b.rejected) } }
            div { dt { (t.replayed) } dd data-replayed { (b.replayed) } }
            @if let Some(why) = &b.interruption {
                div { dt { (t.interruption) } dd { (why) } }
            }
        }
        // The size of an upload is not known in advance: while it is filed, the bar only says
        // that work goes on (the counts above say how far).
        @if matches!(b.status.as_str(), "RECEIVED" | "PROCESSING") {
            progress aria-label=(t.uploading) {}
        }
        h2 { (t.results_title) }
        p.result-links {
            @if rejected_only {
                a href={ "/portal/batches/" (b.id) } { (t.all_results) }
            } @else {
                a href={ "/portal/batches/" (b.id) "?rejected=1" } { (t.rejected_only) }
            }
            @if b.rejected > 0 {
                " · " a href={ "/portal/batches/" (b.id) "/rejected.csv" } download { (t.download_rejected) }
            }
        }
        div.table-wrap {
            table.results {
                thead {
                    tr {
                        th.num scope="col" { (t.item) }
                        th.num scope="col" { (t.line) }
                        th scope="col" { (t.lrn) }
                        th scope="col" { (t.outcome) }
                        th scope="col" { (t.status) }
                        th.num scope="col" { (t.taxes) }
                        th scope="col" { (t.errors) }
                    }
                }
                tbody {
                    @for r in &b.results {
                        tr data-outcome=(r.outcome) {
                            td.num { (r.item) }
                            td.num { (r.line) }
                            td {
                                @match (&r.declaration_id, &r.lrn) {
                                    (Some(id), Some(lrn)) => a href={ "/portal/declarations/" (id) } { (lrn) },
                                    (None, Some(lrn)) => (lrn),
                                    _ => "—",
                                }
                            }
                            td { (if r.outcome == "ACCEPTED" { t.accepted } else { t.rejected }) }
                            td {
                                @if let Some(status) = &r.status { (t.label(t.statuses, status)) }
                                @if let Some(lane) = &r.lane { " · " (t.label(t.lanes, lane)) }
                            }
                            td.num { (r.taxes.as_deref().unwrap_or("")) }
                            td {
                                @if !r.errors.is_empty() {
                                    ul.error-list {
                                        @for e in &r.errors {
                                            li {
                                                @if let Some(field) = &e.field { code { (field) } " — " }
                                                (e.message) " " span.code { "(" (e.code) ")" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if i32::try_from(b.results.len()).unwrap_or(i32::MAX) >= RESULTS_PAGE {
            @if let Some(last) = last_item {
                p {
                    a rel="next" href={ "/portal/batches/" (b.id) "?after=" (last) @if rejected_only { "&rejected=1" } } { (t.more_results) }
                }
            }
        }
    }
}

/// `GET /portal/batches/{id}/rejected.csv`: every rejected item with its errors, one row per
/// error, streamed. Cells that a spreadsheet would run as a formula are defused (see
/// [`defuse`]).
pub async fn rejected_csv(
    State(state): State<AppState>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let t = page::texts();
    let Ok(id) = Uuid::parse_str(&id) else {
        return page::not_found(t);
    };
    let caller = user.principal.caller();
    if state.batches().get(&caller, id).await.is_err() {
        return page::not_found(t);
    }
    let service = state.batches().clone();
    let body: std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>> =
        Box::pin(async_stream::try_stream! {
            yield Bytes::from(csv_rows(None)?);
            let mut chunks = std::pin::pin!(service.results(id));
            while let Some(chunk) = chunks.try_next().await.map_err(std::io::Error::other)? {
                yield Bytes::from(csv_rows(Some(&chunk))?);
            }
        });
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(disposition) =
        HeaderValue::from_str(&format!("attachment; filename=\"batch-{id}-rejected.csv\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    response
}

/// The CSV of the rejected results of `chunk`, or the header row for `None`.
fn csv_rows(chunk: Option<&[ItemResult]>) -> Result<Vec<u8>, std::io::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    match chunk {
        None => writer.write_record([
            "item",
            "line",
            "lrn",
            "declarant",
            "code",
            "field",
            "message",
        ])?,
        Some(results) => {
            for result in results {
                let ItemOutcome::Rejected { errors, .. } = &result.outcome else {
                    continue;
                };
                for error in errors {
                    writer.write_record([
                        result.item.to_string(),
                        result.line.to_string(),
                        defuse(result.lrn.as_deref().unwrap_or("")),
                        defuse(result.declarant.as_deref().unwrap_or("")),
                        defuse(&error.code),
                        defuse(error.field.as_deref().unwrap_or("")),
                        defuse(&error.message),
                    ])?;
                }
            }
        }
    }
    writer
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// A cell a spreadsheet shows as text: one starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return would be run as a formula (OWASP "CSV injection"), so it gets a leading `'`.
pub fn defuse(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused() {
        assert_eq!(defuse("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(defuse("+1"), "'+1");
        assert_eq!(defuse("-2+3"), "'-2+3");
        assert_eq!(defuse("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(defuse("\tx"), "'\tx");
        assert_eq!(defuse("LRN-1"), "LRN-1");
        assert_eq!(defuse(""), "");
    }

    #[test]
    fn the_file_name_tells_the_format() {
        assert_eq!(format_of_name("x.csv"), Some(BatchFormat::KcsCsv));
        assert_eq!(format_of_name("x.ndjson"), Some(BatchFormat::Ndjson));
        assert_eq!(format_of_name("x.txt"), None);
    }
}
