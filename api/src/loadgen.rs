//! `aduana bench file`: open-loop load through GraphQL over HTTP. Declarations of N items are
//! filed at a fixed rate, each on schedule whether or not earlier ones have answered, and each
//! latency is measured from the moment it was due (so a slow server cannot hide its queue:
//! no coordinated omission).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// Tariff codes of the sample reference data with plain ad-valorem duties.
const CODES: [&str; 8] = [
    "8471300000",
    "8517620000",
    "6109100000",
    "9403600000",
    "8708990000",
    "3004900000",
    "6403990000",
    "8528720000",
];
const ORIGINS: [&str; 5] = ["US", "CN", "DE", "JP", "VN"];
/// Requests in flight at most; past it the generator reports the backlog as errors.
const MAX_IN_FLIGHT: usize = 1024;

pub(crate) const MUTATION: &str = "mutation File($input: DeclarationInput!) { \
    fileDeclaration(input: $input) { id status lane } }";

#[derive(Debug, Clone)]
pub struct FileLoad {
    /// Base URL of the server, e.g. `http://127.0.0.1:8080`.
    pub server: String,
    /// A declarant's bearer token.
    pub token: String,
    /// The declarant organisation the token is for.
    pub declarant: String,
    pub rate: u32,
    pub seconds: u32,
    pub items: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileLoadReport {
    pub bench: &'static str,
    pub rate: u32,
    pub items: usize,
    pub requests: u64,
    /// Filings lodged (valid: given a lane and duties).
    pub lodged: u64,
    /// Filings the server answered with validation errors or a refusal.
    pub rejected: u64,
    /// Transport failures, HTTP errors and GraphQL errors.
    pub errors: u64,
    pub seconds: f64,
    pub achieved_rate: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub lanes: BTreeMap<String, u64>,
    pub first_error: Option<String>,
}

enum Answer {
    Filed { lane: String, rejected: bool },
    Failed(String),
}

/// Runs the load and reports latencies measured from each request's due time.
pub async fn file_load(load: &FileLoad) -> Result<FileLoadReport, String> {
    if load.rate == 0 || load.seconds == 0 || load.items == 0 || load.items > 999 {
        return Err("rate, seconds and items (1..=999) must be positive".into());
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(MAX_IN_FLIGHT)
        .build()
        .map_err(|e| format!("http client: {e}"))?;
    let url = format!("{}/graphql", load.server.trim_end_matches('/'));
    let total = u64::from(load.rate) * u64::from(load.seconds);
    let period = Duration::from_secs_f64(1.0 / f64::from(load.rate));
    let run = uuid::Uuid::now_v7().simple().to_string();
    let limit = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for n in 0..total {
        let due = start + period.mul_f64(n as f64);
        tokio::time::sleep_until(due.into()).await;
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tasks.push(tokio::spawn(async move {
                (due.elapsed(), Answer::Failed("client backlog full".into()))
            }));
            continue;
        };
        let body = json!({
            "query": MUTATION,
            "variables": { "input": filing(&load.declarant, &run, n, load.items) },
        });
        let request = client.post(&url).bearer_auth(&load.token).json(&body);
        tasks.push(tokio::spawn(async move {
            let answer = match request.send().await {
                Ok(response) => match response.json::<Value>().await {
                    Ok(value) => interpret(&value),
                    Err(e) => Answer::Failed(format!("unreadable response: {e}")),
                },
                Err(e) => Answer::Failed(format!("request failed: {e}")),
            };
            drop(permit);
            (due.elapsed(), answer)
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut report = FileLoadReport {
        bench: "file",
        rate: load.rate,
        items: load.items,
        requests: total,
        lodged: 0,
        rejected: 0,
        errors: 0,
        seconds: 0.0,
        achieved_rate: 0.0,
        p50_ms: 0.0,
        p90_ms: 0.0,
        p99_ms: 0.0,
        max_ms: 0.0,
        lanes: BTreeMap::new(),
        first_error: None,
    };
    for task in tasks {
        let (latency, answer) = task.await.map_err(|e| format!("load task: {e}"))?;
        latencies.push(latency);
        match answer {
            Answer::Filed { lane, rejected } => {
                if rejected {
                    report.rejected += 1;
                } else {
                    report.lodged += 1;
                }
                *report.lanes.entry(lane).or_default() += 1;
            }
            Answer::Failed(error) => {
                report.errors += 1;
                report.first_error.get_or_insert(error);
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pick = |p: f64| {
        let rank = ((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len().max(1));
        latencies
            .get(rank - 1)
            .map_or(0.0, |d| round(d.as_secs_f64() * 1000.0))
    };
    report.seconds = round(elapsed);
    report.achieved_rate = round(total as f64 / elapsed);
    report.p50_ms = pick(0.50);
    report.p90_ms = pick(0.90);
    report.p99_ms = pick(0.99);
    report.max_ms = pick(1.0);
    Ok(report)
}

fn interpret(value: &Value) -> Answer {
    if let Some(errors) = value.get("errors").and_then(Value::as_array)
        && let Some(first) = errors.first()
    {
        return Answer::Failed(first.to_string());
    }
    let filed = &value["data"]["fileDeclaration"];
    let status = filed["status"].as_str().unwrap_or_default();
    Answer::Filed {
        lane: filed["lane"].as_str().unwrap_or("NONE").to_owned(),
        rejected: status.eq_ignore_ascii_case("rejected"),
    }
}

/// A valid import declaration of `items` lines, CIF in US dollars, unique by LRN.
pub(crate) fn filing(declarant: &str, run: &str, n: u64, items: usize) -> Value {
    let lines: Vec<Value> = (0..items)
        .map(|i| {
            let k = n as usize + i;
            json!({
                "hsCode": CODES[k % CODES.len()],
                "description": "Benchmark goods",
                "originCountry": ORIGINS[k % ORIGINS.len()],
                "quantity": "10",
                "unit": "H87",
                "netMass": "12.5",
                "grossMass": "14",
                "invoiceValue": "1000.00",
            })
        })
        .collect();
    json!({
        "header": {
            "declarationType": "import",
            "lrn": format!("B{}-{n}", &run[..12]),
            "declarant": declarant,
            "importer": "IMP42",
            "customsOffice": "30",
            "transportMode": "40",
            "dispatchCountry": "US",
            "incoterm": "CIF",
            "invoiceCurrency": "USD",
            "invoiceAmount": format!("{}.00", 1000 * items),
        },
        "items": lines,
    })
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
