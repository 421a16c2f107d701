//! Crash test of batch transmission, on the real binary: `aduana serve` is killed with SIGKILL
//! in the middle of a batch, started again on the same database, and the whole batch is sent
//! again with the same `Idempotency-Key`. Then the batch is completed with every line accepted,
//! every LRN has exactly one declaration stream holding exactly one `DeclarationFiled`, none is
//! missing, and the declarations read model holds the same declarations with the same statuses
//! and versions as the streams (docs/batch-recovery.md).
//!
//! SQLite always runs; PostgreSQL runs on a fresh database when `ADUANA_TEST_DATABASE_URL`
//! names a server (and fails instead of skipping when `ADUANA_REQUIRE_POSTGRES=1`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use std::time::{Duration, Instant};

use aduana_tests::{Backend, TestDb};
use bytes::Bytes;
use common::process::{Server, Site, http_client};
use domain::DomainEvent;
use domain::batch::{ItemOutcome, ItemResult};
use domain::codes::{Lrn, PartyId};
use domain::declaration::{Declaration, DeclarationEvent, declaration_id, evolve};
use eventstore::{EventStore, Filter, StoreOptions};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use uuid::Uuid;

/// Declarations in the batch.
const LINES: usize = 3000;
/// The upload sends this many lines at a time, with a pause between (about 1,300 lines/s).
const CHUNK_LINES: usize = 20;
const CHUNK_PAUSE: Duration = Duration::from_millis(15);
/// The server is killed once this many results are recorded (plus a random moment, so that
/// the kill does not coincide with a recording).
const KILL_AFTER_ITEMS: u64 = 300;
/// How long any one step may take before the test gives up.
const STEP_LIMIT: Duration = Duration::from_secs(45);
const DECLARANT: &str = "ACME";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_batch_interrupted_by_a_crash_is_completed_once_when_sent_again() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    crash_mid_batch_and_resume(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_batch_interrupted_by_a_crash_is_completed_once_when_sent_again() {
    let Some(db) = TestDb::create(Backend::Postgres).await else {
        assert!(
            std::env::var("ADUANA_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "ADUANA_REQUIRE_POSTGRES=1 but {} is not set",
            aduana_tests::PG_URL_VAR
        );
        return;
    };
    crash_mid_batch_and_resume(db).await;
}

async fn crash_mid_batch_and_resume(db: TestDb) {
    let started = Instant::now();
    let site = Site::new(&db);
    site.run(&["reference", "import", "--sample"]).await;
    let token = site
        .run(&[
            "token",
            "issue",
            "--subject",
            "crash-test",
            "--role",
            "declarant",
            "--org",
            DECLARANT,
        ])
        .await;
    let token = token.lines().last().unwrap().trim().to_owned();
    let batch_id = Uuid::new_v4();
    let (lrns, lines) = batch_lines();

    // First transmission, throttled, killed once some results are recorded.
    let server = site.serve("first").await;
    let client = Client::new(server.addr, &token, batch_id);
    let upload = tokio::spawn(client.clone().submit(throttled(lines.clone())));
    let seen = wait_for_items(&client, &server, KILL_AFTER_ITEMS).await;
    let jitter = Duration::from_millis(u64::try_from(Uuid::new_v4().as_u128() % 300).unwrap());
    tokio::time::sleep(jitter).await;
    server.kill().await;
    let cut = tokio::time::timeout(STEP_LIMIT, upload)
        .await
        .unwrap()
        .unwrap();
    assert!(cut.is_err() || cut.as_ref().is_ok_and(|(status, _)| *status != 200));
    let killed_at = started.elapsed();

    // Restart on the same database: the batch stands where the crash left it.
    let server = site.serve("second").await;
    let client = Client::new(server.addr, &token, batch_id);
    let before = client.status().await.expect("the batch is recorded");
    assert_ne!(
        before["status"], "completed",
        "the kill came too late: {before}"
    );
    let recorded_before = before["items"].as_u64().unwrap();
    assert!(
        recorded_before >= seen && recorded_before < LINES as u64,
        "{before}"
    );

    // Sending the whole batch again with the same key completes it.
    let body = reqwest::Body::from(lines.concat());
    let (status, answer) = tokio::time::timeout(STEP_LIMIT, client.clone().submit(body))
        .await
        .unwrap_or_else(|_| panic!("resubmission hung; server log:\n{}", server.log_tail()))
        .unwrap();
    assert_eq!(status, 200, "{answer}\n{}", server.log_tail());
    assert_eq!(answer["status"], "completed", "{answer}");
    assert_eq!(answer["items"], LINES, "{answer}");
    assert_eq!(answer["accepted"], LINES, "{answer}");
    assert_eq!(answer["rejected"], 0, "{answer}");
    let replayed = answer["replayed"].as_u64().unwrap();

    // One result per line, in order, each naming the declaration of its LRN.
    let results = client.results().await;
    assert_eq!(results.len(), LINES);
    for (n, (result, lrn)) in results.iter().zip(&lrns).enumerate() {
        assert_eq!(result.item, n as u64 + 1);
        assert_eq!(result.lrn.as_deref(), Some(lrn.as_str()));
        match &result.outcome {
            ItemOutcome::Accepted { declaration_id, .. } => {
                assert_eq!(*declaration_id, expected_id(lrn));
            }
            ItemOutcome::Rejected { errors, .. } => panic!("item {} rejected: {errors:?}", n + 1),
        }
    }

    wait_for_projection(&db.url, &server).await;
    let resumed_at = started.elapsed();
    server.kill().await;

    // The log: exactly one declaration per LRN, filed once, none missing.
    let store = EventStore::open(&db.url, StoreOptions::default())
        .await
        .unwrap();
    let streams = declaration_streams(&store).await;
    let expected: BTreeSet<String> = lrns.iter().map(|l| expected_id(l).to_string()).collect();
    let found: BTreeSet<String> = streams.keys().cloned().collect();
    let missing: Vec<_> = expected.difference(&found).collect();
    let extra: Vec<_> = found.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} declarations missing, {} unexpected: {missing:?} {extra:?}",
        missing.len(),
        extra.len()
    );
    for (id, stream) in &streams {
        assert_eq!(stream.first, "DeclarationFiled", "declaration-{id}");
        assert_eq!(
            stream.filed, 1,
            "declaration-{id} is filed {} times",
            stream.filed
        );
        assert_eq!(stream.rejected, 0, "declaration-{id}");
    }
    let report = store.verify_all().await.unwrap();
    assert!(report.broken.is_none(), "{report:?}");

    // The read model: the same declarations, statuses and versions.
    let rows = read_model(&db.url).await;
    assert_eq!(rows.len(), streams.len(), "read model rows vs streams");
    for (id, stream) in &streams {
        let row = rows.get(id).unwrap_or_else(|| panic!("no row for {id}"));
        assert_eq!(row, &(stream.status.clone(), stream.version), "{id}");
    }

    eprintln!(
        "{:?}: killed after {} recorded results at {:.1} s, {} recorded before the restart, \
         {replayed} answered from the first transmission; completed and checked in {:.1} s",
        db.backend,
        seen,
        killed_at.as_secs_f64(),
        recorded_before,
        resumed_at.as_secs_f64(),
    );
    db.finish(store).await;
}

