//! The portal's security and behaviour without a browser: sessions and their cookie, timeouts,
//! CSRF, cross-site refusal, headers, escaping, rate-limited sign-in, access between
//! organisations, withdrawal, and the rejected-items download. `tests/browser/` drives the same
//! pages in Chromium.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use api::portal::{PortalState, SignInLimit, Timeouts};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use common::declarations::filing;
use common::{Answer, TestApp, declarant_token};
use futures::StreamExt as _;
use serde_json::{Value, json};

/// A browser's view of the portal: a cookie jar of one cookie, and a client address.
struct Browser<'a> {
    app: &'a TestApp,
    cookie: Option<String>,
    address: SocketAddr,
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookie: None,
            address: "10.0.0.1:5000".parse().unwrap(),
        }
    }

    fn from(mut self, address: &str) -> Self {
        self.address = address.parse().unwrap();
        self
    }

    async fn send(&mut self, mut request: Request<Body>) -> Answer {
        request.extensions_mut().insert(ConnectInfo(self.address));
        if let Some(cookie) = &self.cookie {
            request
                .headers_mut()
                .insert(header::COOKIE, cookie.parse().unwrap());
        }
        let answer = self.app.send(request).await;
        if let Some(set) = answer.headers.get(header::SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            self.cookie = Some(pair);
        }
        answer
    }

    async fn get(&mut self, uri: &str) -> Answer {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    /// A form post from a page of the portal (as a browser sends it).
    async fn post(&mut self, uri: &str, fields: &[(&str, &str)]) -> Answer {
        self.post_with(uri, fields, &[("sec-fetch-site", "same-origin")])
            .await
    }

    async fn post_with(
        &mut self,
        uri: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = Request::post(uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("host", "portal.test");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    async fn sign_in(&mut self, token: &str) -> Answer {
        self.post("/portal/sign-in", &[("token", token)]).await
    }

    /// The synchronizer token of the session, read from a page's form.
    async fn csrf(&mut self) -> String {
        let page = self.get("/portal/declarations/new").await;
        csrf_of(&text(&page))
    }
}

fn text(answer: &Answer) -> String {
    match &answer.body {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

fn location(answer: &Answer) -> &str {
    answer.headers[header::LOCATION].to_str().unwrap()
}

/// The form fields of `filing(...)` as the portal names them.
fn form_fields(input: &Value) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    for (name, value) in input["header"].as_object().unwrap() {
        if name != "declarant" {
            fields.push((format!("header.{name}"), value.as_str().unwrap().to_owned()));
        }
    }
    for (i, item) in input["items"].as_array().unwrap().iter().enumerate() {
        for (name, value) in item.as_object().unwrap() {
            fields.push((
                format!("items[{i}].{name}"),
                value.as_str().unwrap().to_owned(),
            ));
        }
    }
    fields
}

async fn file(browser: &mut Browser<'_>, input: &Value) -> Answer {
    let csrf = browser.csrf().await;
    let mut fields = form_fields(input);
    fields.push(("csrf".to_owned(), csrf));
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    browser.post("/portal/declarations/new", &fields).await
}

fn alice() -> String {
    declarant_token("alice", "ACME")
}

#[tokio::test]
async fn signing_in_opens_a_host_cookie_session_with_a_new_id() {
    let app = TestApp::with_reference_data().await;
    let mut browser = Browser::new(&app);
    let first = browser.get("/portal/declarations").await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    assert_eq!(
        location(&first),
        "/portal/sign-in?next=%2Fportal%2Fdeclarations"
    );

    // An id planted before sign-in is not the one the session gets.
    browser.cookie = Some("__Host-aduana=planted0000000000000000".to_owned());
    let signed_in = browser.sign_in(&alice()).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&signed_in), "/portal/");
    let cookie = signed_in.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("__Host-aduana="), "{cookie}");
    assert!(!cookie.contains("planted"), "{cookie}");
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(!cookie.to_lowercase().contains("domain="), "{cookie}");

    let list = browser.get("/portal/declarations/new").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(text(&list).contains("declarant/alice@ACME"));

    // Signing out ends the session on the server: the old cookie opens nothing.
    let old = browser.cookie.clone();
    let csrf = browser.csrf().await;
    let out = browser.post("/portal/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    browser.cookie = old;
    let after = browser.get("/portal/declarations/new").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn bad_tokens_and_integrators_do_not_sign_in() {
    let app = TestApp::with_reference_data().await;
    let mut browser = Browser::new(&app);
    let refused = browser.sign_in("not-a-token").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(text(&refused).contains("not valid or has expired"));
    assert!(refused.headers.get(header::SET_COOKIE).is_none());
    let integrator = browser
        .sign_in(&common::token_for(api::auth::Role::Integrator))
        .await;
    assert_eq!(integrator.status, StatusCode::FORBIDDEN);
    // `next` never leads to another site.
    let next = browser
        .post(
            "/portal/sign-in",
            &[("token", &alice()), ("next", "https://evil.example/")],
        )
        .await;
    assert_eq!(location(&next), "/portal/");
}

#[tokio::test]
async fn every_portal_response_carries_the_security_headers() {
    let app = TestApp::with_reference_data().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&alice()).await;
    for uri in [
        "/portal/sign-in",
        "/portal/declarations",
        "/portal/declarations/new",
        "/portal/batches",
        "/portal/no-such-page",
    ] {
        let answer = browser.get(uri).await;
        let h = &answer.headers;
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{uri}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{uri}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{uri}: {csp}");
        assert_eq!(h[header::CACHE_CONTROL], "no-store", "{uri}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{uri}");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY", "{uri}");
        assert!(
            h[header::STRICT_TRANSPORT_SECURITY]
                .to_str()
                .unwrap()
                .starts_with("max-age=")
        );
        // No inline script anywhere: every script is a file of this origin.
        let html = text(&answer);
        assert!(!html.contains("<script>"), "{uri}");
    }
    let missing = browser.get("/portal/no-such-page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(text(&missing).contains("Page not found"));
}

#[tokio::test]
async fn forms_without_the_session_token_or_from_another_site_change_nothing() {
    let app = TestApp::with_reference_data().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&alice()).await;
    let head = app.store.head_position().await.unwrap();
    let mut fields = form_fields(&filing("ACME", "CSRF-1", "US"));

    // No token, a wrong token.
    for csrf in [None, Some("0".repeat(64))] {
        let mut sent = fields.clone();
        if let Some(csrf) = csrf {
            sent.push(("csrf".to_owned(), csrf));
        }
        let pairs: Vec<(&str, &str)> = sent.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let answer = browser.post("/portal/declarations/new", &pairs).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        assert!(text(&answer).contains("The form has expired"));
    }

    // The right token, but the browser says the form came from another site.
    fields.push(("csrf".to_owned(), browser.csrf().await));
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for headers in [
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
        vec![("origin", "https://evil.example")],
    ] {
        let answer = browser
            .post_with("/portal/declarations/new", &pairs, &headers)
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{headers:?}");
    }
    // Sign-in is guarded the same way (login CSRF).
    let answer = browser
        .post_with(
            "/portal/sign-in",
            &[("token", &alice())],
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.store.head_position().await.unwrap(),
        head,
        "nothing was written"
    );

    // The same form from the portal itself is filed.
    let answer = browser.post("/portal/declarations/new", &pairs).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", text(&answer));
    assert!(location(&answer).ends_with("?done=filed"));
    assert!(app.store.head_position().await.unwrap() > head);
}

#[tokio::test]
async fn every_text_field_is_escaped_on_every_page() {
    let app = TestApp::with_reference_data().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&alice()).await;
    let evil = "<script>alert(\"x\")</script>'\"&";
    // Every text field at once: a rejected filing shows every value again.
    let mut input = filing("ACME", evil, "US");
    for field in [
        "importer",
        "exporter",
        "customsOffice",
        "dispatchCountry",
        "invoiceCurrency",
        "invoiceAmount",
    ] {
        input["header"][field] = json!(evil);
    }
    for field in [
        "hsCode",
        "description",
        "originCountry",
        "preferenceClaim",
        "quantity",
        "unit",
        "netMass",
        "grossMass",
        "invoiceValue",
    ] {
        input["items"][0][field] = json!(evil);
    }
    let answer = file(&mut browser, &input).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = text(&answer);
    assert!(
        !html.contains("<script>alert"),
        "unescaped markup in the form"
    );
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'&quot;&amp;"));

    // A valid filing whose free text holds markup: the result page escapes it too.
    let mut input = filing("ACME", "ESC-1", "US");
    input["items"][0]["description"] = json!(evil);
    let answer = file(&mut browser, &input).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", text(&answer));
    let detail = browser.get(location(&answer)).await;
    let html = text(&detail);
    assert!(html.contains("&lt;script&gt;alert"));
    assert!(!html.contains("<script>alert"));
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_address_without_locking_the_account_out() {
    let app = TestApp::with(|store, keys| {
        api::AppState::new(store, keys).with_portal(PortalState::new(
            Timeouts::default(),
            SignInLimit::new(2, Duration::from_secs(3600)),
        ))
    })
    .await;
    let mut attacker = Browser::new(&app).from("10.0.0.66:4000");
    for _ in 0..2 {
        assert_eq!(
            attacker.sign_in("guess").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = attacker.sign_in("guess").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers.contains_key(header::RETRY_AFTER));
    assert!(text(&limited).contains("Too many sign-in attempts"));
    // Even a right token waits at that address...
    assert_eq!(
        attacker.sign_in(&alice()).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...while alice, elsewhere, signs in: the account is never locked.
    let mut alice_browser = Browser::new(&app).from("10.0.0.7:4000");
    assert_eq!(
        alice_browser.sign_in(&alice()).await.status,
        StatusCode::SEE_OTHER
    );
    // Pages are not limited.
    for _ in 0..5 {
        assert_eq!(attacker.get("/portal/sign-in").await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn an_idle_session_expires_and_the_sign_in_page_says_so() {
    let app = TestApp::with(|store, keys| {
        let timeouts = Timeouts {
            idle: Duration::from_secs(1),
            absolute: Duration::from_secs(3600),
        };
        api::AppState::new(store, keys)
            .with_portal(PortalState::new(timeouts, SignInLimit::default()))
    })
    .await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&alice()).await;
    assert_eq!(
        browser.get("/portal/declarations/new").await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let expired = browser.get("/portal/declarations/new").await;
    assert_eq!(expired.status, StatusCode::SEE_OTHER);
    let to = location(&expired).to_owned();
    assert!(to.contains("expired=1"), "{to}");
    assert!(text(&browser.get(&to).await).contains("Your session has expired"));
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_timeout_however_active() {
    let app = TestApp::with(|store, keys| {
        let timeouts = Timeouts {
            idle: Duration::from_secs(3600),
            absolute: Duration::from_secs(1),
        };
        api::AppState::new(store, keys)
            .with_portal(PortalState::new(timeouts, SignInLimit::default()))
    })
    .await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&alice()).await;
    for _ in 0..3 {
        assert_eq!(
            browser.get("/portal/declarations/new").await.status,
            StatusCode::OK
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let ended = browser.get("/portal/declarations/new").await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    assert!(location(&ended).contains("expired=1"));
}

#[tokio::test]
async fn a_declarant_sees_only_its_own_organisation() {
    let app = TestApp::with_reference_data().await;
    let mut alice_browser = Browser::new(&app);
    alice_browser.sign_in(&alice()).await;
    let filed = file(&mut alice_browser, &filing("ACME", "OWN-1", "VN")).await;
    let detail = location(&filed).split('?').next().unwrap().to_owned();
    assert_eq!(alice_browser.get(&detail).await.status, StatusCode::OK);

    let mut bob = Browser::new(&app);
    bob.sign_in(&declarant_token("bob", "OTHER")).await;
    for uri in [
        detail.clone(),
        format!("{detail}/panel"),
        format!("{detail}/live"),
        format!("{detail}/amend"),
    ] {
        let answer = bob.get(&uri).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{uri}");
        assert!(!text(&answer).contains("OWN-1"), "{uri}");
    }
    let csrf = bob.csrf().await;
    let withdraw = bob
        .post(
            &format!("{detail}/withdraw"),
            &[("csrf", &csrf), ("reason", "mine now")],
        )
        .await;
    assert_eq!(withdraw.status, StatusCode::NOT_FOUND);
    // Nor does a signed-out browser learn anything.
    let mut anonymous = Browser::new(&app);
    assert_eq!(anonymous.get(&detail).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_open_declaration_is_withdrawn_and_then_offers_no_more_actions() {
    let app = TestApp::with_reference_data().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&alice()).await;
    let filed = file(&mut browser, &filing("ACME", "WD-1", "VN")).await;
    let detail = location(&filed).split('?').next().unwrap().to_owned();
    let page = text(&browser.get(&detail).await);
    assert!(page.contains("data-status=\"AWAITING_INSPECTION\""));
    assert!(
        page.contains("/withdraw"),
        "an open declaration offers withdrawal"
    );
    let csrf = csrf_of(&page);
    let withdrawn = browser
        .post(
            &format!("{detail}/withdraw"),
            &[("csrf", &csrf), ("reason", "sent twice")],
        )
        .await;
    assert_eq!(withdrawn.status, StatusCode::SEE_OTHER);
    let page = text(&browser.get(&detail).await);
    assert!(page.contains("data-status=\"WITHDRAWN\""));
    assert!(
        !page.contains("/withdraw\""),
        "no withdraw form once withdrawn"
    );
    assert!(!page.contains("/amend\""), "no amend link once withdrawn");
    // Sending the form again is refused with the reason, not a crash.
    let again = browser
        .post(
            &format!("{detail}/withdraw"),
            &[("csrf", &csrf), ("reason", "again")],
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn rejected_items_download_as_csv_with_formulas_defused() {
    let app = TestApp::with_reference_data().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&alice()).await;
    let mut bad = filing("ACME", "-SUM", "US");
    bad["items"][0]["hsCode"] = json!("99");
    let mut worse = filing("ACME", "=HYPERLINK(1)", "US");
    worse["items"][0]["hsCode"] = json!("@1");
    let body = format!("{}\n{}\n{}\n", filing("ACME", "OK-1", "US"), bad, worse);
    let id = uuid::Uuid::now_v7();
    let csrf = browser.csrf().await;
    let boundary = "XBOUNDARYX";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"batch_id\"\r\n\r\n{id}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"format\"\r\n\r\n\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.ndjson\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n{body}\r\n--{boundary}--\r\n"
    );
    let request = Request::post("/portal/batches")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(multipart.clone()))
        .unwrap();
    let answer = browser.send(request).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", text(&answer));
    assert_eq!(location(&answer), format!("/portal/batches/{id}"));
    let page = text(&browser.get(&format!("/portal/batches/{id}")).await);
    assert!(page.contains("data-batch-status=\"COMPLETED\""));
    assert!(page.contains("<dd data-rejected>2</dd>"), "{page}");

    // The same form sent again (a double click) files nothing more.
    let head = app.store.head_position().await.unwrap();
    let request = Request::post("/portal/batches")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(multipart))
        .unwrap();
    assert_eq!(browser.send(request).await.status, StatusCode::SEE_OTHER);
    let page = text(&browser.get(&format!("/portal/batches/{id}")).await);
    assert!(page.contains("<dd data-items>3</dd>"), "{page}");
    assert!(page.contains("<dd data-accepted>1</dd>"), "{page}");
    let declarations_after: Vec<_> = app
        .store
        .read_all(head, eventstore::Filter::categories(["declaration"]), 100)
        .collect::<Vec<_>>()
        .await;
    assert!(
        declarations_after.is_empty(),
        "no declaration event on retransmission"
    );

    let csv = browser
        .get(&format!("/portal/batches/{id}/rejected.csv"))
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let csv = text(&csv);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(rows.len() >= 2, "{csv}");
    assert!(rows.iter().any(|r| &r[2] == "'-SUM"), "{csv}");
    for row in &rows {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "formula cell {cell:?} in {csv}"
            );
        }
    }

    // Another organisation gets nothing.
    let mut bob = Browser::new(&app);
    bob.sign_in(&declarant_token("bob", "OTHER")).await;
    assert_eq!(
        bob.get(&format!("/portal/batches/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        bob.get(&format!("/portal/batches/{id}/rejected.csv"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_tariff_is_searched_by_code_or_words_for_signed_in_users_only() {
    let app = TestApp::with_reference_data().await;
    let mut browser = Browser::new(&app);
    let anonymous = browser.get("/portal/reference/tariff?q=portable").await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    browser.sign_in(&alice()).await;
    let found = browser.get("/portal/reference/tariff?q=portable").await;
    assert_eq!(found.status, StatusCode::OK);
    let lines = found.body.as_array().unwrap();
    assert!(
        lines.iter().any(|l| l["hsCode"] == "8471300000"),
        "{}",
        found.body
    );
    let by_code = browser.get("/portal/reference/tariff?q=8471").await;
    let codes = by_code.body.as_array().unwrap();
    assert!(!codes.is_empty() && codes.len() <= 20);
    assert!(
        codes
            .iter()
            .all(|l| l["hsCode"].as_str().unwrap().starts_with("8471"))
    );
    // One character is too little to search.
    assert_eq!(
        browser.get("/portal/reference/tariff?q=8").await.body,
        json!([])
    );

    // The GraphQL field behind it checks its arguments.
    let token = alice();
    let query = "query T($s: String!, $n: Int!) { tariffLines(search: $s, first: $n) { hsCode } }";
    let answer = app
        .graphql_vars(Some(&token), query, json!({ "s": "8471", "n": 3 }))
        .await;
    assert_eq!(answer["data"]["tariffLines"].as_array().unwrap().len(), 3);
    let refused = app
        .graphql_vars(Some(&token), query, json!({ "s": "8471", "n": 0 }))
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"],
        "INVALID_ARGUMENT"
    );
    assert_eq!(refused["errors"][0]["extensions"]["field"], "first");
    let anonymous = app
        .graphql_vars(None, query, json!({ "s": "8471", "n": 3 }))
        .await;
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
}

#[tokio::test]
async fn the_list_pages_through_a_declarants_declarations_with_filters() {
    let (app, runner) = TestApp::with_read_model().await;
    let token = alice();
    for i in 0..23 {
        let origin = if i % 2 == 0 { "US" } else { "VN" };
        app.file_ok(&token, filing("ACME", &format!("LIST-{i:02}"), origin))
            .await;
    }
    app.file_ok(
        &declarant_token("bob", "OTHER"),
        filing("OTHER", "NOT-MINE", "US"),
    )
    .await;
    runner.catch_up().await.unwrap();
    let mut browser = Browser::new(&app);
    browser.sign_in(&token).await;
    let first = text(&browser.get("/portal/declarations").await);
    assert_eq!(first.matches("LIST-").count(), 20);
    assert!(!first.contains("NOT-MINE"));
    let next = first
        .split("rel=\"next\"")
        .next()
        .and_then(|before| before.rsplit("href=\"").next())
        .map(|href| href.split('"').next().unwrap().replace("&amp;", "&"))
        .unwrap();
    let second = text(&browser.get(&next).await);
    assert_eq!(second.matches("LIST-").count(), 3);
    // Yellow ones only: the eleven from Viet Nam.
    let yellow = text(&browser.get("/portal/declarations?lane=YELLOW").await);
    assert_eq!(yellow.matches("LIST-").count(), 11);
    // An unknown filter value is ignored, not an error.
    let odd = browser
        .get("/portal/declarations?status=%3Cx%3E&from=never")
        .await;
    assert_eq!(odd.status, StatusCode::OK);
}

#[tokio::test]
async fn an_open_live_page_does_not_hold_up_shutdown() {
    let app = TestApp::with_reference_data().await;
    let filed = app.file_ok(&alice(), filing("ACME", "LIVE-1", "VN")).await;
    let id = filed["id"].as_str().unwrap().to_owned();
    let server = api::App::bind("127.0.0.1:0".parse().unwrap(), app.state.clone())
        .await
        .unwrap();
    let base = format!("http://{}", server.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run_until(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = client
        .post(format!("{base}/portal/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body(serde_urlencoded::to_string([("token", alice())]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = signed_in.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let live = client
        .get(format!("{base}/portal/declarations/{id}/live"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    assert_eq!(live.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut events = live.bytes_stream();

    // An officer's acceptance reaches the open stream.
    let officer = common::token_for(api::auth::Role::Officer);
    let inspect = format!(
        "mutation {{ recordInspection(id: \"{id}\", kind: DOCUMENTARY, result: COMPLIANT) {{ status }} }}"
    );
    app.graphql_with_token(&officer, &inspect).await;
    let received = tokio::time::timeout(Duration::from_secs(10), async {
        let mut text = String::new();
        while !text.contains("event: changed") {
            let chunk = events.next().await.unwrap().unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    })
    .await
    .expect("a change event within 10 s");
    assert!(received.contains("data: 4"), "{received}");

    // Shutting down ends the stream instead of waiting for the browser to leave.
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("the server stops within 10 s with a live page open")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn an_upload_without_its_token_files_nothing_however_large_its_fields() {
    let app = TestApp::with_reference_data().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&alice()).await;
    let head = app.store.head_position().await.unwrap();
    let boundary = "XBOUNDARYX";
    let huge = "a".repeat(1 << 20);
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{huge}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.ndjson\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n{}\n\r\n--{boundary}--\r\n",
        filing("ACME", "NO-TOKEN", "US")
    );
    let request = Request::post("/portal/batches")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(body))
        .unwrap();
    let answer = browser.send(request).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(app.store.head_position().await.unwrap(), head);
}
