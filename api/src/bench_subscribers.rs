//! `aduana bench subscribers`: many WebSocket subscribers to the event log of a running server
//! while declarations are filed, for issue 6's "1,000 concurrent subscribers while 1,000
//! events/s are appended: p99 delivery lag under 200 ms, server RSS reported".
//!
//! - Subscribers speak `graphql-transport-ws` (connection_init, subscribe, next) with
//!   tokio-tungstenite, the client the subscription tests use; a bench client needs no more of
//!   the protocol. Each subscribes to `events(after: <head>)`, every category, so it must
//!   receive every position after the head exactly once, in order ([`stats::Sequence`]).
//! - Events are appended through the server's own write path: `fileDeclaration` over HTTP,
//!   open loop (each filing on schedule whether or not earlier ones answered). The server's
//!   own commits wake its subscriptions in process, as in production; appending from this
//!   process into the same database would wake a SQLite server only by its 1 s re-read of
//!   the head, measuring the fallback instead of the fan-out.
//! - Lag per (event, subscriber) = when the client read the message − the event's
//!   `recordedAt` (the store's clock when it planned the commit, so the commit itself is
//!   counted); both clocks are this machine's.
//! - RSS and CPU come from `/proc/<pid>` of the server (`--server-pid`) and of this process,
//!   sampled during the run.

mod stats;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::Args;
use futures::{SinkExt as _, StreamExt as _};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinError;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use crate::batch_client::{Credentials, ServerArgs};
use crate::graphql::ws::PROTOCOL;
use crate::loadgen;
pub use stats::{LagHistogram, Outcome, ProcReading, Received, SecondReport, Sequence, Timeline};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Filings made before the run: they warm the server and measure events per filing.
const WARM_UP_FILINGS: u64 = 40;
/// Item lines per filing (events carry them; subscribers select only position and time).
const ITEMS: usize = 3;
/// Handshakes in flight at once: more would overflow the listener's accept queue.
const CONNECTING_AT_ONCE: usize = 64;
/// Filings in flight at most; past it a filing counts as an error (the server is not keeping
/// up) instead of the client queueing without bound.
const FILINGS_IN_FLIGHT: usize = 1024;
/// Reconnections per subscriber after the server closed it (e.g. 4499, too slow).
const MAX_RECONNECTS: u32 = 5;
/// Each connection's read buffer: room for a burst of some 100 deliveries per read.
const READ_BUFFER_BYTES: usize = 16 * 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Open files beyond one per subscriber: the runtime, the HTTP client, stdio.
const SPARE_FILES: u64 = 64;

const SUBSCRIPTION: &str = "subscription Lag($after: Position!) { \
    events(after: $after) { position recordedAt } }";

