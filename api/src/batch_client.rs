//! `aduana batch`: the client of batch transmission. `submit` streams a file of declarations
//! (NDJSON, one per line, or KCS CSV with its header row) to `POST /api/v1/batches`, never
//! holding the file in memory, and sends it again with the same `Idempotency-Key` (the batch
//! id) after a connection error, a 5xx or `BATCH_IN_PROGRESS`: the server skips the items it
//! has already recorded, so a retry, or a second run after an interruption, files nothing twice.
//! `status` and `results` read a batch back.
//!
//! Resume: before sending, the batch id is written next to the input (`FILE.aduana-batch`, with
//! the server and the file's size and modification time). A later run over the same unchanged
//! file and server reuses that id; the state file is removed once the batch completed.
//!
//! Early refusals: an upload says `Expect: 100-continue` and holds its body back for a moment
//! ([`BatchClient::with_continue_wait`]), so a refusal the server makes from the headers alone
//! (401, 413, 415, a completed batch) arrives as an answer rather than as a broken pipe.
//!
//! Output: the summary (JSON) and results (NDJSON) go to stdout or a file; progress and notes
//! go to stderr. Credentials are never printed (`Debug` redacts them).

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable as _};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use futures::{Stream, StreamExt as _};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio_util::io::ReaderStream;
use uuid::Uuid;

/// The error code of a batch another connection is still sending (retried).
pub const BATCH_IN_PROGRESS: &str = "BATCH_IN_PROGRESS";
/// The error code of a body the server could not read to its end (retried).
pub const BODY_INCOMPLETE: &str = "BODY_INCOMPLETE";
/// What is appended to the input file's name to name its state file.
pub const STATE_SUFFIX: &str = ".aduana-batch";
const IDEMPOTENCY_KEY: &str = "idempotency-key";
const API_KEY: &str = "x-api-key";
const COMPLETED: &str = "completed";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Detects a peer that vanished while a long upload waits for its answer (there is no overall
/// timeout on an upload: the server answers when the whole file is processed).
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);
/// Status and the start of results: small answers, so a silent server is a failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(500);
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);
const RESULTS_RETRIES: usize = 5;
const CHUNK: usize = 64 * 1024;
/// How long an upload waits for an early refusal before it sends the body (as curl does for
/// `Expect: 100-continue`).
const CONTINUE_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Send a file of declarations as one batch: NDJSON (one declaration per line) or KCS CSV
    /// with its header row. Retries and resumes without filing an item twice; prints a JSON
    /// summary; exits 0 when the batch completed, even with rejected items.
    Submit(SubmitArgs),
    /// Print a batch's status as JSON.
    Status(StatusArgs),
    /// Stream a batch's results, one JSON line per item in item order, to stdout or a file.
    Results(ResultsArgs),
}

/// Where the server is and who calls it: a bearer token or an API key.
#[derive(Clone, Args)]
pub struct ServerArgs {
    /// The server's base URL (http only).
    #[arg(long, env = "ADUANA_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// A bearer token (`aduana token issue`).
    #[arg(long, env = "ADUANA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// An API key (`aduana apikey issue`), sent as X-API-Key.
    #[arg(long, env = "ADUANA_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

impl fmt::Debug for ServerArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| "***");
        f.debug_struct("ServerArgs")
            .field("server", &self.server)
            .field("token", &redacted(&self.token))
            .field("api_key", &redacted(&self.api_key))
            .finish()
    }
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The batch file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The file's format (default: csv for a `.csv` file, else ndjson).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// The batch id (Idempotency-Key) to use, instead of a new one or the one recorded in
    /// FILE.aduana-batch by an earlier run.
    #[arg(long)]
    pub batch_id: Option<Uuid>,
    /// Once the batch completed, write its results (NDJSON) to this file.
    #[arg(long, value_name = "OUT")]
    pub results: Option<PathBuf>,
    /// Write only the rejected items' results.
    #[arg(long, requires = "results")]
    pub rejected_only: bool,
    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// How many times to send the file again after a connection error, a 5xx or
    /// BATCH_IN_PROGRESS (exponential back-off, from 1 s up to 30 s between tries).
    #[arg(long, default_value_t = 10)]
    pub max_retries: usize,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(value_name = "BATCH_ID")]
    pub id: Uuid,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct ResultsArgs {
    #[arg(value_name = "BATCH_ID")]
    pub id: Uuid,
    /// Only the rejected items.
    #[arg(long)]
    pub rejected_only: bool,
    /// Write to this file (replaced only when the download is complete) instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON declaration per line.
    Ndjson,
    /// The KCS CSV layout, header row first.
    Csv,
}

