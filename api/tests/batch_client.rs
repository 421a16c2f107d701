//! The batch client (`aduana batch`) against an in-test server on a loopback port that plays
//! the batch contract: it records every POST (headers and body), follows a script for the next
//! POSTs (refuse, cut the connection, pause, answer "interrupted") and answers completed
//! batches' status and results.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use api::batch_client::{
    BatchClient, BatchCommand, ClientError, Credentials, Format, Progress, Submission, SubmitArgs,
    read_state, state_path, submit,
};
use axum::body::Body;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::{IncomingStream, Listener};
use axum::{Json, Router};
use clap::Parser;
use futures::StreamExt as _;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

const TOKEN: &str = "t0ken";
const API_KEY: &str = "ak_test";
/// Long enough for the loopback server to refuse from the headers alone.
const CONTINUE_WAIT: Duration = Duration::from_millis(100);

/// What the server does with the next POST (after the script: [`Next::Accept`]).
#[derive(Debug, Clone)]
enum Next {
    /// Read the whole body; answer 200 with the batch completed.
    Accept,
    /// Answer at once with this status and error code, without reading the body.
    Refuse(u16, &'static str),
    /// The same, after a moment (as a server that looks the credentials up first).
    RefuseLate(u16, &'static str, Duration),
    /// The same, in the GraphQL-like shape `{"errors":[{"message","extensions":{"code"}}]}`.
    RefuseAsGraphql(u16, &'static str),
    /// Read the first chunk of the body, then cut the connection without an answer.
    Drop,
    /// Read the first chunk, wait this long, then read the rest and accept.
    Pause(Duration),
    /// Read the whole body; answer 200 with the batch interrupted.
    Interrupt,
    /// Read the whole body and complete the batch, then cut the connection (the answer is
    /// lost).
    CompleteThenDrop,
}

#[derive(Debug, Clone, Default)]
struct Post {
    key: Option<String>,
    content_type: Option<String>,
    content_length: Option<String>,
    /// The watched state file's content when the POST arrived.
    state_file: Option<String>,
    body: Vec<u8>,
}

#[derive(Default)]
struct Fake {
    script: Mutex<VecDeque<Next>>,
    posts: Mutex<Vec<Post>>,
    completed: Mutex<HashMap<String, Value>>,
    results_queries: Mutex<Vec<Option<String>>>,
    watched_state_file: Mutex<Option<PathBuf>>,
    paused: AtomicBool,
}

impl Fake {
    fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }

    fn keys(&self) -> Vec<Option<String>> {
        self.posts().into_iter().map(|p| p.key).collect()
    }
}

struct TestServer {
    url: String,
    fake: Arc<Fake>,
}

impl TestServer {
    async fn start(script: impl IntoIterator<Item = Next>) -> Self {
        let fake = Arc::new(Fake::default());
        fake.script.lock().unwrap().extend(script);
        let app = Router::new()
            .route("/api/v1/batches", post(post_batch))
            .route("/api/v1/batches/{id}", get(batch_status))
            .route("/api/v1/batches/{id}/results", get(batch_results))
            .layer(DefaultBodyLimit::disable())
            .with_state(fake.clone());
        let listener = KillableListener(TcpListener::bind("127.0.0.1:0").await.unwrap());
        let addr = listener.0.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<Kill>())
                .await
                .unwrap();
        });
        Self {
            url: format!("http://{addr}"),
            fake,
        }
    }

    fn client(&self) -> BatchClient {
        BatchClient::new(&self.url, Credentials::Bearer(TOKEN.into()))
            .unwrap()
            .with_continue_wait(CONTINUE_WAIT)
    }

    fn submission(&self, file: &Path, flags: &[&str]) -> Submission {
        let mut args = vec!["submit", file.to_str().unwrap(), "--token", TOKEN];
        args.extend(["--server", &self.url]);
        args.extend(flags);
        let mut job = Submission::from(&submit_args(&args));
        job.first_retry_delay = Duration::from_millis(10);
        job
    }

    async fn submit(
        &self,
        job: &Submission,
    ) -> Result<api::batch_client::SubmitReport, ClientError> {
        submit(&self.client(), job, Arc::new(Progress::hidden())).await
    }
}

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    batch: BatchCommand,
}