#[derive(Debug, Args)]
pub struct SubscribersArgs {
    /// The server and an admin's credentials: an admin reads every category and files for any
    /// declarant.
    #[command(flatten)]
    pub server: ServerArgs,
    /// WebSocket connections, one subscription each.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=50_000))]
    pub subscribers: u32,
    /// Events appended per second (through filings: the rate is divided by the events one
    /// filing writes, measured before the run).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rate: u32,
    /// How long to append.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub seconds: u32,
    /// The declarant organisation the filings name.
    #[arg(long, default_value = "BENCH")]
    pub declarant: String,
    /// The server's process id, for its RSS and CPU (from /proc; same machine only).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// How long subscribers may take after the last filing to receive the last event.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub drain_seconds: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SubscribersError {
    #[error(transparent)]
    Client(#[from] crate::batch_client::ClientError),
    #[error("{0:?} is not an http:// server URL")]
    BadServer(String),
    #[error(
        "the open files limit is {limit}; {subscribers} subscribers need {needed}: raise it first (ulimit -n {needed})"
    )]
    FileLimit {
        limit: u64,
        subscribers: u32,
        needed: u64,
    },
    #[error("--server-pid {0}: no such process (/proc/{0}/status is unreadable)")]
    NoProcess(String),
    #[error("cannot talk to the server: {0}")]
    Http(String),
    #[error("the server refused {what}: {message}")]
    Refused { what: &'static str, message: String },
    #[error("no subscriber could connect; the first error: {0}")]
    NoSubscriber(String),
    #[error("a bench task stopped: {0}")]
    Task(#[from] JoinError),
}

/// The figures of one run.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribersReport {
    pub bench: &'static str,
    pub backend: String,
    pub subscribers: u32,
    pub connected: usize,
    pub connect_failures: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_connect_error: Option<String>,
    pub connect_seconds: f64,
    pub rate: u32,
    pub seconds: u32,
    pub events_per_filing: f64,
    pub filings: u64,
    pub filing_errors: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_filing_error: Option<String>,
    /// Positions appended during the run (the log's head after it minus the head before).
    pub events: u64,
    pub events_per_s: f64,
    /// Deliveries expected (events × connected subscribers) and what they got.
    pub outcome: Outcome,
    /// Subscribers that received every event exactly once, in order.
    pub exact_subscribers: usize,
    pub reconnects: u64,
    /// Close codes sent by the server during the run, and how often.
    pub closes: BTreeMap<u16, u64>,
    pub protocol_errors: u64,
    /// From the last filing until every subscriber had the last event (or the drain timed out).
    pub drain_seconds: f64,
    pub drained: bool,
    pub lag_ms: Percentiles,
    pub lag_by_second: Vec<SecondReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_process: Option<ProcessReport>,
    pub client_process: ProcessReport,
    /// p99 below 200 ms and every subscriber exact.
    pub target_met: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// Memory (MiB) and CPU of a process over the run.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessReport {
    /// Before the subscribers connected.
    pub rss_idle_mib: f64,
    /// Subscribers connected, nothing appended yet.
    pub rss_connected_mib: f64,
    /// The largest VmRSS sampled (every 250 ms) while events were appended and delivered.
    pub rss_peak_mib: f64,
    /// VmHWM at the end: the peak over the process's whole life.
    pub hwm_mib: f64,
    /// User + system CPU while events were appended and delivered, and as a share of one core.
    pub cpu_seconds: f64,
    pub cpu_cores: f64,
}

impl ProcessReport {
    /// From the readings when idle, connected and at the end, and the peak VmRSS sampled.
    fn new(readings: [Option<ProcReading>; 3], peak_kib: u64, run_seconds: f64) -> Self {
        let [idle, connected, end] = readings.map(Option::unwrap_or_default);
        let cpu = end.cpu_seconds - connected.cpu_seconds;
        Self {
            rss_idle_mib: mib(idle.rss_kib),
            rss_connected_mib: mib(connected.rss_kib),
            rss_peak_mib: mib(peak_kib.max(end.rss_kib)),
            hwm_mib: mib(end.hwm_kib),
            cpu_seconds: round(cpu),
            cpu_cores: round(cpu / run_seconds.max(1e-9)),
        }
    }
}

