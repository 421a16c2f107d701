//! My declarations: the list with its filters, and one declaration with its result (status,
//! lane, duties and VAT line by line, what happens next), its history as a timeline, and the
//! actions its state allows. The detail page follows the declaration live: a server-sent event
//! says when its stream grew, and the page's script fetches the changed part again.

mod detail;

pub use detail::{detail, panel_fragment};

use std::convert::Infallible;
use std::time::Duration;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, Utc};
use futures::StreamExt as _;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::gql;
use super::page::{self, Page};
use super::session::SignedIn;
use super::texts::Texts;
use crate::server::AppState;

const STATUSES: &[&str] = &[
    "REJECTED",
    "AWAITING_INSPECTION",
    "INSPECTED",
    "ACCEPTED",
    "REFUSED",
    "WITHDRAWN",
];
const LANES: &[&str] = &["GREEN", "YELLOW", "RED"];
const PAGE_SIZE: i32 = 20;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    lane: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    after: String,
}

#[derive(Debug, Deserialize)]
struct ListData {
    declarations: Connection,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Connection {
    edges: Vec<Edge>,
    page_info: PageInfo,
}

#[derive(Debug, Deserialize)]
struct Edge {
    node: Summary,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    id: Uuid,
    lrn: Option<String>,
    declarant: Option<String>,
    filing_date: Option<NaiveDate>,
    status: String,
    lane: Option<String>,
    item_count: i64,
    customs_value: Option<String>,
    duty: Option<String>,
    vat: Option<String>,
}

const LIST: &str = "query List($filter: DeclarationFilterInput, $first: Int!, $after: String) { \
    declarations(filter: $filter, first: $first, after: $after) { \
    edges { node { id lrn declarant filingDate status lane itemCount customsValue duty vat } } \
    pageInfo { hasNextPage endCursor } } }";

/// `GET /portal/declarations` (and `/portal/`). An analyst reads no declaration: its home is
/// the warehouse.
pub async fn list(
    State(state): State<AppState>,
    user: SignedIn,
    Query(query): Query<ListQuery>,
) -> Response {
    if !user.reads_declarations() {
        return Redirect::to("/portal/warehouse").into_response();
    }
    let t = page::texts();
    let pick = |value: &str, allowed: &[&str]| allowed.contains(&value).then(|| value.to_owned());
    let date = |value: &str| value.parse::<NaiveDate>().ok();
    let filter = json!({
        "status": pick(&query.status, STATUSES),
        "lane": pick(&query.lane, LANES),
        "filedFrom": date(&query.from),
        "filedTo": date(&query.to),
    });
    let after = (!query.after.is_empty()).then_some(query.after.as_str());
    let variables = json!({ "filter": filter, "first": PAGE_SIZE, "after": after });
    let data = match gql::run::<ListData>(&state, &user, LIST, variables).await {
        Ok(data) => data.declarations,
        Err(errors) => return page::failure(&errors),
    };
    let title = if user.is_declarant() {
        t.my_declarations
    } else {
        t.all_declarations
    };
    let next_query = data.page_info.end_cursor.as_ref().map(|cursor| {
        serde_urlencoded::to_string([
            ("status", query.status.as_str()),
            ("lane", query.lane.as_str()),
            ("from", query.from.as_str()),
            ("to", query.to.as_str()),
            ("after", cursor.as_str()),
        ])
        .unwrap_or_default()
    });
    let body = html! {
        h1 { (title) }
        form.filters method="get" action="/portal/declarations" {
            fieldset {
                legend { (t.filter_legend) }
                div.grid {
                    div.field.short {
                        label for="f-status" { (t.status) }
                        select #f-status name="status" {
                            option value="" { (t.any) }
                            @for status in STATUSES {
                                option value=(status) selected[query.status == *status] { (t.label(t.statuses, status)) }
                            }
                        }
                    }
                    div.field.short {
                        label for="f-lane" { (t.lane) }
                        select #f-lane name="lane" {
                            option value="" { (t.any) }
                            @for lane in LANES {
                                option value=(lane) selected[query.lane == *lane] { (t.label(t.lanes, lane)) }
                            }
                        }
                    }
                    div.field.short {
                        label for="f-from" { (t.filed_from) }
                        input #f-from type="date" name="from" value=(query.from);
                    }
                    div.field.short {
                        label for="f-to" { (t.filed_to) }
                        input #f-to type="date" name="to" value=(query.to);
                    }
                }
                button.secondary type="submit" { (t.apply_filters) }
            }
        }
        @if data.edges.is_empty() {
            p { (t.no_declarations) }
        } @else {
            div.table-wrap {
                table.declarations {
                    thead {
                        tr {
                            th scope="col" { (t.lrn) }
                            @if !user.is_declarant() { th scope="col" { (t.declarant) } }
                            th scope="col" { (t.filing_date) }
                            th scope="col" { (t.status) }
                            th scope="col" { (t.lane) }
                            th.num scope="col" { (t.items) }
                            th.num scope="col" { (t.customs_value) }
                            th.num scope="col" { (t.taxes) }
                        }
                    }
                    tbody {
                        @for Edge { node: d } in &data.edges {
                            tr {
                                td { a href={ "/portal/declarations/" (d.id) } { (d.lrn.as_deref().unwrap_or("—")) } }
                                @if !user.is_declarant() { td { (d.declarant.as_deref().unwrap_or("")) } }
                                td { @if let Some(date) = d.filing_date { (date) } }
                                td { (status_badge(t, &d.status)) }
                                td { @if let Some(lane) = &d.lane { (lane_badge(t, lane)) } }
                                td.num { (d.item_count) }
                                td.num { (d.customs_value.as_deref().unwrap_or("")) }
                                td.num { (sum(d.duty.as_deref(), d.vat.as_deref())) }
                            }
                        }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if after.is_some() {
                a href="/portal/declarations" { (t.first_page) }
            }
            @if data.page_info.has_next_page {
                @if let Some(next) = next_query {
                    a href={ "/portal/declarations?" (next) } rel="next" { (t.next_page) }
                }
            }
        }
    };
    Page::new(t, title).user(&user).body(body).into_response()
}

/// Duty + VAT, as decimals.
fn sum(duty: Option<&str>, vat: Option<&str>) -> String {
    let parse = |v: Option<&str>| v.and_then(|v| v.parse::<rust_decimal::Decimal>().ok());
    match (parse(duty), parse(vat)) {
        (Some(d), Some(v)) => (d + v).to_string(),
        _ => String::new(),
    }
}

fn status_badge(t: &Texts, status: &str) -> Markup {
    html! { span.badge.(format!("status-{}", status.to_lowercase())) { (t.label(t.statuses, status)) } }
}

fn lane_badge(t: &Texts, lane: &str) -> Markup {
    html! { span.badge.(format!("lane-{}", lane.to_lowercase())) { (t.label(t.lanes, lane)) } }
}

#[derive(Debug, Deserialize)]
pub struct WithdrawForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

const WITHDRAW: &str = "mutation Withdraw($id: UUID!, $reason: String!) { \
    withdrawDeclaration(id: $id, reason: $reason) { id status } }";

/// `POST /portal/declarations/{id}/withdraw`.
pub async fn withdraw(
    State(state): State<AppState>,
    user: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<WithdrawForm>,
) -> Response {
    let t = page::texts();
    if let Some(refused) = user.csrf_refusal(&form.csrf) {
        return refused;
    }
    let Ok(id) = Uuid::parse_str(&id) else {
        return page::not_found(t);
    };
    let reason: String = form.reason.trim().chars().take(500).collect();
    let variables = json!({ "id": id, "reason": reason });
    match gql::run::<Value>(&state, &user, WITHDRAW, variables).await {
        Ok(_) => Redirect::to(&format!("/portal/declarations/{id}?done=withdrawn")).into_response(),
        Err(errors)
            if errors
                .iter()
                .any(|e| e.is_not_found() || e.code == "FORBIDDEN" || e.error_id.is_some()) =>
        {
            page::failure(&errors)
        }
        Err(errors) => {
            // A refusal of the command (no reason, no longer open): say why on an error page
            // with the way back to the declaration.
            let message = errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            page::error_page(
                t,
                StatusCode::UNPROCESSABLE_ENTITY,
                t.withdraw_button,
                &message,
                None,
            )
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionData {
    declaration: Option<VersionOnly>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionOnly {
    stream_version: u64,
}

/// `GET /portal/declarations/{id}/live`: server-sent events, one `changed` event (data: the
/// stream version) each time the declaration's stream grows. Ends when the session ends or the
/// server shuts down; the browser's `EventSource` reconnects by itself.
pub async fn live(
    State(state): State<AppState>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let t = page::texts();
    let Ok(id) = Uuid::parse_str(&id) else {
        return page::not_found(t);
    };
    const VERSION: &str = "query V($id: UUID!) { declaration(id: $id) { streamVersion } }";
    let version = match gql::run::<VersionData>(&state, &user, VERSION, json!({ "id": id })).await {
        Ok(VersionData {
            declaration: Some(v),
        }) => v.stream_version,
        Ok(_) => return page::not_found(t),
        Err(errors) => return page::failure(&errors),
    };
    let stream_id = commands::declaration::stream(id);
    let session_left = (user.ends_at - Utc::now())
        .to_std()
        .unwrap_or(Duration::ZERO);
    let shutdown = state.shutdown_token().clone();
    let counted = state.metrics().open(crate::metrics::Open::LiveStream);
    let events = state
        .store()
        .subscribe_stream(&stream_id, version)
        .take_while(|recorded| std::future::ready(recorded.is_ok()))
        .filter_map(|recorded| std::future::ready(recorded.ok()))
        .map(move |recorded| {
            let _counted = &counted;
            Ok::<_, Infallible>(
                Event::default()
                    .event("changed")
                    .data(recorded.stream_version.to_string()),
            )
        })
        .take_until(async move {
            tokio::select! {
                () = tokio::time::sleep(session_left) => {}
                () = shutdown.cancelled() => {}
            }
        });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