fn parse(args: &[&str]) -> Result<BatchCommand, clap::Error> {
    Cli::try_parse_from(std::iter::once("batch").chain(args.iter().copied())).map(|c| c.batch)
}

fn submit_args(args: &[&str]) -> SubmitArgs {
    match parse(args).unwrap() {
        BatchCommand::Submit(args) => args,
        other => panic!("parsed as {other:?}"),
    }
}

fn authorised(headers: &HeaderMap) -> bool {
    let bearer = format!("Bearer {TOKEN}");
    headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| *v == *bearer)
        || headers.get("x-api-key").is_some_and(|v| v == API_KEY)
}

fn error(status: u16, code: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message } });
    (StatusCode::from_u16(status).unwrap(), Json(body)).into_response()
}

fn status_json(id: &str, status: &str, items: u64, rejected: u64) -> Value {
    json!({
        "id": id, "status": status, "format": "ndjson", "submittedBy": "declarant/alice@ACME",
        "organisation": "ACME", "receivedAt": "2025-01-02T10:00:00Z",
        "updatedAt": "2025-01-02T10:00:01Z", "completedAt": null,
        "items": items, "accepted": items - rejected, "rejected": rejected,
        "interruption": if status == "interrupted" { json!("the server is shutting down") } else { Value::Null },
    })
}

async fn post_batch(
    State(fake): State<Arc<Fake>>,
    ConnectInfo(kill): ConnectInfo<Kill>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !authorised(&headers) {
        return error(401, "UNAUTHENTICATED", "no valid credentials");
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let watched = fake.watched_state_file.lock().unwrap().clone();
    let mut post = Post {
        key: header("idempotency-key"),
        content_type: header("content-type"),
        content_length: header("content-length"),
        state_file: watched.and_then(|path| std::fs::read_to_string(path).ok()),
        body: Vec::new(),
    };
    let Some(id) = post.key.clone().filter(|k| Uuid::parse_str(k).is_ok()) else {
        return error(400, "INVALID_BATCH_ID", "the Idempotency-Key is not a UUID");
    };
    let next = fake
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Next::Accept);
    let mut chunks = body.into_data_stream();
    match next {
        Next::Refuse(status, code) => {
            fake.posts.lock().unwrap().push(post);
            return error(status, code, "refused by the test script");
        }
        Next::RefuseLate(status, code, after) => {
            tokio::time::sleep(after).await;
            fake.posts.lock().unwrap().push(post);
            return error(status, code, "refused by the test script");
        }
        Next::RefuseAsGraphql(status, code) => {
            fake.posts.lock().unwrap().push(post);
            let body = json!({ "errors": [{ "message": "refused by the test script",
                "extensions": { "code": code } }] });
            return (StatusCode::from_u16(status).unwrap(), Json(body)).into_response();
        }
        Next::Drop => {
            if let Some(Ok(chunk)) = chunks.next().await {
                post.body.extend_from_slice(&chunk);
            }
            fake.posts.lock().unwrap().push(post);
            kill.0.store(true, Ordering::SeqCst);
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        Next::Pause(pause) => {
            if let Some(Ok(chunk)) = chunks.next().await {
                post.body.extend_from_slice(&chunk);
            }
            fake.paused.store(true, Ordering::SeqCst);
            tokio::time::sleep(pause).await;
        }
        Next::Accept | Next::Interrupt | Next::CompleteThenDrop => {}
    }
    while let Some(chunk) = chunks.next().await {
        match chunk {
            Ok(chunk) => post.body.extend_from_slice(&chunk),
            Err(_) => {
                fake.posts.lock().unwrap().push(post);
                return StatusCode::BAD_REQUEST.into_response();
            }
        }
    }
    let lines = post.body.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    let rejected = lines.clone().filter(|l| l.starts_with(b"BAD")).count() as u64;
    let header_rows = u64::from(post.content_type.as_deref() == Some("text/csv"));
    let items = lines.count() as u64 - header_rows;
    let status = match next {
        Next::Interrupt => status_json(&id, "interrupted", items, rejected),
        _ => status_json(&id, "completed", items, rejected),
    };
    if matches!(next, Next::Interrupt) {
        fake.completed.lock().unwrap().remove(&id);
    } else {
        fake.completed.lock().unwrap().insert(id, status.clone());
    }
    fake.posts.lock().unwrap().push(post);
    if matches!(next, Next::CompleteThenDrop) {
        kill.0.store(true, Ordering::SeqCst);
    }
    Json(status).into_response()
}

async fn batch_status(
    State(fake): State<Arc<Fake>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&headers) {
        return error(401, "UNAUTHENTICATED", "no valid credentials");
    }
    match fake.completed.lock().unwrap().get(&id) {
        Some(status) => Json(status.clone()).into_response(),
        None => error(404, "BATCH_NOT_FOUND", "no such batch"),
    }
}