/// Runs the bench against a running server.
pub async fn run(args: &SubscribersArgs) -> Result<SubscribersReport, SubscribersError> {
    let credentials = args.server.credentials()?;
    let base = args.server.server.trim_end_matches('/').to_owned();
    let ws_url = match base.strip_prefix("http://") {
        Some(rest) => format!("ws://{rest}/graphql"),
        None => return Err(SubscribersError::BadServer(args.server.server.clone())),
    };
    check_file_limit(args.subscribers)?;
    let server_pid = args.server_pid.map(|pid| pid.to_string());
    if let Some(pid) = &server_pid
        && ProcReading::read(pid).is_none()
    {
        return Err(SubscribersError::NoProcess(pid.clone()));
    }
    let http = Http::new(&base, credentials.clone())?;
    let info = http
        .query(
            "{ serverInfo { backend headPosition } }",
            json!({}),
            "serverInfo",
        )
        .await?;
    let backend = info["serverInfo"]["backend"]
        .as_str()
        .unwrap_or("unknown")
        .to_owned();
    http.query(
        "{ events(limit: 1) { nextAfter } }",
        json!({}),
        "reading the event log (an admin token is needed)",
    )
    .await?;

    // Warm up and measure how many events one filing writes.
    let run_id = uuid::Uuid::now_v7().simple().to_string();
    let before = http.head().await?;
    for n in 0..WARM_UP_FILINGS {
        http.file(&args.declarant, &run_id, n)
            .await
            .map_err(|message| SubscribersError::Refused {
                what: "a filing (an admin token files for any declarant)",
                message,
            })?;
    }
    let events_per_filing = (http.head().await? - before) as f64 / WARM_UP_FILINGS as f64;

    let server_idle = server_pid.as_deref().and_then(ProcReading::read);
    let client_idle = ProcReading::read("self");

    // Connect every subscriber after the head: each gets only what is appended from here on.
    let start_head = http.head().await?;
    let credentials = Arc::new(credentials);
    let connecting = Instant::now();
    let (sockets, first_connect_error) =
        connect_all(&ws_url, &credentials, args.subscribers, start_head).await?;
    let connect_seconds = connecting.elapsed().as_secs_f64();
    let connected = sockets.len();
    let connect_failures = args.subscribers as usize - connected;
    tracing::info!(
        connected,
        connect_failures,
        seconds = connect_seconds,
        "subscribers connected"
    );
    // Let the server start every subscription before the clock runs.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let server_connected = server_pid.as_deref().and_then(ProcReading::read);
    let client_connected = ProcReading::read("self");

    let started = Utc::now();
    let (final_tx, final_rx) = watch::channel(None::<u64>);
    let stop = CancellationToken::new();
    let context = Arc::new(ReaderContext {
        url: ws_url,
        credentials,
        started_micros: started.timestamp_micros(),
        tracked_seconds: args.seconds as usize + 1,
    });
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|socket| {
            let reader = Reader::new(context.clone(), start_head);
            tokio::spawn(reader.run(socket, final_rx.clone(), stop.clone()))
        })
        .collect();
    let sampler_stop = CancellationToken::new();
    let sampler = tokio::spawn(sample_peaks(server_pid.clone(), sampler_stop.clone()));

    let filings_per_s = f64::from(args.rate) / events_per_filing.max(1.0);
    let appended = append(&http, args, filings_per_s, &run_id).await;
    let final_head = http.head().await?;
    let _ = final_tx.send(Some(final_head));
    tracing::info!(
        filings = appended.filings,
        events = final_head - start_head,
        "appends done, draining"
    );

    let draining = Instant::now();
    let drain_limit = Duration::from_secs(u64::from(args.drain_seconds));
    let all_done = futures::future::join_all(readers);
    let mut all_done = std::pin::pin!(all_done);
    let (results, drained) = match tokio::time::timeout(drain_limit, &mut all_done).await {
        Ok(results) => (results, true),
        Err(_) => {
            stop.cancel();
            (all_done.await, false)
        }
    };
    let drain_seconds = draining.elapsed().as_secs_f64();
    sampler_stop.cancel();
    let (server_peak, client_peak) = sampler.await?;
    let server_end = server_pid.as_deref().and_then(ProcReading::read);
    let client_end = ProcReading::read("self");

    let mut lags = LagHistogram::default();
    let mut timeline = Timeline::default();
    let mut outcome = Outcome::default();
    let (mut exact_subscribers, mut reconnects, mut protocol_errors) = (0, 0, 0);
    let mut closes = BTreeMap::new();
    for result in results {
        let reader = result?;
        lags.merge(&reader.lags);
        timeline.merge(&reader.timeline);
        let own = reader.sequence.outcome(final_head);
        exact_subscribers += usize::from(own.is_exact());
        outcome.add(&own);
        reconnects += u64::from(reader.reconnects);
        protocol_errors += reader.protocol_errors;
        for code in reader.closes {
            *closes.entry(code).or_insert(0) += 1;
        }
    }
    let lag_ms = Percentiles {
        p50: stats::millis(lags.quantile(0.50)),
        p95: stats::millis(lags.quantile(0.95)),
        p99: stats::millis(lags.quantile(0.99)),
        p999: stats::millis(lags.quantile(0.999)),
        max: stats::millis(lags.max()),
    };
    let run_seconds = (Utc::now() - started).as_seconds_f64();
    let process =
        |idle, connected, peak, end| ProcessReport::new([idle, connected, end], peak, run_seconds);
    Ok(SubscribersReport {
        bench: "subscribers",
        backend,
        subscribers: args.subscribers,
        connected,
        connect_failures,
        first_connect_error,
        connect_seconds: round(connect_seconds),
        rate: args.rate,
        seconds: args.seconds,
        events_per_filing: round(events_per_filing),
        filings: appended.filings,
        filing_errors: appended.errors,
        first_filing_error: appended.first_error,
        events: final_head - start_head,
        events_per_s: round((final_head - start_head) as f64 / appended.seconds.max(1e-9)),
        target_met: lag_ms.p99 < 200.0 && exact_subscribers == connected && connect_failures == 0,
        outcome,
        exact_subscribers,
        reconnects,
        closes,
        protocol_errors,
        drain_seconds: round(drain_seconds),
        drained,
        lag_ms,
        lag_by_second: timeline.report(),
        server_process: server_pid
            .map(|_| process(server_idle, server_connected, server_peak, server_end)),
        client_process: process(client_idle, client_connected, client_peak, client_end),
    })
}

