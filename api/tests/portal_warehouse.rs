//! The portal's warehouse page end to end: declarations filed and cleared through the API,
//! projected into the warehouse by its runner, and read back as charts and tables by an
//! officer. The expected figures are the customs values the API assessed for each filing, added
//! up here; a declarant sees neither the link nor the page.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use api::auth::Role;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use commands::reference;
use common::declarations::{filing, vietnam_to_yellow};
use common::{Answer, TestApp, declarant_token, token_for};
use rust_decimal::Decimal;
use serde_json::Value;

/// An app serving every read model (kept in a database of their own, in the returned
/// directory), and the warehouse's runner.
async fn app_with_warehouse() -> (TestApp, projections::Runner, tempfile::TempDir) {
    let mut app = TestApp::new().await;
    let mut events = reference::sample_events().unwrap();
    events.push(vietnam_to_yellow());
    reference::import(&app.store, events, "admin/test")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = api::StoreArgs::in_dir(dir.path()).database_url();
    let models = projections::ReadModels::open(&format!("{}?mode=rwc", url.expose()))
        .await
        .unwrap();
    let view = reference::ReferenceView::load(&app.store).await.unwrap();
    let service = commands::declaration::DeclarationService::new(app.store.clone(), view);
    app.state = api::AppState::with_service(
        app.store.clone(),
        common::keys(),
        Default::default(),
        service,
        api::graphql::ReadModelQueries::new(&models),
    );
    let runner = projections::Runner::new(
        app.store.clone(),
        models,
        Arc::new(projections::WarehouseProjection),
    );
    runner.prepare().await.unwrap();
    (app, runner, dir)
}

/// A signed-in browser: the session cookie.
struct Browser<'a> {
    app: &'a TestApp,
    cookie: String,
}

impl<'a> Browser<'a> {
    async fn signed_in(app: &'a TestApp, token: &str) -> Self {
        let body = serde_urlencoded::to_string([("token", token)]).unwrap();
        let request = Request::post("/portal/sign-in")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin")
            .body(Body::from(body))
            .unwrap();
        let answer = app.send(request).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let cookie = answer.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        Self { app, cookie }
    }

    async fn get(&self, uri: &str) -> Answer {
        let request = Request::get(uri)
            .header(header::COOKIE, &self.cookie)
            .body(Body::empty())
            .unwrap();
        self.app.send(request).await
    }
}