impl Format {
    /// CSV for a file named `*.csv` (any case), else NDJSON.
    pub fn detect(path: &Path) -> Self {
        match path.extension() {
            Some(ext) if ext.eq_ignore_ascii_case("csv") => Self::Csv,
            _ => Self::Ndjson,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "text/csv",
        }
    }
}

/// Who calls the server. `Debug` does not show the secret.
#[derive(Clone)]
pub enum Credentials {
    Bearer(String),
    ApiKey(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bearer(_) => f.write_str("Bearer(***)"),
            Self::ApiKey(_) => f.write_str("ApiKey(***)"),
        }
    }
}

impl ServerArgs {
    /// The token or the API key; exactly one must be given (blank values count as absent).
    pub fn credentials(&self) -> Result<Credentials, ClientError> {
        let given = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
        match (given(&self.token), given(&self.api_key)) {
            (Some(token), None) => Ok(Credentials::Bearer(token)),
            (None, Some(key)) => Ok(Credentials::ApiKey(key)),
            (None, None) => Err(ClientError::NoCredentials),
            (Some(_), Some(_)) => Err(ClientError::TwoCredentials),
        }
    }

    pub fn client(&self) -> Result<BatchClient, ClientError> {
        BatchClient::new(&self.server, self.credentials()?)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no credentials: give --token (or ADUANA_TOKEN) or --api-key (or ADUANA_API_KEY)")]
    NoCredentials,
    #[error(
        "give either a token (--token, ADUANA_TOKEN) or an API key (--api-key, ADUANA_API_KEY), not both"
    )]
    TwoCredentials,
    #[error("the credentials hold characters an HTTP header cannot carry")]
    BadCredentials,
    #[error("{0:?} is not an http:// server URL")]
    BadServer(String),
    /// The server answered with an error (its code and message, or the HTTP status when the
    /// body is not the API's error JSON).
    #[error("the server answered {status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("cannot talk to the server")]
    Transport(#[source] reqwest::Error),
    /// The server answered 200 but the batch is not complete (e.g. it was interrupted).
    #[error("batch {id} is {status}{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    NotCompleted {
        id: Uuid,
        status: String,
        reason: Option<String>,
    },
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    #[error("cannot {action} {}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write the results")]
    Write(#[source] io::Error),
}

impl ClientError {
    /// Worth sending again: the connection failed, the server failed, was busy with the same
    /// batch or lost the end of the body, or it stopped before the end. Other refusals (401,
    /// 403, 413, 415, ...) are final.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport(error) => !error.is_builder(),
            Self::Refused { status, code, .. } => {
                *status >= 500
                    || matches!(status, 408 | 429)
                    || (*status == 409 && code == BATCH_IN_PROGRESS)
                    || (*status == 400 && code == BODY_INCOMPLETE)
            }
            Self::NotCompleted { .. } => true,
            _ => false,
        }
    }
}

/// A batch's status as the server reports it. Fields this client does not use are kept as
/// sent, so printing it loses nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchStatus {
    pub id: Uuid,
    /// received, processing, completed or interrupted.
    pub status: String,
    /// Items recorded so far (accepted + rejected).
    pub items: u64,
    pub accepted: u64,
    pub rejected: u64,
    #[serde(default)]
    pub interruption: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The batch endpoints of one server, called with one set of credentials.
#[derive(Debug, Clone)]
pub struct BatchClient {
    http: reqwest::Client,
    server: String,
    auth: (HeaderName, HeaderValue),
    continue_wait: Duration,
}

