//! GraphQL over WebSocket (`graphql-transport-ws`) on a real socket: every close code of the
//! protocol, limits, access (integrators their granted categories, declarants their own
//! organisation's streams), catch-up then live delivery, and resumption without gap or
//! duplicate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use aduana_tests::{TestDb, on_every_backend};
use api::auth::{Category, Role};
use api::graphql::ws::WsSettings;
use common::declarations::filing;
use common::{TestApp, declarant_token, integrator_token, token_for};
use eventstore::{ExpectedVersion, NewEvent, StreamId};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(app: &TestApp, settings: WsSettings) -> Self {
        let state = app.state.clone().with_ws_settings(settings);
        let server = api::App::bind("127.0.0.1:0".parse().unwrap(), state)
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run_until(async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn connect_with(
        &self,
        protocol: Option<&str>,
        origin: Option<&str>,
    ) -> Result<Socket, String> {
        let mut request = format!("ws://{}/graphql", self.addr)
            .into_client_request()
            .unwrap();
        if let Some(protocol) = protocol {
            request
                .headers_mut()
                .insert("sec-websocket-protocol", protocol.parse().unwrap());
        }
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().unwrap());
        }
        tokio_tungstenite::connect_async(request)
            .await
            .map(|(socket, _)| socket)
            .map_err(|e| e.to_string())
    }

    async fn connect(&self) -> Socket {
        self.connect_with(Some("graphql-transport-ws"), None)
            .await
            .unwrap()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .unwrap();
}

/// The next protocol message (JSON), or the close code.
async fn next(socket: &mut Socket) -> Result<Value, Option<u16>> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s");
        match message {
            Some(Ok(Message::Text(text))) => {
                return Ok(serde_json::from_str(text.as_str()).unwrap());
            }
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}

async fn closed_with(socket: &mut Socket) -> Option<u16> {
    loop {
        match next(socket).await {
            Ok(_) => continue,
            Err(code) => return code,
        }
    }
}

async fn init(socket: &mut Socket, token: &str) {
    send(socket, json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })).await;
    assert_eq!(next(socket).await.unwrap()["type"], "connection_ack");
}

fn events_query(after: u64) -> Value {
    json!({
        "query": "subscription E($after: Position!) { events(after: $after, categories: [\"note\"]) { position eventType payload } }",
        "variables": { "after": after.to_string() },
    })
}

async fn append_notes(app: &TestApp, from: u32, to: u32) {
    let stream = StreamId::parse("note-1").unwrap();
    for n in from..to {
        app.store
            .append(
                &stream,
                ExpectedVersion::Any,
                vec![NewEvent::new("Noted", json!({ "n": n }))],
            )
            .await
            .unwrap();
    }
}

fn quick_init() -> WsSettings {
    WsSettings {
        init_timeout: Duration::from_millis(300),
        ..WsSettings::default()
    }
}

#[tokio::test]
async fn each_protocol_violation_closes_with_its_code() {
    let app = TestApp::new().await;
    let server = Server::start(&app, quick_init()).await;
    let admin = token_for(Role::Admin);

    // No ConnectionInit in time.
    let mut socket = server.connect().await;
    assert_eq!(closed_with(&mut socket).await, Some(4408));

    // Subscribe before the acknowledgement.
    let mut socket = server.connect().await;
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "1", "payload": events_query(0) }),
    )
    .await;
    assert_eq!(closed_with(&mut socket).await, Some(4401));

    // A second ConnectionInit.
    let mut socket = server.connect().await;
    init(&mut socket, &admin).await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(closed_with(&mut socket).await, Some(4429));

    // Refused credentials.
    let mut socket = server.connect().await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "authorization": "Bearer forged" } }),
    )
    .await;
    assert_eq!(closed_with(&mut socket).await, Some(4403));

    // The same id twice while the first runs.
    let mut socket = server.connect().await;
    init(&mut socket, &admin).await;
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "a", "payload": events_query(0) }),
    )
    .await;
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "a", "payload": events_query(0) }),
    )
    .await;
    assert_eq!(closed_with(&mut socket).await, Some(4409));

    // Something that is not a protocol message.
    let mut socket = server.connect().await;
    init(&mut socket, &admin).await;
    send(&mut socket, json!({ "type": "start", "id": "1" })).await;
    assert_eq!(closed_with(&mut socket).await, Some(4400));

    // No subprotocol offered.
    let mut socket = server.connect_with(None, None).await.unwrap();
    assert_eq!(closed_with(&mut socket).await, Some(4406));

    // A page of another site may not open a socket at all.
    let refused = server
        .connect_with(Some("graphql-transport-ws"), Some("https://evil.example"))
        .await;
    assert!(refused.unwrap_err().contains("403"));

    // A message far larger than the limit ends the connection.
    let mut socket = server.connect().await;
    init(&mut socket, &admin).await;
    let huge = "x".repeat(200 * 1024);
    let _ = socket
        .send(Message::text(
            json!({ "type": "ping", "payload": { "x": huge } }).to_string(),
        ))
        .await;
    let code = closed_with(&mut socket).await;
    assert!(
        code.is_none_or(|c| c == u16::from(CloseCode::Size)),
        "{code:?}"
    );
    server.stop().await;
}