fn text(answer: &Answer) -> String {
    match &answer.body {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The customs value the API assessed for a filing.
fn customs_value(result: &Value) -> Decimal {
    result["declaration"]["assessment"]["totals"]["customsValue"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// `d` with a comma between thousands and two decimals, as a reader expects it (written here,
/// apart from the page's own formatting).
fn thousands(d: Decimal) -> String {
    let text = format!("{:.2}", d.round_dp(2));
    let (whole, cents) = text.split_once('.').unwrap();
    let digits: Vec<char> = whole.chars().collect();
    let mut out = String::new();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(*c);
    }
    format!("{out}.{cents}")
}

/// The `<section>` of one chart.
fn section<'p>(page: &'p str, id: &str) -> &'p str {
    let start = page
        .find(&format!("aria-labelledby=\"{id}-h\""))
        .unwrap_or_else(|| panic!("no section {id}: {page}"));
    let rest = &page[start..];
    &rest[..rest.find("</section>").unwrap()]
}

fn officer() -> String {
    token_for(Role::Officer)
}

#[tokio::test]
async fn an_officer_sees_the_imports_filed_as_charts_and_tables() {
    let (app, runner, _models) = app_with_warehouse().await;
    let alice = declarant_token("alice", "ACME");
    // Green (cleared at once): three from the US, two from Japan; yellow: two from Viet Nam,
    // one cleared by an officer, one left waiting (not in the warehouse).
    let mut expected: BTreeMap<&str, Decimal> = BTreeMap::new();
    for (i, origin) in ["US", "US", "US", "JP", "JP"].iter().enumerate() {
        let filed = app
            .file_ok(&alice, filing("ACME", &format!("W-{i}"), origin))
            .await;
        assert_eq!(filed["status"], "ACCEPTED", "{filed}");
        *expected.entry(origin).or_default() += customs_value(&filed);
    }
    let cleared = app.file_ok(&alice, filing("ACME", "W-VN-1", "VN")).await;
    let id = cleared["id"].as_str().unwrap();
    for mutation in [
        format!(
            "mutation {{ recordInspection(id: \"{id}\", kind: DOCUMENTARY, result: COMPLIANT) {{ status }} }}"
        ),
        format!("mutation {{ acceptDeclaration(id: \"{id}\") {{ status }} }}"),
    ] {
        let answer = app.graphql_as(Role::Officer, &mutation).await;
        assert!(answer.get("errors").is_none(), "{answer}");
    }
    *expected.entry("VN").or_default() += customs_value(&cleared);
    app.file_ok(&alice, filing("ACME", "W-VN-2", "VN")).await;
    runner.catch_up().await.unwrap();

    let browser = Browser::signed_in(&app, &officer()).await;
    let answer = browser.get("/portal/warehouse").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let page = text(&answer);
    assert!(
        page.contains("href=\"/portal/warehouse\""),
        "the officer's navigation links it"
    );
    let total: Decimal = expected.values().sum();
    let month = chrono::Utc::now().format("%Y-%m").to_string();

    // Imports by month: one month, all twelve items cleared (6 declarations × 2).
    let months = section(&page, "chart-months");
    assert!(months.contains("role=\"img\""));
    assert!(months.contains(&format!("data-value=\"{}\"", total.normalize())));
    assert!(
        months.contains(&format!(
            "<th scope=\"row\">{month}</th><td class=\"num\">{}</td><td class=\"num\">12</td>",
            thousands(total)
        )),
        "{months}"
    );

    // Origins, largest first, each with its code and name.
    let origins = section(&page, "chart-origins");
    let mut ranked: Vec<(&str, Decimal)> = expected.iter().map(|(k, v)| (*k, *v)).collect();
    ranked.sort_by_key(|r| std::cmp::Reverse(r.1));
    let mut at = 0;
    for (origin, value) in &ranked {
        let bar = format!("data-value=\"{}\"", value.normalize());
        let found = origins[at..]
            .find(&bar)
            .unwrap_or_else(|| panic!("{origin} in order: {origins}"));
        at += found + bar.len();
        assert!(origins.contains(&format!("<td class=\"num\">{}</td>", thousands(*value))));
    }
    assert!(
        origins.contains(">US United States of America</text>"),
        "{origins}"
    );
    assert!(
        origins.contains("<th scope=\"row\">VN Viet Nam</th>"),
        "{origins}"
    );

    // Chapters: every laptop is in chapter 84.
    let chapters = section(&page, "chart-chapters");
    assert!(
        chapters.contains("<th scope=\"row\">Chapter 84</th>"),
        "{chapters}"
    );
    assert!(chapters.contains(&format!("data-value=\"{}\"", total.normalize())));

    // Lanes: 10 green items, 2 yellow (the one waiting is not cleared), none red.
    let lanes = section(&page, "chart-lanes");
    assert!(
        lanes.contains("Green 83.3 %, Yellow 16.7 %, Red 0.0 %"),
        "{lanes}"
    );
    assert!(
        lanes.contains("class=\"seg green\" data-value=\"10\""),
        "{lanes}"
    );
    assert!(
        lanes.contains("class=\"seg yellow\" data-value=\"2\""),
        "{lanes}"
    );

    // The same figures as CSV.
    let csv = browser
        .get(&format!(
            "/portal/warehouse/origins.csv?from={month}&to={month}"
        ))
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = text(&csv);
    let us = expected["US"].normalize();
    assert!(
        csv.starts_with("origin,label,customs_value,items\n"),
        "{csv}"
    );
    assert!(
        csv.contains(&format!("US,United States of America,{us},6\n")),
        "{csv}"
    );
}

#[tokio::test]
async fn a_period_without_imports_and_bad_periods_are_answered_not_failed() {
    let (app, runner, _models) = app_with_warehouse().await;
    app.file_ok(
        &declarant_token("alice", "ACME"),
        filing("ACME", "P-1", "US"),
    )
    .await;
    runner.catch_up().await.unwrap();
    let browser = Browser::signed_in(&app, &officer()).await;
    let empty = text(
        &browser
            .get("/portal/warehouse?from=2001-01&to=2001-06")
            .await,
    );
    assert!(empty.contains("From 2001-01 to 2001-06."));
    assert!(empty.contains("No imports were cleared in this period."));
    assert_eq!(empty.matches("<svg").count(), 4);
    for (query, message) in [
        ("from=2024-13", "Enter a month as YYYY-MM"),
        ("from=yesterday&to=%3Cscript%3E", "Enter a month as YYYY-MM"),
        (
            "from=2024-05&to=2024-01",
            "The first month is after the last one.",
        ),
        ("from=2000-01&to=2024-01", "Choose at most 120 months."),
        ("from=2024-01&from=2024-02", "Enter a month as YYYY-MM"),
    ] {
        let answer = browser.get(&format!("/portal/warehouse?{query}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        let page = text(&answer);
        assert!(page.contains(message), "{query}: {page}");
        assert!(!page.contains("<script>"), "{query}");
        assert!(!page.contains("<svg"), "{query}");
    }
    let unknown = browser.get("/portal/warehouse/secrets.csv").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_empty_warehouse_says_so() {
    let (app, runner, _models) = app_with_warehouse().await;
    runner.catch_up().await.unwrap();
    let browser = Browser::signed_in(&app, &token_for(Role::Auditor)).await;
    let answer = browser.get("/portal/warehouse").await;
    assert_eq!(answer.status, StatusCode::OK);
    let page = text(&answer);
    assert!(page.contains("No accepted declarations yet"), "{page}");
    assert!(!page.contains("<svg"));
}

#[tokio::test]
async fn a_declarant_has_no_link_and_no_page() {
    let (app, runner, _models) = app_with_warehouse().await;
    let alice = declarant_token("alice", "ACME");
    app.file_ok(&alice, filing("ACME", "D-1", "US")).await;
    runner.catch_up().await.unwrap();
    let browser = Browser::signed_in(&app, &alice).await;
    let answer = browser.get("/portal/declarations/new").await;
    assert_eq!(answer.status, StatusCode::OK);
    let form = text(&answer);
    assert!(form.contains("<nav aria-label=\"Main\">"), "{form}");
    assert!(!form.contains("/portal/warehouse"), "{form}");
    for uri in ["/portal/warehouse", "/portal/warehouse/months.csv"] {
        let answer = browser.get(uri).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{uri}");
        assert!(!text(&answer).contains("data-value"), "{uri}");
    }
    // An admin and an analyst do see the link (and the page).
    let analyst = Browser::signed_in(&app, &token_for(Role::Analyst)).await;
    let answer = analyst.get("/portal/warehouse").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(text(&answer).contains("data-value"));
    let admin = Browser::signed_in(&app, &token_for(Role::Admin)).await;
    let page = text(&admin.get("/portal/warehouse").await);
    assert!(
        page.contains("<li><a href=\"/portal/warehouse\">Warehouse</a></li>"),
        "{page}"
    );
}

#[tokio::test]
async fn an_analysts_portal_is_the_warehouse() {
    let (app, runner, _models) = app_with_warehouse().await;
    app.file_ok(
        &declarant_token("alice", "ACME"),
        filing("ACME", "D-1", "US"),
    )
    .await;
    runner.catch_up().await.unwrap();
    let analyst = Browser::signed_in(&app, &token_for(Role::Analyst)).await;
    for home in ["/portal/", "/portal/declarations"] {
        let answer = analyst.get(home).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{home}");
        assert_eq!(answer.headers[header::LOCATION], "/portal/warehouse");
    }
    let page = text(&analyst.get("/portal/warehouse").await);
    assert!(page.contains("data-value"), "{page}");
    assert!(!page.contains("href=\"/portal/declarations\""), "{page}");
    assert!(!page.contains("href=\"/portal/batches\""), "{page}");
    // What it may not read stays refused, whatever the page.
    let batches = analyst.get("/portal/batches").await;
    assert_ne!(batches.status, StatusCode::OK);
}