impl BatchClient {
    pub fn new(server: &str, credentials: Credentials) -> Result<Self, ClientError> {
        let server = server.trim().trim_end_matches('/').to_owned();
        match reqwest::Url::parse(&server) {
            Ok(url) if url.scheme() == "http" && url.host().is_some() => {}
            _ => return Err(ClientError::BadServer(server)),
        }
        let (name, value) = match &credentials {
            Credentials::Bearer(token) => {
                (reqwest::header::AUTHORIZATION, format!("Bearer {token}"))
            }
            Credentials::ApiKey(key) => (HeaderName::from_static(API_KEY), key.clone()),
        };
        let mut value = HeaderValue::try_from(value).map_err(|_| ClientError::BadCredentials)?;
        value.set_sensitive(true);
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_keepalive(TCP_KEEPALIVE)
            .build()
            .map_err(ClientError::Transport)?;
        Ok(Self {
            http,
            server,
            auth: (name, value),
            continue_wait: CONTINUE_WAIT,
        })
    }

    /// How long an upload waits, after sending its headers, before it sends the body (default
    /// 1 s). A server that refuses from the headers alone (401, 403, 413, 415, 400) answers in
    /// that time; once body bytes are in flight, such an answer is usually lost: the server
    /// closes a connection with unread data, and the client sees only a broken pipe.
    pub fn with_continue_wait(mut self, wait: Duration) -> Self {
        self.continue_wait = wait;
        self
    }

    /// The base URL, without a trailing slash.
    pub fn server(&self) -> &str {
        &self.server
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/api/v1/batches{tail}", self.server)
    }

    fn get(&self, tail: &str) -> reqwest::RequestBuilder {
        self.http
            .get(self.url(tail))
            .header(self.auth.0.clone(), self.auth.1.clone())
    }

    pub async fn status(&self, id: Uuid) -> Result<BatchStatus, ClientError> {
        let request = self.get(&format!("/{id}")).timeout(REQUEST_TIMEOUT);
        let response = accept(request.send().await.map_err(ClientError::Transport)?).await?;
        read_status(response).await
    }

    /// Sends the whole file once as batch `id`, streamed from disk, and waits for the
    /// server's answer. `Ok` only when the batch completed.
    pub async fn upload(
        &self,
        id: Uuid,
        path: &Path,
        format: Format,
        progress: Arc<Progress>,
    ) -> Result<BatchStatus, ClientError> {
        let file_error = |action| {
            move |source| ClientError::File {
                action,
                path: path.to_owned(),
                source,
            }
        };
        let file = tokio::fs::File::open(path)
            .await
            .map_err(file_error("open"))?;
        let size = file.metadata().await.map_err(file_error("read"))?.len();
        progress.start_attempt(size);
        // The length is declared, so a file that grows meanwhile is sent as it was.
        let body = counted(file.take(size), size, format, progress, self.continue_wait);
        let response = self
            .http
            .post(self.url(""))
            .header(self.auth.0.clone(), self.auth.1.clone())
            .header(CONTENT_TYPE, format.content_type())
            .header(CONTENT_LENGTH, size)
            .header(IDEMPOTENCY_KEY, id.to_string())
            .header(reqwest::header::EXPECT, "100-continue")
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .map_err(ClientError::Transport)?;
        let status = read_status(accept(response).await?).await?;
        if status.id != id {
            return Err(ClientError::Protocol(format!(
                "sent batch {id}, got the status of batch {}",
                status.id
            )));
        }
        if status.status != COMPLETED {
            return Err(ClientError::NotCompleted {
                id,
                status: status.status,
                reason: status.interruption,
            });
        }
        Ok(status)
    }

    /// The results of batch `id` (NDJSON, one line per item in item order) as they arrive.
    pub async fn results(
        &self,
        id: Uuid,
        rejected_only: bool,
    ) -> Result<impl Stream<Item = Result<Bytes, ClientError>> + use<>, ClientError> {
        let query = if rejected_only { "?rejected=true" } else { "" };
        let request = self.get(&format!("/{id}/results{query}"));
        let response = accept(request.send().await.map_err(ClientError::Transport)?).await?;
        Ok(response
            .bytes_stream()
            .map(|chunk| chunk.map_err(ClientError::Transport)))
    }