async fn batch_results(
    State(fake): State<Arc<Fake>>,
    UrlPath(id): UrlPath<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&headers) {
        return error(401, "UNAUTHENTICATED", "no valid credentials");
    }
    let rejected_only = query.get("rejected").cloned();
    fake.results_queries
        .lock()
        .unwrap()
        .push(rejected_only.clone());
    if !fake.completed.lock().unwrap().contains_key(&id) {
        return error(404, "BATCH_NOT_FOUND", "no such batch");
    }
    let lines = [
        r#"{"item":1,"line":1,"lrn":"LRN-1","outcome":"accepted","lane":"GREEN","replayed":false}"#,
        r#"{"item":2,"line":2,"lrn":null,"outcome":"rejected","errors":[{"code":"UNKNOWN_TARIFF_CODE"}],"replayed":false}"#,
    ];
    let body: String = lines
        .iter()
        .filter(|l| rejected_only.as_deref() != Some("true") || l.contains("\"rejected\""))
        .map(|l| format!("{l}\n"))
        .collect();
    ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
}

/// A listener whose connections a handler can cut (through `ConnectInfo<Kill>`): once killed,
/// every read and write fails, so the server drops the connection without answering.
struct KillableListener(TcpListener);

struct KillableIo {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

#[derive(Clone)]
struct Kill(Arc<AtomicBool>);

impl Listener for KillableListener {
    type Io = KillableIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            if let Ok((inner, addr)) = self.0.accept().await {
                let killed = Arc::default();
                return (KillableIo { inner, killed }, addr);
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for Kill {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        Kill(stream.io().killed.clone())
    }
}

impl KillableIo {
    fn check(&self) -> io::Result<()> {
        if self.killed.load(Ordering::SeqCst) {
            Err(io::ErrorKind::ConnectionReset.into())
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for KillableIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// `count` NDJSON declarations (every tenth one a line the fake server rejects), each padded
/// to about `width` bytes.
fn ndjson(count: usize, width: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for n in 0..count {
        let prefix = if n % 10 == 9 { "BAD" } else { "" };
        let line = format!(r#"{prefix}{{"header":{{"lrn":"LRN-{n}"}},"pad":""#);
        out.extend_from_slice(line.as_bytes());
        out.extend(std::iter::repeat_n(
            b'x',
            width.saturating_sub(line.len() + 3),
        ));
        out.extend_from_slice(b"\"}\n");
    }
    out
}

fn write_file(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path
}

#[tokio::test]
async fn an_ndjson_file_arrives_byte_for_byte_with_its_content_type_length_and_batch_id() {
    let server = TestServer::start([]).await;
    let dir = tempfile::tempdir().unwrap();
    let content = ndjson(3000, 200);
    let file = write_file(&dir, "declarations.ndjson", &content);

    let report = server.submit(&server.submission(&file, &[])).await.unwrap();

    let posts = server.fake.posts();
    assert_eq!(posts.len(), 1);
    assert!(posts[0].body == content, "the body differs from the file");
    assert_eq!(
        posts[0].content_type.as_deref(),
        Some("application/x-ndjson")
    );
    assert_eq!(posts[0].content_length, Some(content.len().to_string()));
    assert_eq!(posts[0].key, Some(report.status.id.to_string()));
    assert_eq!(report.items_sent, 3000);
    assert_eq!(report.attempts, 1);
    assert!(!report.resumed);
    assert_eq!(
        (report.status.status.as_str(), report.status.items),
        ("completed", 3000)
    );
    assert_eq!(
        (report.status.accepted, report.status.rejected),
        (2700, 300)
    );
    let summary = serde_json::to_value(&report).unwrap();
    assert_eq!(summary["submittedBy"], "declarant/alice@ACME", "{summary}");
    assert_eq!(summary["itemsSent"], 3000);
    assert!(summary["elapsedSeconds"].is_number() && summary["itemsPerSecond"].is_number());
}

#[tokio::test]
async fn a_csv_file_is_sent_as_text_csv_and_its_header_row_is_not_an_item() {
    let server = TestServer::start([]).await;
    let dir = tempfile::tempdir().unwrap();
    // Blank lines are not items; the last line has no newline.
    let content =
        b"lrn,declarant,hs_code\nLRN-1,ACME,8471300000\n\nLRN-2,ACME,8517620000\nLRN-3,ACME,x";
    let file = write_file(&dir, "declarations.CSV", content);

    let report = server.submit(&server.submission(&file, &[])).await.unwrap();

    let posts = server.fake.posts();
    assert_eq!(posts[0].content_type.as_deref(), Some("text/csv"));
    assert_eq!(posts[0].body, content);
    assert_eq!(report.items_sent, 3);
    assert_eq!(report.status.items, 3);
}

#[test]
fn the_format_comes_from_the_extension_unless_given() {
    assert_eq!(Format::detect(Path::new("a/b.csv")), Format::Csv);
    assert_eq!(Format::detect(Path::new("b.Csv")), Format::Csv);
    assert_eq!(Format::detect(Path::new("b.ndjson")), Format::Ndjson);
    assert_eq!(Format::detect(Path::new("b.jsonl")), Format::Ndjson);
    assert_eq!(Format::detect(Path::new("csv")), Format::Ndjson);
    let job = |args: &[&str]| Submission::from(&submit_args(args));
    assert_eq!(
        job(&["submit", "x.csv", "--token", "t"]).format,
        Format::Csv
    );
    assert_eq!(
        job(&["submit", "x.txt", "--token", "t"]).format,
        Format::Ndjson
    );
    assert_eq!(
        job(&["submit", "x.txt", "--token", "t", "--format", "csv"]).format,
        Format::Csv
    );
    assert_eq!(
        job(&["submit", "x.csv", "--token", "t", "--format", "ndjson"]).format,
        Format::Ndjson
    );
    assert_eq!(Format::Csv.content_type(), "text/csv");
    assert_eq!(Format::Ndjson.content_type(), "application/x-ndjson");
}

#[tokio::test]
async fn the_file_is_streamed_as_the_server_reads_it_not_loaded_first() {
    // The server stops reading after the first chunk: a client that streams has read little
    // more than the socket buffers hold by then.
    let server = TestServer::start([Next::Pause(Duration::from_millis(1500))]).await;
    let dir = tempfile::tempdir().unwrap();
    let content = ndjson(32 * 1024, 1024);
    let file = write_file(&dir, "big.ndjson", &content);
    let job = server.submission(&file, &[]);
    let progress = Arc::new(Progress::hidden());
    let running = tokio::spawn({
        let (client, progress) = (server.client(), progress.clone());
        async move { submit(&client, &job, progress).await }
    });

    tokio::time::timeout(Duration::from_secs(10), async {
        while !server.fake.paused.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the server saw the first chunk");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent_while_paused = progress.bytes_sent();
    assert!(
        sent_while_paused < content.len() as u64 / 2,
        "{sent_while_paused} of {} bytes read while the server was not reading",
        content.len()
    );

    let report = running.await.unwrap().unwrap();
    assert_eq!(report.items_sent, 32 * 1024);
    assert!(server.fake.posts()[0].body == content);
}

#[tokio::test]
async fn a_503_and_batch_in_progress_are_retried_with_the_same_idempotency_key() {
    let server = TestServer::start([
        Next::Refuse(503, "UNAVAILABLE"),
        Next::Refuse(409, "BATCH_IN_PROGRESS"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let content = ndjson(100, 80);
    let file = write_file(&dir, "d.ndjson", &content);

    let report = server.submit(&server.submission(&file, &[])).await.unwrap();

    let id = report.status.id.to_string();
    assert_eq!(server.fake.keys(), vec![Some(id.clone()); 3]);
    assert_eq!(report.attempts, 3);
    assert_eq!(server.fake.posts()[2].body, content);
    assert_eq!(report.items_sent, 100, "items are counted per attempt");
}

#[tokio::test]
async fn a_dropped_connection_is_retried_with_the_same_idempotency_key() {
    let server = TestServer::start([Next::Drop, Next::Drop]).await;
    let dir = tempfile::tempdir().unwrap();
    let content = ndjson(4000, 256);
    let file = write_file(&dir, "d.ndjson", &content);

    let report = server.submit(&server.submission(&file, &[])).await.unwrap();

    let posts = server.fake.posts();
    assert_eq!(posts.len(), 3);
    assert!(
        posts[0].body.len() < content.len(),
        "cut after the first chunk"
    );
    assert!(
        posts[2].body == content,
        "the last attempt sent the whole file"
    );
    let id = report.status.id.to_string();
    assert_eq!(server.fake.keys(), vec![Some(id); 3]);
    assert_eq!(report.attempts, 3);
}

#[tokio::test]
async fn a_batch_completed_before_its_answer_was_lost_is_not_sent_again() {
    let server = TestServer::start([Next::CompleteThenDrop]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, "d.ndjson", &ndjson(10, 50));

    let report = server.submit(&server.submission(&file, &[])).await.unwrap();

    assert_eq!(server.fake.posts().len(), 1);
    assert_eq!(report.attempts, 2);
    assert_eq!(
        (report.status.status.as_str(), report.status.items),
        ("completed", 10)
    );
    assert!(!state_path(&file).exists());

    // Named again by its id, a completed batch is not sent again either.
    let id = report.status.id.to_string();
    let again = server
        .submit(&server.submission(&file, &["--batch-id", &id]))
        .await
        .unwrap();
    assert_eq!(again.status.id, report.status.id);
    assert_eq!(server.fake.posts().len(), 1);
}

#[tokio::test]
async fn an_interrupted_batch_is_sent_again() {
    let server = TestServer::start([Next::Interrupt]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, "d.ndjson", &ndjson(10, 50));

    let report = server.submit(&server.submission(&file, &[])).await.unwrap();

    assert_eq!(report.attempts, 2);
    assert_eq!(report.status.status, "completed");
    assert_eq!(server.fake.keys()[0], server.fake.keys()[1]);
}

#[tokio::test]
async fn bad_credentials_are_not_retried_and_say_why() {
    let server = TestServer::start([]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, "d.ndjson", &ndjson(10, 50));
    let client = BatchClient::new(&server.url, Credentials::Bearer("wrong".into()))
        .unwrap()
        .with_continue_wait(CONTINUE_WAIT);

    let error = submit(
        &client,
        &server.submission(&file, &[]),
        Arc::new(Progress::hidden()),
    )
    .await
    .unwrap_err();

    assert!(
        matches!(&error, ClientError::Refused { status: 401, code, .. } if code == "UNAUTHENTICATED"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "the server answered 401 UNAUTHENTICATED: no valid credentials"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn an_unsupported_media_type_is_not_retried() {
    for refusal in [
        Next::Refuse(415, "UNSUPPORTED_MEDIA_TYPE"),
        Next::RefuseAsGraphql(415, "UNSUPPORTED_MEDIA_TYPE"),
    ] {
        let server = TestServer::start([refusal]).await;
        let dir = tempfile::tempdir().unwrap();
        let file = write_file(&dir, "d.ndjson", &ndjson(10, 50));

        let error = server
            .submit(&server.submission(&file, &[]))
            .await
            .unwrap_err();

        assert_eq!(
            error.to_string(),
            "the server answered 415 UNSUPPORTED_MEDIA_TYPE: refused by the test script"
        );
        assert_eq!(server.fake.posts().len(), 1);
    }
}

#[tokio::test]
async fn an_error_answer_that_is_not_json_is_shown_by_its_http_status() {
    let server = TestServer::start([]).await;
    let client = BatchClient::new(
        &format!("{}/nowhere", server.url),
        Credentials::Bearer(TOKEN.into()),
    )
    .unwrap();
    let error = client.status(Uuid::new_v4()).await.unwrap_err();
    assert!(
        matches!(&error, ClientError::Refused { status: 404, code, .. } if code == "HTTP_404"),
        "{error:?}"
    );
}

/// A server that refuses from the headers closes the connection with the body unread; the
/// client holds the body back for a moment (`Expect: 100-continue`), so the refusal is seen
/// rather than a broken pipe (which would be retried).
#[tokio::test]
async fn a_refusal_before_a_large_body_is_read_is_reported_not_retried() {
    let late = Next::RefuseLate(413, "BATCH_TOO_LARGE", Duration::from_millis(20));
    let server = TestServer::start([late]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, "big.ndjson", &ndjson(16 * 1024, 1024));

    let error = server
        .submit(&server.submission(&file, &[]))
        .await
        .unwrap_err();

    assert!(
        matches!(&error, ClientError::Refused { status: 413, code, .. } if code == "BATCH_TOO_LARGE"),
        "{error:?}"
    );
    assert_eq!(server.fake.posts().len(), 1);
}

#[tokio::test]
async fn retries_stop_after_max_retries_and_the_state_file_stays_for_a_later_run() {
    let failures = std::iter::repeat_n(Next::Refuse(502, "BAD_GATEWAY"), 3);
    let server = TestServer::start(failures).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, "d.ndjson", &ndjson(10, 50));

    let job = server.submission(&file, &["--max-retries", "2"]);
    let error = server.submit(&job).await.unwrap_err();

    assert!(
        matches!(error, ClientError::Refused { status: 502, .. }),
        "{error:?}"
    );
    assert_eq!(server.fake.posts().len(), 3, "one try and two retries");
    let state = read_state(&state_path(&file)).await.unwrap().unwrap();
    assert_eq!(Some(state.batch_id.to_string()), server.fake.keys()[0]);

    let report = server.submit(&job).await.unwrap();
    assert!(report.resumed);
    assert_eq!(report.status.id, state.batch_id);
    assert_eq!(server.fake.posts().len(), 4);
    assert!(!state_path(&file).exists());
}

#[tokio::test]
async fn the_state_file_is_written_before_sending_and_removed_on_completion() {
    let server = TestServer::start([]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, "d.ndjson", &ndjson(10, 50));
    let state_file = state_path(&file);
    assert_eq!(state_file, dir.path().join("d.ndjson.aduana-batch"));
    *server.fake.watched_state_file.lock().unwrap() = Some(state_file.clone());

    let report = server.submit(&server.submission(&file, &[])).await.unwrap();

    let seen = server.fake.posts()[0]
        .state_file
        .clone()
        .expect("state file while sending");
    let seen: Value = serde_json::from_str(&seen).unwrap();
    assert_eq!(seen["batchId"], report.status.id.to_string());
    assert_eq!(seen["server"], server.url);
    assert_eq!(seen["fileSize"], std::fs::metadata(&file).unwrap().len());
    assert!(seen["fileModified"].is_string());
    assert!(!state_file.exists(), "removed once the batch completed");
}

#[tokio::test]
async fn a_changed_file_or_another_server_starts_a_new_batch() {
    let unavailable = Next::Refuse(503, "UNAVAILABLE");
    let server = TestServer::start([unavailable.clone(), unavailable]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, "d.ndjson", &ndjson(10, 50));
    let no_retry = server.submission(&file, &["--max-retries", "0"]);
    server.submit(&no_retry).await.unwrap_err();
    let first = read_state(&state_path(&file)).await.unwrap().unwrap();

    // Another server: the state file is not for it.
    let other = TestServer::start([]).await;
    let report = other.submit(&other.submission(&file, &[])).await.unwrap();
    assert_ne!(report.status.id, first.batch_id);
    assert!(!report.resumed);

    // The same server, but the file changed since.
    server.submit(&no_retry).await.unwrap_err();
    let second = read_state(&state_path(&file)).await.unwrap().unwrap();
    std::fs::write(&file, ndjson(11, 50)).unwrap();
    let report = server.submit(&server.submission(&file, &[])).await.unwrap();
    assert!(!report.resumed);
    assert_eq!(report.items_sent, 11);
    assert_ne!(report.status.id, second.batch_id);
}

#[tokio::test]
async fn a_batch_id_flag_overrides_the_state_file() {
    let server = TestServer::start([Next::Refuse(503, "UNAVAILABLE")]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, "d.ndjson", &ndjson(10, 50));
    server
        .submit(&server.submission(&file, &["--max-retries", "0"]))
        .await
        .unwrap_err();
    let chosen = Uuid::new_v4();

    let report = server
        .submit(&server.submission(&file, &["--batch-id", &chosen.to_string()]))
        .await
        .unwrap();

    assert_eq!(report.status.id, chosen);
    assert_eq!(server.fake.keys()[1], Some(chosen.to_string()));
    assert!(!state_path(&file).exists());
}

#[tokio::test]
async fn results_are_written_to_the_results_file_once_the_batch_completed() {
    let server = TestServer::start([]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, "d.ndjson", &ndjson(10, 50));
    let out = dir.path().join("results.ndjson");

    let report = server
        .submit(&server.submission(&file, &["--results", out.to_str().unwrap()]))
        .await
        .unwrap();

    assert_eq!(report.results_written, Some(2));
    let written = std::fs::read_to_string(&out).unwrap();
    let outcomes: Vec<String> = written
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["outcome"].to_string())
        .collect();
    assert_eq!(outcomes, ["\"accepted\"", "\"rejected\""]);
    assert!(!dir.path().join("results.ndjson.part").exists());

    let rejected_out = dir.path().join("rejected.ndjson");
    let flags = [
        "--results",
        rejected_out.to_str().unwrap(),
        "--rejected-only",
    ];
    server
        .submit(&server.submission(&file, &flags))
        .await
        .unwrap();
    let written = std::fs::read_to_string(&rejected_out).unwrap();
    assert_eq!(written.lines().count(), 1);
    assert!(written.contains("UNKNOWN_TARIFF_CODE"));
    assert_eq!(
        *server.fake.results_queries.lock().unwrap(),
        [None, Some("true".to_owned())]
    );
}

#[tokio::test]
async fn status_and_results_read_a_batch_back() {
    let server = TestServer::start([]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, "d.ndjson", &ndjson(20, 50));
    let report = server.submit(&server.submission(&file, &[])).await.unwrap();
    let client = server.client();

    let status = client.status(report.status.id).await.unwrap();
    assert_eq!(status, report.status);
    assert_eq!(status.other["organisation"], "ACME");

    let mut out = Vec::new();
    let lines = client
        .write_results(report.status.id, false, &mut out)
        .await
        .unwrap();
    assert_eq!(lines, 2);
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 2);

    let error = client.status(Uuid::new_v4()).await.unwrap_err();
    assert!(
        matches!(&error, ClientError::Refused { status: 404, code, .. } if code == "BATCH_NOT_FOUND"),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_api_key_is_sent_as_x_api_key() {
    let server = TestServer::start([]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(&dir, "d.ndjson", &ndjson(5, 50));
    let args = submit_args(&[
        "submit",
        file.to_str().unwrap(),
        "--api-key",
        API_KEY,
        "--server",
        &server.url,
    ]);
    let client = args
        .server
        .client()
        .unwrap()
        .with_continue_wait(CONTINUE_WAIT);

    let report = submit(
        &client,
        &Submission::from(&args),
        Arc::new(Progress::hidden()),
    )
    .await
    .unwrap();

    assert_eq!(report.status.items, 5);
}

#[test]
fn the_batch_command_line_is_well_formed() {
    use clap::CommandFactory as _;
    Cli::command().debug_assert();
    let BatchCommand::Results(args) = parse(&[
        "results",
        "0190c0de-0000-7000-8000-000000000000",
        "--rejected-only",
        "-o",
        "out.ndjson",
        "--api-key",
        "k",
    ])
    .unwrap() else {
        panic!("not results");
    };
    assert!(args.rejected_only);
    assert_eq!(args.output, Some(PathBuf::from("out.ndjson")));
    let args = submit_args(&["submit", "f.ndjson", "--token", "t"]);
    assert_eq!(args.max_retries, 10);
    assert!(parse(&["status", "not-a-uuid", "--token", "t"]).is_err());
    // The command can run on a spawned task.
    fn is_send<T: Send>(_: T) {}
    is_send(api::batch_client::run(
        parse(&["status", "0190c0de-0000-7000-8000-000000000000"]).unwrap(),
    ));
}

#[test]
fn credentials_are_required_once_and_never_printed() {
    let server_args = |extra: &[&str]| {
        let mut args = vec!["status", "0190c0de-0000-7000-8000-000000000000"];
        args.extend(extra);
        match parse(&args).unwrap() {
            BatchCommand::Status(args) => args.server,
            other => panic!("parsed as {other:?}"),
        }
    };
    let error = server_args(&[]).credentials().unwrap_err();
    assert!(matches!(error, ClientError::NoCredentials));
    assert!(error.to_string().contains("--token"), "{error}");
    assert!(error.to_string().contains("--api-key"), "{error}");
    assert!(matches!(
        server_args(&["--token", "a", "--api-key", "b"]).credentials(),
        Err(ClientError::TwoCredentials)
    ));
    let args = server_args(&["--token", "s3cret"]);
    assert!(matches!(args.credentials(), Ok(Credentials::Bearer(t)) if t == "s3cret"));
    assert!(!format!("{args:?}").contains("s3cret"));
    let client = args.client().unwrap();
    assert!(!format!("{client:?}").contains("s3cret"));

    assert!(matches!(
        BatchClient::new("localhost:8080", Credentials::Bearer("t".into())),
        Err(ClientError::BadServer(_))
    ));
    assert!(parse(&["submit", "f", "--rejected-only", "--token", "t"]).is_err());
}

#[test]
fn only_transient_failures_are_retried() {
    let refused = |status, code: &str| ClientError::Refused {
        status,
        code: code.into(),
        message: String::new(),
    };
    for (status, code) in [
        (500, "INTERNAL"),
        (502, "HTTP_502"),
        (503, "STORE_UNAVAILABLE"),
        (408, "HTTP_408"),
        (429, "HTTP_429"),
        (409, "BATCH_IN_PROGRESS"),
        (400, "BODY_INCOMPLETE"),
    ] {
        assert!(refused(status, code).is_retryable(), "{status} {code}");
    }
    for (status, code) in [
        (400, "INVALID_BATCH_ID"),
        (400, "INVALID_CSV_HEADER"),
        (401, "INVALID_TOKEN"),
        (403, "FORBIDDEN"),
        (404, "BATCH_NOT_FOUND"),
        (409, "CONFLICT"),
        (413, "BATCH_TOO_LARGE"),
        (415, "UNSUPPORTED_MEDIA_TYPE"),
    ] {
        assert!(!refused(status, code).is_retryable(), "{status} {code}");
    }
}