on_every_backend! {
    events_arrive_from_the_given_position_then_live_and_resume_without_gap_or_duplicate => resume;
    each_principal_subscribes_to_the_events_it_may_read_only => subscriptions_by_principal;
}

async fn resume(db: TestDb) {
    let app = TestApp::on(&db).await;
    append_notes(&app, 0, 20).await;
    let server = Server::start(&app, WsSettings::default()).await;
    // `note` is a test category, never granted to an integrator: an auditor reads it.
    let integrator = token_for(Role::Auditor);
    let mut socket = server.connect().await;
    init(&mut socket, &integrator).await;
    send(&mut socket, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "pong");
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "s1", "payload": events_query(0) }),
    )
    .await;
    let writer = {
        let store = app.store.clone();
        tokio::spawn(async move {
            let stream = StreamId::parse("note-1").unwrap();
            for n in 20..60 {
                store
                    .append(
                        &stream,
                        ExpectedVersion::Any,
                        vec![NewEvent::new("Noted", json!({ "n": n }))],
                    )
                    .await
                    .unwrap();
            }
        })
    };
    let mut seen = Vec::new();
    while seen.len() < 30 {
        let message = next(&mut socket).await.unwrap();
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(message["id"], "s1");
        let event = &message["payload"]["data"]["events"];
        seen.push((
            event["position"].as_str().unwrap().parse::<u64>().unwrap(),
            event["payload"]["n"].as_u64().unwrap(),
        ));
    }
    // Stop reading there, as a client that disconnects would.
    send(&mut socket, json!({ "type": "complete", "id": "s1" })).await;
    drop(socket);
    writer.await.unwrap();
    let last = seen.last().unwrap().0;

    let mut socket = server.connect().await;
    init(&mut socket, &integrator).await;
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "s2", "payload": events_query(last) }),
    )
    .await;
    while seen.len() < 60 {
        let message = next(&mut socket).await.unwrap();
        let event = &message["payload"]["data"]["events"];
        seen.push((
            event["position"].as_str().unwrap().parse::<u64>().unwrap(),
            event["payload"]["n"].as_u64().unwrap(),
        ));
    }
    let numbers: Vec<u64> = seen.iter().map(|(_, n)| *n).collect();
    assert_eq!(
        numbers,
        (0..60).collect::<Vec<u64>>(),
        "no gap, no duplicate, in order"
    );
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));
    server.stop().await;
    db.finish(app.store.clone()).await;
}

fn log_query(after: u64, categories: Option<&[&str]>) -> Value {
    json!({
        "query": "subscription E($after: Position!, $categories: [String!]) { events(after: $after, categories: $categories) { position streamId } }",
        "variables": { "after": after.to_string(), "categories": categories },
    })
}

/// The next `count` events of the subscription `id`: (position, stream).
async fn receive(socket: &mut Socket, id: &str, count: usize) -> Vec<(u64, String)> {
    let mut events = Vec::new();
    while events.len() < count {
        let message = next(socket).await.unwrap();
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(message["id"], id);
        let event = &message["payload"]["data"]["events"];
        events.push((
            event["position"].as_str().unwrap().parse().unwrap(),
            event["streamId"].as_str().unwrap().to_owned(),
        ));
    }
    events
}

/// The refusal of the subscription `id`: its code and the category named, if any.
async fn refused(socket: &mut Socket, id: &str) -> (String, Value) {
    let message = next(socket).await.unwrap();
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(message["id"], id);
    let extensions = &message["payload"][0]["extensions"];
    (
        extensions["code"].as_str().unwrap().to_owned(),
        extensions["category"].clone(),
    )
}