    /// Streams the results of batch `id` to `out`; returns the number of lines.
    pub async fn write_results<W: AsyncWrite + Unpin>(
        &self,
        id: Uuid,
        rejected_only: bool,
        out: &mut W,
    ) -> Result<u64, ClientError> {
        let mut chunks = std::pin::pin!(self.results(id, rejected_only).await?);
        let mut lines = 0;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            lines += count_lines(&chunk);
            out.write_all(&chunk).await.map_err(ClientError::Write)?;
        }
        out.flush().await.map_err(ClientError::Write)?;
        Ok(lines)
    }

    /// Writes the results to `path` through `path.part`, renamed once complete (so `path`
    /// never holds a partial download); returns the number of lines.
    pub async fn download_results(
        &self,
        id: Uuid,
        rejected_only: bool,
        path: &Path,
    ) -> Result<u64, ClientError> {
        let part = with_suffix(path, ".part");
        let file_error = |action, path: &Path| {
            let path = path.to_owned();
            move |source| ClientError::File {
                action,
                path,
                source,
            }
        };
        let mut file = tokio::fs::File::create(&part)
            .await
            .map_err(file_error("create", &part))?;
        let lines = self.write_results(id, rejected_only, &mut file).await?;
        file.sync_all().await.map_err(file_error("write", &part))?;
        tokio::fs::rename(&part, path)
            .await
            .map_err(file_error("write", path))?;
        Ok(lines)
    }
}

/// The response if it is a success, else its error code and message.
async fn accept(response: reqwest::Response) -> Result<reqwest::Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    // The contract's `{"error":{"code","message"}}`, or the GraphQL-like
    // `{"errors":[{"message","extensions":{"code"}}]}`; else the HTTP status and the text.
    let json: Value = serde_json::from_str(&text).unwrap_or_default();
    let field = |contract: &str, graphql: &str| {
        (json.pointer(contract).or_else(|| json.pointer(graphql)))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let (code, message) = match field("/error/code", "/errors/0/extensions/code") {
        Some(code) => (
            code,
            field("/error/message", "/errors/0/message").unwrap_or_default(),
        ),
        None => (
            format!("HTTP_{}", status.as_u16()),
            text.trim().chars().take(200).collect(),
        ),
    };
    Err(ClientError::Refused {
        status: status.as_u16(),
        code,
        message,
    })
}

async fn read_status(response: reqwest::Response) -> Result<BatchStatus, ClientError> {
    let body = response.bytes().await.map_err(ClientError::Transport)?;
    serde_json::from_slice(&body)
        .map_err(|e| ClientError::Protocol(format!("not a batch status: {e}")))
}

/// What a submission sends and how hard it tries.
#[derive(Debug, Clone)]
pub struct Submission {
    pub file: PathBuf,
    pub format: Format,
    /// Use this id rather than a new one or the state file's.
    pub batch_id: Option<Uuid>,
    /// Where to write the results once the batch completed.
    pub results: Option<PathBuf>,
    pub rejected_only: bool,
    pub max_retries: usize,
    /// The first back-off delay; each next one doubles, up to 30 s, plus jitter.
    pub first_retry_delay: Duration,
}

impl From<&SubmitArgs> for Submission {
    fn from(args: &SubmitArgs) -> Self {
        Self {
            file: args.file.clone(),
            format: args.format.unwrap_or_else(|| Format::detect(&args.file)),
            batch_id: args.batch_id,
            results: args.results.clone(),
            rejected_only: args.rejected_only,
            max_retries: args.max_retries,
            first_retry_delay: FIRST_RETRY_DELAY,
        }
    }
}

