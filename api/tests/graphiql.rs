//! GraphiQL is served from files inside the binary, under a policy that allows only 'self'.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{StatusCode, header};
use common::TestApp;

// --- GraphiQL from the binary ---

#[tokio::test]
async fn the_graphiql_page_names_no_other_origin_and_allows_only_self() {
    let app = TestApp::new().await;
    let answer = app.get_answer("/graphql").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let policy = answer.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(policy.starts_with("default-src 'self';"), "{policy}");
    for source in policy.split(';').flat_map(|d| d.split_whitespace().skip(1)) {
        assert!(
            source == "'self'" || source == "'none'",
            "the policy allows {source}"
        );
    }
    assert_eq!(answer.headers[header::CACHE_CONTROL], "no-cache");

    let page = answer.body.as_str().unwrap();
    assert!(page.contains("<div id=\"graphiql\">"));
    let lower = page.to_ascii_lowercase();
    assert!(
        !lower.contains("http:") && !lower.contains("https:"),
        "{page}"
    );
    assert!(!lower.contains("\"//") && !lower.contains("'//"), "{page}");
    assert!(
        !lower.contains("<script>") && !lower.contains("<style"),
        "{page}"
    );
}

/// Every `src="..."` and `href="..."` of the page.
fn page_links(page: &str) -> Vec<String> {
    let mut links = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for part in page.split(attribute).skip(1) {
            links.push(part.split('"').next().unwrap().to_owned());
        }
    }
    links
}

#[tokio::test]
async fn every_file_the_page_loads_is_served_from_the_binary_with_a_long_cache() {
    let app = TestApp::new().await;
    let (_, page) = app.get("/graphql").await;
    let links = page_links(page.as_str().unwrap());
    assert_eq!(links.len(), 6, "{links:?}");
    for link in links {
        assert!(link.starts_with("/assets/"), "{link}");
        let answer = app.get_answer(&link).await;
        assert_eq!(answer.status, StatusCode::OK, "{link}");
        let content_type = answer.headers[header::CONTENT_TYPE].to_str().unwrap();
        let expected = if link.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else {
            "text/css; charset=utf-8"
        };
        assert_eq!(content_type, expected, "{link}");
        assert_eq!(
            answer.headers[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(answer.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
}

#[tokio::test]
async fn the_stylesheet_fonts_are_served_and_nothing_else_is() {
    let app = TestApp::new().await;
    let assets = api::graphql::graphiql::assets_path();
    let answer = app.get_answer(&format!("{assets}/graphiql-01.woff2")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers[header::CONTENT_TYPE], "font/woff2");
    let answer = app.get_answer(&format!("{assets}/LICENSE-graphiql")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.as_str().unwrap().contains("MIT License"));

    for missing in [
        format!("{assets}/nothing.js"),
        format!("{assets}/../Cargo.toml"),
        "/assets/0000000000000000/graphiql.min.js".to_owned(),
    ] {
        let status = app.get_answer(&missing).await.status;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    }
}
