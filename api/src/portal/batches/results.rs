//! One batch: its counts and per-item results (polled while it is filed), and the rejected
//! items as a CSV download.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use domain::batch::{ItemOutcome, ItemResult};
use futures::{Stream, TryStreamExt as _};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::super::gql;
use super::super::page::{self, Page};
use super::super::session::SignedIn;
use super::super::texts::Texts;
use super::RESULTS_PAGE;
use crate::server::AppState;

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
        Err(errors) => Err(page::failure(&errors)),
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
}