/// The summary of a completed submission: the final status and what this run did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitReport {
    #[serde(flatten)]
    pub status: BatchStatus,
    /// Items in the file as sent by the last attempt.
    pub items_sent: u64,
    /// Tries (1 without retries). A try that finds the batch already complete sends nothing.
    pub attempts: u32,
    /// The batch id came from the state file of an earlier run.
    pub resumed: bool,
    /// From start to completion (retries included, results download not).
    pub elapsed_seconds: f64,
    pub items_per_second: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results_written: Option<u64>,
}

/// Sends the file as one batch until the server reports it completed, retrying with the same
/// batch id, then writes the results if asked. The state file is written before the first
/// byte is sent and removed on completion; on failure it stays, so the next run resumes.
pub async fn submit(
    client: &BatchClient,
    job: &Submission,
    progress: Arc<Progress>,
) -> Result<SubmitReport, ClientError> {
    let started = Instant::now();
    let fingerprint = Fingerprint::of(&job.file).await?;
    let state_file = state_path(&job.file);
    let (id, resumed) = choose_batch_id(job, client.server(), &fingerprint, &progress).await;
    let state = BatchState {
        batch_id: id,
        server: client.server().to_owned(),
        file_size: fingerprint.size,
        file_modified: fingerprint.modified,
        format: job.format,
    };
    if let Err(error) = write_state(&state_file, &state).await {
        progress.note(format!(
            "warning: cannot write {} ({error}); to resume this batch later, pass --batch-id {id}",
            state_file.display()
        ));
    }

    let attempts = AtomicU32::new(0);
    let sent_before = resumed || job.batch_id.is_some();
    let upload = {
        let (attempts, progress) = (&attempts, &progress);
        move || async move {
            let attempt = attempts.fetch_add(1, Ordering::Relaxed) + 1;
            // A batch sent before may be complete already (the answer may have been lost):
            // then there is nothing to send, and a server may answer before reading the body.
            if (sent_before || attempt > 1)
                && let Ok(status) = client.status(id).await
                && status.status == COMPLETED
            {
                progress.note(format!("batch {id} is already complete"));
                return Ok(status);
            }
            client
                .upload(id, &job.file, job.format, progress.clone())
                .await
        }
    };
    let upload = upload
        .retry(backoff(job.max_retries, job.first_retry_delay))
        .when(ClientError::is_retryable)
        .notify(|error, delay| {
            progress.note(format!(
                "batch {id}: {}; sending again in {:.1} s",
                explain(error),
                delay.as_secs_f64()
            ));
        });
    let outcome = tokio::select! {
        outcome = upload => outcome,
        never = watch(client, id, &progress) => match never {},
    };
    progress.finish();
    let status = outcome?;
    let elapsed = started.elapsed().as_secs_f64();

    match tokio::fs::remove_file(&state_file).await {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => progress.note(format!(
            "warning: cannot remove {}: {error}",
            state_file.display()
        )),
    }
    let results_written = match &job.results {
        Some(path) => {
            let download = (move || client.download_results(id, job.rejected_only, path))
                .retry(backoff(RESULTS_RETRIES, job.first_retry_delay))
                .when(ClientError::is_retryable)
                .await;
            if download.is_err() {
                progress.note(format!(
                    "batch {id} completed, but its results could not be written; \
                     `aduana batch results {id} --output FILE` fetches them"
                ));
            }
            Some(download?)
        }
        None => None,
    };
    let items_sent = progress.items_sent();
    Ok(SubmitReport {
        status,
        items_sent,
        attempts: attempts.load(Ordering::Relaxed),
        resumed,
        elapsed_seconds: round2(elapsed),
        items_per_second: round2(if elapsed > 0.0 {
            items_sent as f64 / elapsed
        } else {
            0.0
        }),
        results_file: job.results.clone(),
        results_written,
    })
}

fn backoff(max_retries: usize, first_delay: Duration) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(first_delay)
        .with_max_delay(MAX_RETRY_DELAY.max(first_delay))
        .with_max_times(max_retries)
        .with_jitter()
}