/// GraphQL over HTTP to the server, with the bench's credentials.
#[derive(Debug, Clone)]
struct Http {
    client: reqwest::Client,
    url: String,
    credentials: Credentials,
}

impl Http {
    fn new(base: &str, credentials: Credentials) -> Result<Self, SubscribersError> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(FILINGS_IN_FLIGHT)
            .build()
            .map_err(|e| SubscribersError::Http(e.to_string()))?;
        Ok(Self {
            client,
            url: format!("{base}/graphql"),
            credentials,
        })
    }

    /// The `data` of a query; GraphQL errors are `Err` with the first error's message.
    async fn post(&self, query: &str, variables: Value) -> Result<Value, Failure> {
        let request = self
            .client
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        let request = match &self.credentials {
            Credentials::Bearer(token) => request.bearer_auth(token),
            Credentials::ApiKey(key) => request.header(crate::auth::api_key::HEADER, key),
        };
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Transport(format!("request failed: {e}")))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| Failure::Transport(format!("HTTP {status}, unreadable answer: {e}")))?;
        if let Some(error) = body["errors"].as_array().and_then(|errors| errors.first()) {
            let message = error["message"].as_str().unwrap_or("no message");
            let code = error["extensions"]["code"].as_str().unwrap_or("no code");
            return Err(Failure::Answer(format!("{code}: {message}")));
        }
        Ok(body["data"].clone())
    }

    async fn query(
        &self,
        query: &str,
        variables: Value,
        what: &'static str,
    ) -> Result<Value, SubscribersError> {
        self.post(query, variables)
            .await
            .map_err(|failure| match failure {
                Failure::Transport(message) => SubscribersError::Http(message),
                Failure::Answer(message) => SubscribersError::Refused { what, message },
            })
    }

    async fn head(&self) -> Result<u64, SubscribersError> {
        let data = self
            .query("{ serverInfo { headPosition } }", json!({}), "serverInfo")
            .await?;
        data["serverInfo"]["headPosition"]
            .as_str()
            .and_then(|head| head.parse().ok())
            .ok_or_else(|| SubscribersError::Http(format!("no head position in {data}")))
    }

    /// Files declaration `n` of this run.
    async fn file(&self, declarant: &str, run_id: &str, n: u64) -> Result<(), String> {
        let input = loadgen::filing(declarant, run_id, n, ITEMS);
        let data = self
            .post(loadgen::MUTATION, json!({ "input": input }))
            .await
            .map_err(|failure| failure.to_string())?;
        match data["fileDeclaration"]["status"].as_str() {
            Some(status) if !status.eq_ignore_ascii_case("rejected") => Ok(()),
            _ => Err(format!("the filing was not lodged: {data}")),
        }
    }
}

