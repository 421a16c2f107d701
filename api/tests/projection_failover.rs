//! Projections run by real `aduana serve` processes.
//!
//! Two processes on one PostgreSQL: each projection runs in exactly one of them (the other
//! stands by); when that process is killed with SIGKILL, the other takes over within seconds,
//! and the declarations read model holds every declaration filed before and after the kill
//! exactly once. Runs when `ADUANA_TEST_DATABASE_URL` names a server (fails instead of skipping
//! when `ADUANA_REQUIRE_POSTGRES=1`). SQLite serves one process per database, so it has no
//! failover.
//!
//! On both backends: `aduana projections rebuild declarations` beside a running server rebuilds
//! the read model into a new generation while the list keeps answering in full.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aduana_tests::{Backend, TestDb};
use common::declarations::filing;
use common::process::{Server, Site, http_client};
use serde_json::{Value, json};

/// How long a takeover may take before the test fails (the standby polls every second).
const TAKEOVER_LIMIT: Duration = Duration::from_secs(15);

async fn graphql(addr: SocketAddr, token: &str, query: &str, variables: Value) -> Value {
    let body: Value = http_client()
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

/// Each projection's state in the server at `addr`.
async fn states(addr: SocketAddr, admin: &str) -> BTreeMap<String, String> {
    let data = graphql(addr, admin, "{ projections { name state } }", json!({})).await;
    data["projections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Waits until `check` holds, or fails with `what` after `limit`.
async fn wait_for<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

async fn file(addr: SocketAddr, token: &str, lrn: &str) {
    let query = "mutation F($input: DeclarationInput!) { fileDeclaration(input: $input) { id } }";
    graphql(
        addr,
        token,
        query,
        json!({ "input": filing("ACME", lrn, "US") }),
    )
    .await;
}

/// The LRNs in the declarations list, with how often each appears.
async fn listed(addr: SocketAddr, token: &str) -> BTreeMap<String, usize> {
    let data = graphql(
        addr,
        token,
        "{ declarations(first: 100) { edges { node { lrn } } } }",
        json!({}),
    )
    .await;
    let mut seen = BTreeMap::new();
    for edge in data["declarations"]["edges"].as_array().unwrap() {
        *seen
            .entry(edge["node"]["lrn"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    seen
}

/// The site's reference data, and an admin's and a declarant's (alice of ACME) tokens.
async fn prepare(site: &Site) -> (String, String) {
    site.run(&["reference", "import", "--sample"]).await;
    let token = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            site.run(&args)
                .await
                .trim()
                .lines()
                .last()
                .unwrap()
                .to_owned()
        }
    };
    let admin = token(&["token", "issue", "--subject", "root", "--role", "admin"]).await;
    let alice = token(&[
        "token",
        "issue",
        "--subject",
        "alice",
        "--role",
        "declarant",
        "--org",
        "ACME",
    ])
    .await;
    (admin, alice)
}

#[tokio::test]
async fn a_killed_projection_leader_is_replaced_within_seconds() {
    let Some(db) = TestDb::create(Backend::Postgres).await else {
        assert!(
            std::env::var("ADUANA_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "ADUANA_REQUIRE_POSTGRES=1 but ADUANA_TEST_DATABASE_URL is not set"
        );
        return;
    };
    let site = Site::new(&db);
    let (admin, alice) = prepare(&site).await;
    let first = site.serve("first").await;
    let second = site.serve("second").await;

    // Exactly one process runs each projection.
    let started = Instant::now();
    let first_leads = loop {
        let (a, b) = (
            states(first.addr, &admin).await,
            states(second.addr, &admin).await,
        );
        let one_each = a
            .iter()
            .all(|(name, state)| (state == "STANDBY") != (b[name] == "STANDBY"));
        if one_each && a.len() == api::cli::PROJECTIONS.len() {
            break a["declarations"] != "STANDBY";
        }
        assert!(
            started.elapsed() < TAKEOVER_LIMIT,
            "one leader per projection: {a:?} {b:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (leading, survivor): (Server, Server) = if first_leads {
        (first, second)
    } else {
        (second, first)
    };
    for i in 0..5 {
        file(survivor.addr, &alice, &format!("BEFORE-{i}")).await;
    }
    wait_for(
        TAKEOVER_LIMIT,
        "the leader projects the filings",
        || async { listed(survivor.addr, &alice).await.len() == 5 },
    )
    .await;

    leading.kill().await;
    for i in 0..5 {
        file(survivor.addr, &alice, &format!("AFTER-{i}")).await;
    }
    let took = wait_for(TAKEOVER_LIMIT, "the survivor takes over", || async {
        states(survivor.addr, &admin)
            .await
            .values()
            .all(|state| state != "STANDBY")
    })
    .await;
    eprintln!("takeover after the kill: {took:?}");
    wait_for(TAKEOVER_LIMIT, "every filing in the list", || async {
        listed(survivor.addr, &alice).await.len() == 10
    })
    .await;
    let seen = listed(survivor.addr, &alice).await;
    assert!(seen.values().all(|n| *n == 1), "each once: {seen:?}");
    drop(survivor);
    let store = db.open().await;
    db.finish(store).await;
}

aduana_tests::on_every_backend! {
    an_operator_rebuilds_a_read_model_beside_a_running_server => rebuild_beside_server;
}

async fn rebuild_beside_server(db: TestDb) {
    let site = Site::new(&db);
    let (admin, alice) = prepare(&site).await;
    let server = site.serve("only").await;
    for i in 0..20 {
        file(server.addr, &alice, &format!("R-{i}")).await;
    }
    wait_for(TAKEOVER_LIMIT, "the filings in the list", || async {
        listed(server.addr, &alice).await.len() == 20
    })
    .await;
    // The list answers in full all through the rebuild.
    let addr = server.addr;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (alice, done) = (alice.clone(), done.clone());
        tokio::spawn(async move {
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let seen = listed(addr, &alice).await;
                assert_eq!(seen.len(), 20, "a query saw a partial model: {seen:?}");
                assert!(seen.values().all(|n| *n == 1), "{seen:?}");
                reads += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            reads
        })
    };
    let output = site.run(&["projections", "rebuild", "declarations"]).await;
    let result: Value = serde_json::from_str(output.trim()).unwrap();
    assert_eq!(result["generation"], 2, "{result}");
    assert_eq!(result["state"], "serving", "{result}");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(
        reader.await.unwrap() > 0,
        "the list was queried during the rebuild"
    );
    let generation = graphql(
        server.addr,
        &admin,
        "{ projections { name generation } }",
        json!({}),
    )
    .await;
    let declarations = generation["projections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "declarations")
        .unwrap()
        .clone();
    assert_eq!(declarations["generation"], 2, "{declarations}");
    // An unknown projection is refused with the names there are.
    let mut unknown = site.command(&["projections", "rebuild", "declaration"]);
    let refused = unknown.output().await.unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("declarations, batches"), "{stderr}");
    drop(server);
    let store = db.open().await;
    db.finish(store).await;
}