/// Polls the batch's status while it is being sent, for the accepted/rejected counts. Errors
/// are ignored: 404 until the server has seen the batch, and a real failure shows up in the
/// upload itself.
async fn watch(client: &BatchClient, id: Uuid, progress: &Progress) -> Infallible {
    loop {
        tokio::time::sleep(POLL_INTERVAL).await;
        if let Ok(status) = client.status(id).await {
            progress.recorded(status.accepted, status.rejected);
        }
    }
}

/// The state file of `file`: `FILE.aduana-batch` next to it.
pub fn state_path(file: &Path) -> PathBuf {
    with_suffix(file, STATE_SUFFIX)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The batch id a run left next to its input, with what it was for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchState {
    pub batch_id: Uuid,
    pub server: String,
    pub file_size: u64,
    pub file_modified: Option<DateTime<Utc>>,
    pub format: Format,
}

/// What tells an unchanged file: its size and modification time.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    size: u64,
    modified: Option<DateTime<Utc>>,
}

impl Fingerprint {
    async fn of(path: &Path) -> Result<Self, ClientError> {
        let meta = tokio::fs::metadata(path)
            .await
            .map_err(|source| ClientError::File {
                action: "read",
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            size: meta.len(),
            modified: meta.modified().ok().map(DateTime::<Utc>::from),
        })
    }
}

/// `--batch-id`, else the state file's id if it is for this file and server, else a new id.
async fn choose_batch_id(
    job: &Submission,
    server: &str,
    fingerprint: &Fingerprint,
    progress: &Progress,
) -> (Uuid, bool) {
    let file = job.file.display();
    if let Some(id) = job.batch_id {
        progress.note(format!("submitting {file} as batch {id}"));
        return (id, false);
    }
    let state_file = state_path(&job.file);
    match read_state(&state_file).await {
        Ok(Some(state))
            if state.server == server
                && state.file_size == fingerprint.size
                && state.file_modified == fingerprint.modified =>
        {
            progress.note(format!("resuming batch {}", state.batch_id));
            return (state.batch_id, true);
        }
        Ok(Some(state)) => progress.note(format!(
            "warning: {} is for batch {} of another server or of an earlier version of {file}; \
             starting a new batch (items batch {} may have filed are not skipped)",
            state_file.display(),
            state.batch_id,
            state.batch_id
        )),
        Ok(None) => {}
        Err(error) => progress.note(format!(
            "warning: ignoring {}: {error}",
            state_file.display()
        )),
    }
    let id = Uuid::now_v7();
    progress.note(format!("submitting {file} as batch {id}"));
    (id, false)
}