/// Why a GraphQL request gave no data.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// No answer, or not the API's JSON.
    #[error("{0}")]
    Transport(String),
    /// The server answered with an error: its code and message.
    #[error("{0}")]
    Answer(String),
}

/// What the appender did.
struct Appended {
    filings: u64,
    errors: u64,
    first_error: Option<String>,
    /// From the first filing due to the last answered.
    seconds: f64,
}

/// Files declarations at `filings_per_s` for `args.seconds`, each on schedule (open loop).
async fn append(http: &Http, args: &SubscribersArgs, filings_per_s: f64, run_id: &str) -> Appended {
    let total = (filings_per_s * f64::from(args.seconds)).round() as u64;
    let period = Duration::from_secs_f64(1.0 / filings_per_s);
    let in_flight = Arc::new(Semaphore::new(FILINGS_IN_FLIGHT));
    let http = Arc::new(http.clone());
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for n in 0..total {
        tokio::time::sleep_until((start + period.mul_f64(n as f64)).into()).await;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            tasks.push(tokio::spawn(async {
                Err("too many filings in flight".to_owned())
            }));
            continue;
        };
        let (http, declarant, run_id) = (http.clone(), args.declarant.clone(), run_id.to_owned());
        tasks.push(tokio::spawn(async move {
            let answer = http.file(&declarant, &run_id, WARM_UP_FILINGS + n).await;
            drop(permit);
            answer
        }));
    }
    let mut appended = Appended {
        filings: total,
        errors: 0,
        first_error: None,
        seconds: 0.0,
    };
    for task in tasks {
        let answer = task
            .await
            .unwrap_or_else(|e| Err(format!("filing task: {e}")));
        if let Err(error) = answer {
            appended.errors += 1;
            appended.first_error.get_or_insert(error);
        }
    }
    appended.seconds = start.elapsed().as_secs_f64();
    appended
}

/// Opens `count` subscriptions after `after`, a bounded number of handshakes at a time; the
/// sockets, and the first error of those that failed. Fails only when none connected.
async fn connect_all(
    url: &str,
    credentials: &Arc<Credentials>,
    count: u32,
    after: u64,
) -> Result<(Vec<Socket>, Option<String>), SubscribersError> {
    let limit = Arc::new(Semaphore::new(CONNECTING_AT_ONCE));
    let handshakes: Vec<_> = (0..count)
        .map(|_| {
            let (url, credentials, limit) = (url.to_owned(), credentials.clone(), limit.clone());
            tokio::spawn(async move {
                let _permit = limit.acquire_owned().await;
                connect(&url, &credentials, after).await
            })
        })
        .collect();
    let mut sockets = Vec::with_capacity(handshakes.len());
    let mut first_error = None;
    for handshake in handshakes {
        match handshake.await? {
            Ok(socket) => sockets.push(socket),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    if sockets.is_empty() {
        return Err(SubscribersError::NoSubscriber(
            first_error.unwrap_or_default(),
        ));
    }
    Ok((sockets, first_error))
}

/// Opens a connection, is acknowledged, and subscribes after `after`.
async fn connect(url: &str, credentials: &Credentials, after: u64) -> Result<Socket, String> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(url, credentials, after))
        .await
        .unwrap_or_else(|_| Err("no acknowledgement within 30 s".to_owned()))
}