/// The batch API as the declarant sees it.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    batch_id: Uuid,
}

impl Client {
    fn new(addr: SocketAddr, token: &str, batch_id: Uuid) -> Self {
        Self {
            http: http_client(),
            base: format!("http://{addr}/api/v1/batches"),
            token: token.to_owned(),
            batch_id,
        }
    }

    /// POSTs the batch; the status and the answer, or the transport error.
    async fn submit(self, body: reqwest::Body) -> Result<(u16, Value), reqwest::Error> {
        let response = self
            .http
            .post(&self.base)
            .bearer_auth(&self.token)
            .header("content-type", "application/x-ndjson")
            .header("idempotency-key", self.batch_id.to_string())
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    /// The batch's status, or `None` while it is not recorded.
    async fn status(&self) -> Option<Value> {
        let response = self
            .http
            .get(format!("{}/{}", self.base, self.batch_id))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        if response.status() != 200 {
            return None;
        }
        response.json().await.ok()
    }

    async fn results(&self) -> Vec<ItemResult> {
        let response = self
            .http
            .get(format!("{}/{}/results", self.base, self.batch_id))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// Polls the batch until at least `items` results are recorded; returns how many were.
async fn wait_for_items(client: &Client, server: &Server, items: u64) -> u64 {
    let deadline = Instant::now() + STEP_LIMIT;
    loop {
        if let Some(status) = client.status().await {
            let recorded = status["items"].as_u64().unwrap_or(0);
            assert_ne!(status["status"], "completed", "completed before the kill");
            if recorded >= items {
                return recorded;
            }
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {items} results recorded after {} s; server log:\n{}",
            STEP_LIMIT.as_secs(),
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The batch as a slow client sends it: a few lines at a time.
fn throttled(lines: Vec<String>) -> reqwest::Body {
    let chunks: Vec<Bytes> = lines
        .chunks(CHUNK_LINES)
        .map(|chunk| Bytes::from(chunk.concat()))
        .collect();
    let stream = futures::stream::iter(chunks).then(|chunk| async move {
        tokio::time::sleep(CHUNK_PAUSE).await;
        Ok::<_, std::io::Error>(chunk)
    });
    reqwest::Body::wrap_stream(stream)
}

/// `LINES` valid filings (two laptop lines from the US, CIF in dollars), each with its own
/// LRN: the LRNs and the NDJSON lines.
fn batch_lines() -> (Vec<String>, Vec<String>) {
    let tag = &Uuid::new_v4().simple().to_string()[..8];
    let item = |value: &str| {
        json!({
            "hsCode": "8471300000",
            "description": "Portable computers",
            "originCountry": "US",
            "quantity": "10",
            "unit": "H87",
            "netMass": "25.5",
            "grossMass": "30",
            "invoiceValue": value,
        })
    };
    (1..=LINES)
        .map(|n| {
            let lrn = format!("CRASH-{tag}-{n:05}");
            let filing = json!({
                "header": {
                    "declarationType": "import",
                    "lrn": lrn,
                    "declarant": DECLARANT,
                    "importer": "IMP42",
                    "customsOffice": "30",
                    "transportMode": "40",
                    "dispatchCountry": "US",
                    "incoterm": "CIF",
                    "invoiceCurrency": "USD",
                    "invoiceAmount": "1500.00",
                },
                "items": [item("1000.00"), item("500.00")],
            });
            (lrn, format!("{filing}\n"))
        })
        .unzip()
}

fn expected_id(lrn: &str) -> Uuid {
    declaration_id(
        &PartyId::parse(DECLARANT).unwrap(),
        &Lrn::parse(lrn).unwrap(),
    )
}

/// A declaration stream as the log holds it.
#[derive(Debug, Default)]
struct StreamSummary {
    first: String,
    filed: usize,
    rejected: usize,
    version: i64,
    status: String,
}

/// Every `declaration-<uuid>` stream, by UUID.
async fn declaration_streams(store: &EventStore) -> BTreeMap<String, StreamSummary> {
    let mut streams: BTreeMap<String, (StreamSummary, Declaration)> = BTreeMap::new();
    let mut events =
        std::pin::pin!(store.read_all(0, Filter::categories(["declaration"]), usize::MAX));
    while let Some(recorded) = events.try_next().await.unwrap() {
        let id = recorded.stream_id["declaration-".len()..].to_owned();
        let (summary, state) = streams.entry(id).or_default();
        if recorded.stream_version == 1 {
            summary.first = recorded.event_type.clone();
        }
        match recorded.event_type.as_str() {
            "DeclarationFiled" => summary.filed += 1,
            "DeclarationRejected" => summary.rejected += 1,
            _ => {}
        }
        summary.version = i64::try_from(recorded.stream_version).unwrap();
        let event = DeclarationEvent::decode(
            &recorded.event_type,
            recorded.schema_version,
            &recorded.payload,
        )
        .unwrap();
        *state = evolve(std::mem::take(state), &event);
    }
    streams
        .into_iter()
        .map(|(id, (mut summary, state))| {
            summary.status = state.status.as_str().to_owned();
            (id, summary)
        })
        .collect()
}

async fn connect(url: &str) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(url).await.unwrap()
}

/// Waits until the declarations projection has applied the last declaration event.
async fn wait_for_projection(url: &str, server: &Server) {
    let mut conn = connect(url).await;
    let deadline = Instant::now() + STEP_LIMIT;
    loop {
        let (head, checkpoint): (i64, i64) = sqlx::query_as(
            "SELECT \
               (SELECT COALESCE(MAX(position), 0) FROM events WHERE category = 'declaration'), \
               (SELECT COALESCE(MAX(position), 0) FROM projection_generations \
                  WHERE name = 'declarations' AND state = 'serving')",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if checkpoint >= head {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the projection is at {checkpoint}, the log at {head}:\n{}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The read model's declarations: id → (status, version).
async fn read_model(url: &str) -> BTreeMap<String, (String, i64)> {
    let mut conn = connect(url).await;
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT id, status, version FROM declarations")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    rows.into_iter()
        .map(|(id, status, version)| (id, (status, version)))
        .collect()
}