/// The state file, if there is one.
pub async fn read_state(path: &Path) -> io::Result<Option<BatchState>> {
    match tokio::fs::read(path).await {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Writes through a temporary file and a rename, so a crash never leaves half a state file.
async fn write_state(path: &Path, state: &BatchState) -> io::Result<()> {
    let temporary = with_suffix(path, ".tmp");
    let json = serde_json::to_vec_pretty(state).map_err(io::Error::other)?;
    tokio::fs::write(&temporary, json).await?;
    tokio::fs::rename(&temporary, path).await
}

/// The file's `size` bytes as they go out, after `wait`, counting items on the way. (The
/// count of the last line is taken when the last byte goes: with a declared length, the
/// sender may never ask past it.)
fn counted(
    reader: impl tokio::io::AsyncRead + Send + Unpin + 'static,
    size: u64,
    format: Format,
    progress: Arc<Progress>,
    wait: Duration,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let chunks = ReaderStream::with_capacity(reader, CHUNK);
    let start = (chunks, ItemCounter::new(format), 0, progress);
    let body = futures::stream::unfold(
        start,
        move |(mut chunks, mut counter, sent, progress)| async move {
            match chunks.next().await? {
                Ok(bytes) => {
                    let sent = sent + bytes.len() as u64;
                    let mut items = counter.feed(&bytes);
                    if sent == size {
                        items += counter.finish();
                    }
                    progress.sent(bytes.len() as u64, items);
                    Some((Ok(bytes), (chunks, counter, sent, progress)))
                }
                Err(error) => Some((Err(error), (chunks, counter, sent, progress))),
            }
        },
    );
    futures::stream::once(tokio::time::sleep(wait))
        .filter_map(|()| std::future::ready(None))
        .chain(body)
}

/// Counts items as bytes go by: lines that are not blank, less the CSV header row (the server
/// skips blank lines, and a CSV record may not span lines).
#[derive(Debug)]
struct ItemCounter {
    header_pending: bool,
    in_line: bool,
}

impl ItemCounter {
    fn new(format: Format) -> Self {
        Self {
            header_pending: format == Format::Csv,
            in_line: false,
        }
    }

    /// The items whose line ends in `chunk`.
    fn feed(&mut self, chunk: &[u8]) -> u64 {
        let mut items = 0;
        for &byte in chunk {
            if byte == b'\n' {
                items += self.end_line();
            } else if !byte.is_ascii_whitespace() {
                self.in_line = true;
            }
        }
        items
    }

    /// The last line, when the file does not end with a newline.
    fn finish(&mut self) -> u64 {
        self.end_line()
    }

    /// 1 if the line just ended is an item: not blank, not the header row.
    fn end_line(&mut self) -> u64 {
        let item = std::mem::take(&mut self.in_line) && !std::mem::take(&mut self.header_pending);
        u64::from(item)
    }
}

/// Progress of a submission: a bar on stderr (hidden on request, or when stderr is not a
/// terminal) and counters the caller can read. The bar shows the items the server has recorded
/// out of those sent so far: bytes sent may sit in socket buffers long before they are filed.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    created: Instant,
    /// The first status seen: when (ms after `created`, `u64::MAX` before) and its item count;
    /// the rate shown is the server's since then (a resumed batch starts with items).
    first_seen_ms: AtomicU64,
    first_seen_items: AtomicU64,
    file_bytes: AtomicU64,
    bytes_sent: AtomicU64,
    items_sent: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
}

impl Progress {
    /// A bar on stderr, drawn only if stderr is a terminal.
    pub fn stderr() -> Self {
        Self::with_target(ProgressDrawTarget::stderr())
    }

    /// Counters only; notes still go to stderr.
    pub fn hidden() -> Self {
        Self::with_target(ProgressDrawTarget::hidden())
    }

    fn with_target(target: ProgressDrawTarget) -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), target);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{bar:25}] {pos}/{len} recorded; {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        if !bar.is_hidden() {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Self {
            bar,
            created: Instant::now(),
            first_seen_ms: AtomicU64::new(u64::MAX),
            first_seen_items: AtomicU64::new(0),
            file_bytes: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            items_sent: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    /// Bytes of the file sent by the current attempt.
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent.load(Ordering::Relaxed)
    }

    /// Items of the file sent by the current attempt.
    pub fn items_sent(&self) -> u64 {
        self.items_sent.load(Ordering::Relaxed)
    }

    /// A line on stderr, above the bar.
    pub fn note(&self, message: impl fmt::Display) {
        self.bar.suspend(|| eprintln!("{message}"));
    }

    fn start_attempt(&self, file_bytes: u64) {
        self.file_bytes.store(file_bytes, Ordering::Relaxed);
        self.bytes_sent.store(0, Ordering::Relaxed);
        self.items_sent.store(0, Ordering::Relaxed);
        self.redraw();
    }

    fn sent(&self, bytes: u64, items: u64) {
        self.bytes_sent.fetch_add(bytes, Ordering::Relaxed);
        self.items_sent.fetch_add(items, Ordering::Relaxed);
        self.redraw();
    }

    fn recorded(&self, accepted: u64, rejected: u64) {
        let now = self.created.elapsed().as_millis() as u64;
        let first = (self.first_seen_ms).compare_exchange(
            u64::MAX,
            now,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        if first.is_ok() {
            (self.first_seen_items).store(accepted + rejected, Ordering::Relaxed);
        }
        self.accepted.store(accepted, Ordering::Relaxed);
        self.rejected.store(rejected, Ordering::Relaxed);
        self.redraw();
    }

    fn redraw(&self) {
        if self.bar.is_hidden() {
            return;
        }
        let (accepted, rejected) = (
            self.accepted.load(Ordering::Relaxed),
            self.rejected.load(Ordering::Relaxed),
        );
        let first_ms = self.first_seen_ms.load(Ordering::Relaxed);
        let seconds = (self.created.elapsed().as_millis() as u64).saturating_sub(first_ms);
        let seconds = seconds as f64 / 1000.0;
        let new_items =
            (accepted + rejected).saturating_sub(self.first_seen_items.load(Ordering::Relaxed));
        let rate = if seconds > 0.0 {
            new_items as f64 / seconds
        } else {
            0.0
        };
        let (sent, file_bytes) = (self.bytes_sent(), self.file_bytes.load(Ordering::Relaxed));
        let percent = (sent * 100).checked_div(file_bytes).unwrap_or(100);
        self.bar
            .set_length(self.items_sent().max(accepted + rejected));
        self.bar.set_position(accepted + rejected);
        self.bar.set_message(format!(
            "{} sent ({percent}% of the file), {accepted} accepted, {rejected} rejected, \
             {rate:.0} items/s",
            self.items_sent()
        ));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Runs an `aduana batch` command; returns the exit code (0: done; a failure is an `Err`).
pub async fn run(command: BatchCommand) -> anyhow::Result<u8> {
    match command {
        BatchCommand::Submit(args) => {
            let client = args.server.client()?;
            let job = Submission::from(&args);
            let progress = Arc::new(if args.no_progress {
                Progress::hidden()
            } else {
                Progress::stderr()
            });
            let report = match submit(&client, &job, progress).await {
                Ok(report) => report,
                Err(error) => {
                    let state_file = state_path(&job.file);
                    if error.is_retryable()
                        && tokio::fs::try_exists(&state_file).await.unwrap_or(false)
                    {
                        eprintln!(
                            "note: the batch is not complete; run the same command again to \
                             resume it (its id is kept in {})",
                            state_file.display()
                        );
                    }
                    return Err(error.into());
                }
            };
            let status = &report.status;
            eprintln!(
                "batch {} completed: {} items, {} accepted, {} rejected ({} sent in {:.1} s, \
                 {:.0} items/s)",
                status.id,
                status.items,
                status.accepted,
                status.rejected,
                report.items_sent,
                report.elapsed_seconds,
                report.items_per_second
            );
            if let (Some(path), Some(lines)) = (&report.results_file, report.results_written) {
                eprintln!("{lines} results written to {}", path.display());
            }
            print_json(&report)?;
            Ok(0)
        }
        BatchCommand::Status(args) => {
            let status = args.server.client()?.status(args.id).await?;
            print_json(&status)?;
            Ok(0)
        }
        BatchCommand::Results(args) => {
            let client = args.server.client()?;
            match &args.output {
                Some(path) => {
                    let client = &client;
                    let lines =
                        (move || client.download_results(args.id, args.rejected_only, path))
                            .retry(backoff(RESULTS_RETRIES, FIRST_RETRY_DELAY))
                            .when(ClientError::is_retryable)
                            .await?;
                    eprintln!("{lines} results written to {}", path.display());
                }
                // Not retried: what reached stdout cannot be taken back. Written with std's
                // blocking stdout: this command does nothing else meanwhile.
                None => {
                    use std::io::Write as _;
                    let mut chunks =
                        std::pin::pin!(client.results(args.id, args.rejected_only).await?);
                    let mut out = std::io::stdout();
                    while let Some(chunk) = chunks.next().await {
                        match out.write_all(&chunk?).and_then(|()| out.flush()) {
                            Ok(()) => {}
                            // The reader went away (`| head`): stop quietly, as Unix tools do.
                            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break,
                            Err(e) => return Err(ClientError::Write(e).into()),
                        }
                    }
                }
            }
            Ok(0)
        }
    }
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    use std::io::Write as _;
    let line = serde_json::to_string(value)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// The error and its causes on one line, skipping causes the line already holds.
fn explain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = inner.source();
    }
    line
}

fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}
