//! My declarations: the list with its filters, and one declaration with its result (status,
//! lane, duties and VAT line by line, what happens next), its history as a timeline, and the
//! actions its state allows. The detail page follows the declaration live: a server-sent event
//! says when its stream grew, and the page's script fetches the changed part again.

use std::convert::Infallible;
use std::time::Duration;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, Utc};
use futures::StreamExt as _;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::filing::is_open;
use super::gql::{self, GqlError};
use super::page::{self, Page, csrf_input};
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

/// `GET /portal/declarations` (and `/portal/`).
pub async fn list(
    State(state): State<AppState>,
    user: SignedIn,
    Query(query): Query<ListQuery>,
) -> Response {
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
        Err(errors) => return failure(&errors),
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

/// An error page for operation errors that are not about a form.
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DetailData {
    declaration: Option<Detail>,
    declaration_history: Option<Vec<HistoryEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    id: Uuid,
    stream_version: u64,
    status: String,
    lane: Option<String>,
    header: Option<Header>,
    items: Vec<Item>,
    errors: Vec<gql::FieldError>,
    assessment: Option<Assessment>,
    paid: String,
    balance: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    declaration_type: String,
    lrn: String,
    declarant: String,
    importer: Option<String>,
    exporter: Option<String>,
    customs_office: String,
    transport_mode: String,
    dispatch_country: String,
    incoterm: String,
    invoice_currency: String,
    invoice_amount: String,
    filing_date: NaiveDate,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    hs_code: String,
    description: String,
    origin_country: String,
    preference_claim: Option<String>,
    quantity: String,
    unit: String,
    net_mass: String,
    invoice_value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Assessment {
    national_currency: String,
    invoice_currency: String,
    exchange_rate: Option<ExchangeRate>,
    items: Vec<ItemAssessment>,
    totals: Totals,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExchangeRate {
    currency: String,
    rate: String,
    valid_from: NaiveDate,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemAssessment {
    item: i64,
    hs_code: String,
    customs_value: String,
    duty_rate: DutyRate,
    preference: Option<Preference>,
    duty: String,
    vat_pct: String,
    vat_base: String,
    vat: String,
}

#[derive(Debug, Deserialize)]
struct DutyRate {
    pct: Option<String>,
    amount: Option<String>,
    unit: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Preference {
    agreement: String,
    pct: String,
}

#[derive(Debug, Deserialize)]
struct Totals {
    #[serde(rename = "customsValue")]
    customs_value: String,
    duty: String,
    vat: String,
    taxes: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryEntry {
    stream_version: u64,
    event_type: String,
    actor: Option<String>,
    recorded_at: DateTime<Utc>,
}

const DETAIL: &str = "query Detail($id: UUID!) { declaration(id: $id) { id streamVersion \
    status lane \
    header { declarationType lrn declarant importer exporter customsOffice transportMode \
    dispatchCountry incoterm invoiceCurrency invoiceAmount filingDate } \
    items { hsCode description originCountry preferenceClaim quantity unit netMass invoiceValue } \
    errors { code path message } \
    assessment { nationalCurrency invoiceCurrency exchangeRate { currency rate validFrom } \
    items { item hsCode customsValue dutyRate { pct amount unit } preference { agreement pct } \
    duty vatPct vatBase vat } totals { customsValue duty vat taxes } } \
    paid balance } \
    declarationHistory(id: $id) { streamVersion eventType actor recordedAt } }";

async fn load(
    state: &AppState,
    user: &SignedIn,
    id: &str,
) -> Result<(Detail, Vec<HistoryEntry>), Response> {
    let t = page::texts();
    let id = Uuid::parse_str(id).map_err(|_| page::not_found(t))?;
    match gql::run::<DetailData>(state, user, DETAIL, json!({ "id": id })).await {
        Ok(DetailData {
            declaration: Some(detail),
            declaration_history,
        }) => Ok((detail, declaration_history.unwrap_or_default())),
        Ok(_) => Err(page::not_found(t)),
        Err(errors) => Err(failure(&errors)),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DetailQuery {
    #[serde(default)]
    done: String,
}

/// `GET /portal/declarations/{id}`.
pub async fn detail(
    State(state): State<AppState>,
    user: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<DetailQuery>,
) -> Response {
    let t = page::texts();
    let (detail, history) = match load(&state, &user, &id).await {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    let notice = match query.done.as_str() {
        "filed" => Some(t.filed_notice),
        "amended" => Some(t.amended_notice),
        "withdrawn" => Some(t.withdrawn_notice),
        _ => None,
    };
    let lrn = detail.header.as_ref().map_or("", |h| h.lrn.as_str());
    let body = html! {
        h1 { (t.declaration_title) " " (lrn) }
        @if let Some(notice) = notice {
            p.notice role="status" data-clear-draft=[(query.done == "filed").then_some("/portal/declarations/new")]
                data-clear-draft-amend=[(query.done == "amended").then(|| format!("/portal/declarations/{}/amend", detail.id))] {
                (notice)
            }
        }
        p.live-notice role="status" aria-live="polite" hidden { (t.live_updated) }
        div #live data-live={ "/portal/declarations/" (detail.id) "/live" }
            data-panel={ "/portal/declarations/" (detail.id) "/panel" } {
            (panel(t, &user, &detail, &history))
        }
    };
    Page::new(t, t.declaration_title)
        .user(&user)
        .body(body)
        .into_response()
}

/// `GET /portal/declarations/{id}/panel`: the part of the detail page that changes.
pub async fn panel_fragment(
    State(state): State<AppState>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let t = page::texts();
    match load(&state, &user, &id).await {
        Ok((detail, history)) => panel(t, &user, &detail, &history).into_response(),
        Err(response) => response,
    }
}

fn panel(t: &Texts, user: &SignedIn, d: &Detail, history: &[HistoryEntry]) -> Markup {
    let lane = d.lane.as_deref();
    html! {
        section.result aria-labelledby="result-title" data-version=(d.stream_version) {
            h2 #result-title .visually-hidden { (t.status) }
            dl.facts {
                div { dt { (t.status) } dd data-status=(d.status) { (status_badge(t, &d.status)) } }
                @if let Some(lane) = lane {
                    div { dt { (t.lane) } dd data-lane=(lane) { (lane_badge(t, lane)) } }
                }
                @if let Some(h) = &d.header {
                    div { dt { (t.filing_date) } dd { (h.filing_date) } }
                    div { dt { (t.declaration_type) } dd { (h.declaration_type) } }
                    div { dt { (t.declarant) } dd { (h.declarant) } }
                    @if let Some(importer) = &h.importer { div { dt { (t.importer) } dd { (importer) } } }
                    @if let Some(exporter) = &h.exporter { div { dt { (t.exporter) } dd { (exporter) } } }
                    div { dt { (t.customs_office) } dd { (h.customs_office) } }
                    div { dt { (t.transport_mode) } dd { (t.label(t.transport_modes, &h.transport_mode)) } }
                    div { dt { (t.dispatch_country) } dd { (h.dispatch_country) } }
                    div { dt { (t.incoterm) } dd { (h.incoterm) } }
                    div { dt { (t.invoice_amount) } dd { (h.invoice_amount) " " (h.invoice_currency) } }
                }
            }
            @if let Some(next) = t.next_step(&d.status, lane) {
                div.next-step {
                    h2 { (t.what_next) }
                    p { (next) }
                }
            }
        }
        @if !d.errors.is_empty() {
            section.errors aria-labelledby="errors-title" {
                h2 #errors-title { (t.errors_title) }
                ul.error-list {
                    @for e in &d.errors {
                        li { code { (e.path) } " — " (e.message) " " span.code { "(" (e.code) ")" } }
                    }
                }
                @if user.is_declarant() {
                    p { a.button href="/portal/declarations/new" { (t.file_again) } }
                }
            }
        }
        @if let Some(a) = &d.assessment {
            section.assessment aria-labelledby="assessment-title" {
                h2 #assessment-title { (t.assessment_title) }
                p {
                    @match &a.exchange_rate {
                        Some(rate) => { (t.exchange_rate_used) ": 1 " (rate.currency) " = " (rate.rate) " " (a.national_currency) " (" (rate.valid_from) ")" }
                        None => (t.no_exchange_rate),
                    }
                }
                div.table-wrap {
                    table.assessment-table {
                        thead {
                            tr {
                                th scope="col" { (t.item) }
                                th scope="col" { (t.hs_code) }
                                th.num scope="col" { (t.customs_value) " (" (a.national_currency) ")" }
                                th scope="col" { (t.duty_rate) }
                                th.num scope="col" { (t.duty) }
                                th.num scope="col" { (t.vat_base) }
                                th.num scope="col" { (t.vat_rate) }
                                th.num scope="col" { (t.vat) }
                            }
                        }
                        tbody {
                            @for i in &a.items {
                                tr data-item=(i.item) {
                                    td { (i.item) }
                                    td { (i.hs_code) }
                                    td.num data-customs-value { (i.customs_value) }
                                    td { (duty_rate(t, &i.duty_rate, i.preference.as_ref())) }
                                    td.num data-duty { (i.duty) }
                                    td.num { (i.vat_base) }
                                    td.num { (i.vat_pct) "%" }
                                    td.num data-vat { (i.vat) }
                                }
                            }
                        }
                        tfoot {
                            tr {
                                th scope="row" colspan="2" { (t.total) }
                                td.num data-total-customs-value { (a.totals.customs_value) }
                                td {}
                                td.num data-total-duty { (a.totals.duty) }
                                td {}
                                td {}
                                td.num data-total-vat { (a.totals.vat) }
                            }
                            tr {
                                th scope="row" colspan="7" { (t.taxes) " (" (a.national_currency) ")" }
                                td.num data-total-taxes { (a.totals.taxes) }
                            }
                            tr {
                                th scope="row" colspan="7" { (t.paid) }
                                td.num { (d.paid) }
                            }
                            tr {
                                th scope="row" colspan="7" { (t.balance) }
                                td.num data-balance { (d.balance) }
                            }
                        }
                    }
                }
                @if a.invoice_currency != a.national_currency && a.exchange_rate.is_none() {
                    p { (a.invoice_currency) }
                }
            }
        }
        @if !d.items.is_empty() {
            section.goods aria-labelledby="goods-title" {
                h2 #goods-title { (t.goods_title) }
                div.table-wrap {
                    table {
                        thead {
                            tr {
                                th scope="col" { (t.item) }
                                th scope="col" { (t.hs_code) }
                                th scope="col" { (t.description) }
                                th scope="col" { (t.origin_country) }
                                th scope="col" { (t.preference_claim) }
                                th.num scope="col" { (t.quantity) }
                                th.num scope="col" { (t.net_mass) }
                                th.num scope="col" { (t.invoice_value) }
                            }
                        }
                        tbody {
                            @for (n, i) in d.items.iter().enumerate() {
                                tr {
                                    td { (n + 1) }
                                    td { (i.hs_code) }
                                    td { (i.description) }
                                    td { (i.origin_country) }
                                    td { (i.preference_claim.as_deref().unwrap_or("")) }
                                    td.num { (i.quantity) " " (i.unit) }
                                    td.num { (i.net_mass) }
                                    td.num { (i.invoice_value) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.history aria-labelledby="history-title" {
            h2 #history-title { (t.history_title) }
            ol.timeline {
                @for e in history {
                    li data-event=(e.event_type) {
                        time datetime=(e.recorded_at.to_rfc3339()) { (e.recorded_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                        " "
                        strong { (t.label(t.events, &e.event_type)) }
                        @if let Some(actor) = &e.actor { " · " span.actor { (actor) } }
                        " " span.version { "#" (e.stream_version) }
                    }
                }
            }
        }
        @if user.is_declarant() && is_open(&d.status) {
            section.actions aria-labelledby="actions-title" {
                h2 #actions-title { (t.actions_title) }
                p { a.button href={ "/portal/declarations/" (d.id) "/amend" } { (t.amend_link) } }
                form method="post" action={ "/portal/declarations/" (d.id) "/withdraw" } {
                    (csrf_input(user))
                    div.field {
                        label for="withdraw-reason" { (t.withdraw_reason) }
                        input #withdraw-reason type="text" name="reason" required maxlength="500";
                    }
                    button.danger type="submit" { (t.withdraw_button) }
                }
            }
        }
    }
}

fn duty_rate(t: &Texts, rate: &DutyRate, preference: Option<&Preference>) -> Markup {
    html! {
        @if let Some(p) = preference {
            (p.pct) "% " span.hint { (t.preference) " " (p.agreement) }
        } @else {
            @if let Some(pct) = &rate.pct { (pct) "%" }
            @if let (Some(amount), Some(unit)) = (&rate.amount, &rate.unit) {
                @if rate.pct.is_some() { " + " }
                (amount) "/" (unit)
            }
        }
    }
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
            failure(&errors)
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
        Err(errors) => return failure(&errors),
    };
    let stream_id = commands::declaration::stream(id);
    let session_left = (user.ends_at - Utc::now())
        .to_std()
        .unwrap_or(Duration::ZERO);
    let shutdown = state.shutdown_token().clone();
    let events = state
        .store()
        .subscribe_stream(&stream_id, version)
        .take_while(|recorded| std::future::ready(recorded.is_ok()))
        .filter_map(|recorded| std::future::ready(recorded.ok()))
        .map(|recorded| {
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