/// The declaration and batch events of the log, as an officer reads them: (position, stream).
async fn declarations_and_batches(app: &TestApp) -> Vec<(u64, String)> {
    let query = r#"{ events(limit: 1000, categories: ["declaration", "batch"]) { events { position streamId } } }"#;
    let answer = app.graphql_as(Role::Officer, query).await;
    answer["data"]["events"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["position"].as_str().unwrap().parse().unwrap(),
                e["streamId"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn subscriptions_by_principal(db: TestDb) {
    let app = TestApp::with_reference_data_on(&db).await;
    let two = app.two_organisations_file().await;
    let server = Server::start(&app, WsSettings::default()).await;
    let all = declarations_and_batches(&app).await;

    // Declarants: their own organisation's streams, caught up from the start.
    let mut sockets = Vec::new();
    for org in [&two.acme, &two.other] {
        let mut socket = server.connect().await;
        init(&mut socket, &org.token).await;
        send(
            &mut socket,
            json!({ "type": "subscribe", "id": "tariff", "payload": log_query(0, Some(&["tariff"])) }),
        )
        .await;
        assert_eq!(
            refused(&mut socket, "tariff").await,
            ("FORBIDDEN".to_owned(), json!("tariff"))
        );
        send(
            &mut socket,
            json!({ "type": "subscribe", "id": "own", "payload": log_query(0, None) }),
        )
        .await;
        let own: Vec<(u64, String)> = all
            .iter()
            .filter(|(_, stream)| org.streams.contains(stream))
            .cloned()
            .collect();
        assert_eq!(
            receive(&mut socket, "own", own.len()).await,
            own,
            "{}",
            org.name
        );
        sockets.push(socket);
    }

    // Then live: OTHER files before ACME, so ACME's next event would be OTHER's if it leaked.
    let other = app
        .file_ok(&two.other.token, filing("OTHER", "OTHER-3", "US"))
        .await;
    let acme = app
        .file_ok(&two.acme.token, filing("ACME", "ACME-3", "US"))
        .await;
    for (socket, filed) in sockets.iter_mut().zip([&acme, &other]) {
        let stream = format!("declaration-{}", filed["id"].as_str().unwrap());
        assert_eq!(receive(socket, "own", 1).await[0].1, stream);
    }

    // An integrator granted declarations: every organisation's declarations, no batch.
    let mut socket = server.connect().await;
    init(&mut socket, &integrator_token(&[Category::Declaration])).await;
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "batch", "payload": log_query(0, Some(&["declaration", "batch"])) }),
    )
    .await;
    assert_eq!(
        refused(&mut socket, "batch").await,
        ("FORBIDDEN".to_owned(), json!("batch"))
    );
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "granted", "payload": log_query(0, None) }),
    )
    .await;
    let declarations: Vec<(u64, String)> = declarations_and_batches(&app)
        .await
        .into_iter()
        .filter(|(_, stream)| stream.starts_with("declaration-"))
        .collect();
    assert!(all.iter().any(|(_, stream)| stream.starts_with("batch-")));
    assert_eq!(
        receive(&mut socket, "granted", declarations.len()).await,
        declarations
    );

    // An integrator granted nothing reads nothing.
    let mut socket = server.connect().await;
    init(&mut socket, &integrator_token(&[])).await;
    for (id, categories) in [("all", None), ("named", Some(&["declaration"][..]))] {
        send(
            &mut socket,
            json!({ "type": "subscribe", "id": id, "payload": log_query(0, categories) }),
        )
        .await;
        assert_eq!(
            refused(&mut socket, id).await,
            ("FORBIDDEN".to_owned(), Value::Null)
        );
    }
    server.stop().await;
    db.finish(app.store.clone()).await;
}

