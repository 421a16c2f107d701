//! One declaration: its result (status, lane, duties and VAT line by line, what happens next),
//! goods, history as a timeline, and the actions its state allows.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::super::filing::is_open;
use super::super::gql;
use super::super::page::{self, Page, csrf_input};
use super::super::session::SignedIn;
use super::super::texts::Texts;
use super::{lane_badge, status_badge};
use crate::server::AppState;

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
        Err(errors) => Err(page::failure(&errors)),
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