async fn handshake(url: &str, credentials: &Credentials, after: u64) -> Result<Socket, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static(PROTOCOL));
    // tungstenite zero-fills its whole read buffer on the first read: 128 KiB by default,
    // 125 MiB for 1,000 connections, which would swamp the client's RSS. Nagle off: a delivery
    // is one small frame, it should not wait for the previous one's ACK.
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let payload = match credentials {
        Credentials::Bearer(token) => json!({ "authorization": format!("Bearer {token}") }),
        Credentials::ApiKey(key) => json!({ "apiKey": key }),
    };
    send(
        &mut socket,
        &json!({ "type": "connection_init", "payload": payload }),
    )
    .await?;
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                let acknowledged = serde_json::from_str::<Incoming<'_>>(text.as_str())
                    .is_ok_and(|m| m.kind == "connection_ack");
                if acknowledged {
                    break;
                }
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(format!(
                    "closed by the server: {}",
                    frame.map_or(0, |f| u16::from(f.code))
                ));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("before the acknowledgement: {e}")),
            None => return Err("closed before the acknowledgement".to_owned()),
        }
    }
    let subscribe = json!({
        "type": "subscribe",
        "id": "1",
        "payload": { "query": SUBSCRIPTION, "variables": { "after": after.to_string() } },
    });
    send(&mut socket, &subscribe).await?;
    Ok(socket)
}

async fn send(socket: &mut Socket, message: &Value) -> Result<(), String> {
    socket
        .send(Message::text(message.to_string()))
        .await
        .map_err(|e| format!("cannot send: {e}"))
}

/// A protocol message; `payload` is read further only for `next`.
#[derive(Debug, Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
struct NextPayload<'a> {
    #[serde(borrow)]
    data: Option<NextData<'a>>,
}

#[derive(Debug, Deserialize)]
struct NextData<'a> {
    #[serde(borrow)]
    events: Delivered<'a>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delivered<'a> {
    position: &'a str,
    recorded_at: &'a str,
}

/// What every reader shares.
#[derive(Debug)]
struct ReaderContext {
    url: String,
    credentials: Arc<Credentials>,
    started_micros: i64,
    tracked_seconds: usize,
}

/// One subscriber: reads deliveries and accounts for them.
#[derive(Debug)]
struct Reader {
    context: Arc<ReaderContext>,
    sequence: Sequence,
    lags: LagHistogram,
    timeline: Timeline,
    reconnects: u32,
    closes: Vec<u16>,
    protocol_errors: u64,
}

impl Reader {
    fn new(context: Arc<ReaderContext>, after: u64) -> Self {
        Self {
            context,
            sequence: Sequence::new(after),
            lags: LagHistogram::default(),
            timeline: Timeline::default(),
            reconnects: 0,
            closes: Vec::new(),
            protocol_errors: 0,
        }
    }