#[tokio::test]
async fn a_declarant_follows_its_own_declarations_only() {
    let app = TestApp::with_reference_data().await;
    let alice = declarant_token("alice", "ACME");
    let filed = app.file_ok(&alice, filing("ACME", "WS-1", "VN")).await;
    let id = filed["id"].as_str().unwrap().to_owned();
    let server = Server::start(&app, WsSettings::default()).await;
    let query = "subscription D($id: UUID!) { declarationEvents(id: $id) { streamVersion eventType actor } }";

    let mut socket = server.connect().await;
    init(&mut socket, &alice).await;
    // A category of the log that is not its own is refused by name.
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "log", "payload": events_query(0) }),
    )
    .await;
    let refused = next(&mut socket).await.unwrap();
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "FORBIDDEN");
    assert_eq!(refused["payload"][0]["extensions"]["category"], "note");
    send(&mut socket, json!({ "type": "subscribe", "id": "own", "payload": { "query": query, "variables": { "id": id } } })).await;
    let mut types = Vec::new();
    while types.len() < 3 {
        let message = next(&mut socket).await.unwrap();
        types.push(
            message["payload"]["data"]["declarationEvents"]["eventType"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        types,
        ["DeclarationFiled", "RiskAssessed", "DutiesAssessed"]
    );
    // An officer's inspection arrives live.
    let officer = token_for(Role::Officer);
    app.graphql_with_token(&officer, &format!("mutation {{ recordInspection(id: \"{id}\", kind: DOCUMENTARY, result: COMPLIANT) {{ status }} }}")).await;
    let live = next(&mut socket).await.unwrap();
    assert_eq!(
        live["payload"]["data"]["declarationEvents"]["eventType"],
        "InspectionRecorded"
    );

    // Another organisation's declarant gets NOT_FOUND, as for a declaration that does not exist.
    let mut other = server.connect().await;
    init(&mut other, &declarant_token("bob", "OTHER")).await;
    send(&mut other, json!({ "type": "subscribe", "id": "x", "payload": { "query": query, "variables": { "id": id } } })).await;
    let refused = next(&mut other).await.unwrap();
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "NOT_FOUND");
    server.stop().await;
}

#[tokio::test]
async fn subscriptions_per_socket_are_capped() {
    let app = TestApp::new().await;
    let settings = WsSettings {
        max_subscriptions: 2,
        ..WsSettings::default()
    };
    let server = Server::start(&app, settings).await;
    let mut socket = server.connect().await;
    init(&mut socket, &token_for(Role::Admin)).await;
    for id in ["1", "2", "3"] {
        send(
            &mut socket,
            json!({ "type": "subscribe", "id": id, "payload": events_query(0) }),
        )
        .await;
    }
    let refused = next(&mut socket).await.unwrap();
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["id"], "3");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "TOO_MANY_SUBSCRIPTIONS"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_consumer_that_does_not_read_is_disconnected_not_buffered() {
    let app = TestApp::new().await;
    // Large events, so the socket's own buffers fill and the server's queue with them.
    let stream = StreamId::parse("note-1").unwrap();
    let big = "y".repeat(8 * 1024);
    for chunk in 0..40 {
        let events = (0..100)
            .map(|i| NewEvent::new("Noted", json!({ "n": chunk * 100 + i, "text": big })))
            .collect();
        app.store
            .append(&stream, ExpectedVersion::Any, events)
            .await
            .unwrap();
    }
    let settings = WsSettings {
        outgoing_buffer: 16,
        ..WsSettings::default()
    };
    let server = Server::start(&app, settings).await;
    let mut socket = server.connect().await;
    init(&mut socket, &token_for(Role::Admin)).await;
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "slow", "payload": events_query(0) }),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut delivered = 0;
    let code = loop {
        match next(&mut socket).await {
            Ok(message) if message["type"] == "next" => delivered += 1,
            Ok(_) => {}
            Err(code) => break code,
        }
    };
    assert_eq!(code, Some(4499));
    assert!(
        delivered < 4000,
        "closed before everything was delivered: {delivered}"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_id_may_be_reused_as_soon_as_its_operation_completed() {
    let app = TestApp::new().await;
    let server = Server::start(&app, WsSettings::default()).await;
    let mut socket = server.connect().await;
    init(&mut socket, &token_for(Role::Admin)).await;
    let query = json!({ "query": "{ serverInfo { backend } }" });
    for _ in 0..20 {
        send(
            &mut socket,
            json!({ "type": "subscribe", "id": "q", "payload": query }),
        )
        .await;
        let result = next(&mut socket).await.unwrap();
        assert_eq!(result["type"], "next", "{result}");
        assert_eq!(result["payload"]["data"]["serverInfo"]["backend"], "sqlite");
        assert_eq!(next(&mut socket).await.unwrap()["type"], "complete");
    }
    server.stop().await;
}