    /// Reads until it has the final head's event (known once the appends are done) or `stop`.
    async fn run(
        mut self,
        socket: Socket,
        mut final_head: watch::Receiver<Option<u64>>,
        stop: CancellationToken,
    ) -> Self {
        let mut socket = Some(socket);
        loop {
            if stop.is_cancelled() {
                break;
            }
            let done = final_head
                .borrow()
                .is_some_and(|head| self.sequence.last() >= head);
            if done {
                break;
            }
            let Some(open) = socket.as_mut() else {
                // Resume after the last position received, as an integrator would.
                if self.reconnects >= MAX_RECONNECTS {
                    break;
                }
                self.reconnects += 1;
                match connect(
                    &self.context.url,
                    &self.context.credentials,
                    self.sequence.last(),
                )
                .await
                {
                    Ok(reopened) => socket = Some(reopened),
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
                continue;
            };
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                changed = final_head.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                message = open.next() => match message {
                    Some(Ok(Message::Text(text))) => self.receive(text.as_str()),
                    Some(Ok(Message::Close(frame))) => {
                        self.closes.push(frame.map_or(1005, |f| u16::from(f.code)));
                        socket = None;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => {
                        self.closes.push(1006);
                        socket = None;
                    }
                },
            }
        }
        if let Some(mut open) = socket {
            let _ = open.close(None).await;
        }
        self
    }

    fn receive(&mut self, text: &str) {
        let received_micros = Utc::now().timestamp_micros();
        let Ok(message) = serde_json::from_str::<Incoming<'_>>(text) else {
            self.protocol_errors += 1;
            return;
        };
        if message.kind != "next" {
            // `complete` or `error`: the subscription ended; the drain notices the shortfall.
            self.protocol_errors += u64::from(message.kind != "pong");
            return;
        }
        let delivered = message
            .payload
            .and_then(|raw| serde_json::from_str::<NextPayload<'_>>(raw.get()).ok())
            .and_then(|payload| payload.data)
            .map(|data| data.events)
            .and_then(|event| {
                let position = event.position.parse::<u64>().ok()?;
                let recorded = DateTime::parse_from_rfc3339(event.recorded_at).ok()?;
                Some((position, recorded.timestamp_micros()))
            });
        let Some((position, recorded_micros)) = delivered else {
            self.protocol_errors += 1;
            return;
        };
        if self.sequence.receive(position) == Received::Duplicate {
            return;
        }
        let lag = u64::try_from(received_micros - recorded_micros).unwrap_or(0);
        self.lags.record(lag);
        let second =
            u64::try_from(recorded_micros - self.context.started_micros).unwrap_or(0) / 1_000_000;
        self.timeline
            .record(second as usize, lag, self.context.tracked_seconds);
    }
}

/// Samples VmRSS of the server (when its pid is known) and of this process every 250 ms;
/// returns the peaks in KiB.
async fn sample_peaks(server_pid: Option<String>, stop: CancellationToken) -> (u64, u64) {
    let (mut server, mut client) = (0, 0);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {
                if let Some(reading) = server_pid.as_deref().and_then(ProcReading::read) {
                    server = server.max(reading.rss_kib);
                }
                if let Some(reading) = ProcReading::read("self") {
                    client = client.max(reading.rss_kib);
                }
            }
        }
    }
    (server, client)
}

/// Refuses to start when this process may not open a socket per subscriber (the server needs
/// as many; the script raises both limits with `ulimit -n`).
fn check_file_limit(subscribers: u32) -> Result<(), SubscribersError> {
    let needed = u64::from(subscribers) + SPARE_FILES;
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return Ok(());
    };
    match soft_file_limit(&limits) {
        Some(limit) if limit < needed => Err(SubscribersError::FileLimit {
            limit,
            subscribers,
            needed,
        }),
        _ => Ok(()),
    }
}

/// The soft "Max open files" of `/proc/<pid>/limits` (`None`: unlimited or unreadable).
fn soft_file_limit(limits: &str) -> Option<u64> {
    limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|soft| soft.parse().ok())
}

fn mib(kib: u64) -> f64 {
    round(kib as f64 / 1024.0)
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_open_files_limit_is_read_from_proc_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max processes             63704                63704                processes\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(soft_file_limit(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(soft_file_limit(unlimited), None);
    }

    #[test]
    fn a_delivery_is_read_from_its_next_message() {
        let context = Arc::new(ReaderContext {
            url: String::new(),
            credentials: Arc::new(Credentials::Bearer(String::new())),
            started_micros: 0,
            tracked_seconds: 2,
        });
        let mut reader = Reader::new(context, 41);
        let next = |position: u64| {
            json!({ "type": "next", "id": "1", "payload": { "data": { "events": {
                "position": position.to_string(),
                "recordedAt": "2026-12-02T10:00:00.250Z",
            } } } })
            .to_string()
        };
        reader.receive(&next(42));
        reader.receive(&next(42));
        reader.receive(&next(44));
        reader.receive(r#"{"type":"error","id":"1","payload":[{"message":"no"}]}"#);
        reader.receive("not json");
        assert_eq!(reader.lags.count(), 2);
        assert_eq!(reader.protocol_errors, 2);
        let outcome = reader.sequence.outcome(44);
        assert_eq!(
            (outcome.delivered, outcome.gaps, outcome.duplicates),
            (2, 1, 1)
        );
    }
}
