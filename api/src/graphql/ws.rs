//! GraphQL over WebSocket, the `graphql-transport-ws` protocol
//! (<https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md>), written here because
//! async-graphql's handler was measured not to follow it where it matters to integrators:
//!
//! - no `ConnectionInit` within [`WsSettings::init_timeout`]: close 4408;
//! - a second `ConnectionInit`: close 4429;
//! - credentials refused in the `ConnectionInit` payload (`{"authorization": "Bearer …"}` or
//!   `{"apiKey": "ak_…"}`): close 4403;
//! - `Subscribe` before the acknowledgement: close 4401 (async-graphql closes with 1011);
//! - `Subscribe` with the id of a running subscription: close 4409 (async-graphql silently
//!   replaced the stream);
//! - a message that is not one of the protocol's: close 4400; a client that did not offer the
//!   subprotocol: close 4406;
//! - at most [`WsSettings::max_subscriptions`] at once (an `error` for the one too many);
//!   messages of at most [`WsSettings::max_message_bytes`] (far below the 64 MiB default);
//! - a browser page of another site (its `Origin` is not this host) is refused the upgrade
//!   (403);
//! - a consumer too slow for [`WsSettings::outgoing_buffer`] messages is closed with 4499 (it
//!   reconnects and resumes after the last position it received): memory stays bounded.

use std::collections::HashMap;
use std::time::Duration;

use async_graphql::{Request, Response as GqlResponse};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::auth::{self, Principal, api_key};
use crate::metrics::Open;
use crate::server::AppState;

/// The subprotocol spoken.
pub const PROTOCOL: &str = "graphql-transport-ws";

/// Close codes of the protocol (and 4499 of ours).
pub mod close {
    pub const BAD_REQUEST: u16 = 4400;
    pub const UNAUTHORIZED: u16 = 4401;
    pub const FORBIDDEN: u16 = 4403;
    pub const SUBPROTOCOL_NOT_ACCEPTABLE: u16 = 4406;
    pub const INIT_TIMEOUT: u16 = 4408;
    pub const SUBSCRIBER_EXISTS: u16 = 4409;
    pub const TOO_MANY_INIT: u16 = 4429;
    /// Ours: the client does not read fast enough; it reconnects and resumes.
    pub const TOO_SLOW: u16 = 4499;
}

/// Limits of one WebSocket connection.
#[derive(Debug, Clone, Copy)]
pub struct WsSettings {
    pub init_timeout: Duration,
    pub max_subscriptions: usize,
    pub max_message_bytes: usize,
    /// Messages waiting to be written to a client before it counts as too slow.
    pub outgoing_buffer: usize,
}

impl Default for WsSettings {
    fn default() -> Self {
        Self {
            init_timeout: Duration::from_secs(3),
            max_subscriptions: 64,
            max_message_bytes: 64 * 1024,
            outgoing_buffer: 1024,
        }
    }
}

/// Bytes read from a socket at a time (messages longer than this still arrive whole).
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// The upgrade of `GET /graphql` with `Upgrade: websocket`.
pub fn upgrade(state: AppState, headers: &HeaderMap, ws: WebSocketUpgrade) -> Response {
    // A browser sends `Origin`; it must be this host. Other clients send none.
    if !crate::origin::is_this_host(headers).unwrap_or(true) {
        tracing::info!("websocket refused: cross-origin");
        return StatusCode::FORBIDDEN.into_response();
    }
    let settings = state.ws_settings();
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == PROTOCOL);
    ws.protocols([PROTOCOL])
        // Clients send a few small messages; tungstenite's 128 KiB default, zero-filled on
        // the first read, cost about 110 MB of RSS at 1,000 idle subscribers (docs/benchmarks.md).
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(settings.max_message_bytes)
        .max_frame_size(settings.max_message_bytes)
        .on_upgrade(move |socket| async move {
            if offered {
                Connection::new(state, settings).serve(socket).await;
            } else {
                let mut socket = socket;
                let _ = socket
                    .send(close_message(
                        close::SUBPROTOCOL_NOT_ACCEPTABLE,
                        "Subprotocol not acceptable",
                    ))
                    .await;
            }
        })
}

fn close_message(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    }))
}

fn text(value: &Value) -> Message {
    Message::Text(Utf8Bytes::from(value.to_string()))
}

/// A message from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    Ping {
        #[serde(default)]
        payload: Option<Value>,
    },
    Pong {
        #[serde(default)]
        #[allow(dead_code)]
        payload: Option<Value>,
    },
    Subscribe {
        id: String,
        payload: SubscribePayload,
    },
    Complete {
        id: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscribePayload {
    query: String,
    #[serde(default)]
    variables: Option<Value>,
    #[serde(default)]
    operation_name: Option<String>,
}

/// What a subscription task tells the connection.
enum Event {
    Finished(String),
    TooSlow,
}

struct Connection {
    state: AppState,
    settings: WsSettings,
    principal: Option<Option<Principal>>,
    running: HashMap<String, JoinHandle<()>>,
}

impl Connection {
    fn new(state: AppState, settings: WsSettings) -> Self {
        Self {
            state,
            settings,
            principal: None,
            running: HashMap::new(),
        }
    }

    async fn serve(mut self, socket: WebSocket) {
        let _counted = self.state.metrics().open(Open::WsConnection);
        let (mut sink, mut source) = socket.split();
        let (outgoing, mut to_send) = mpsc::channel::<Message>(self.settings.outgoing_buffer);
        // The close frame goes past the queue: it reaches even a client that reads nothing.
        let (close_tx, mut close_rx) = tokio::sync::oneshot::channel::<Message>();
        let writer = tokio::spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    close = &mut close_rx => {
                        if let Ok(close) = close {
                            let _ = sink.send(close).await;
                        }
                        break;
                    }
                    message = to_send.recv() => {
                        let Some(message) = message else { break };
                        if sink.send(message).await.is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = sink.close().await;
        });
        let (events, mut event_rx) = mpsc::unbounded_channel::<Event>();
        let deadline = tokio::time::sleep(self.settings.init_timeout);
        let mut deadline = std::pin::pin!(deadline);
        let shutdown = self.state.shutdown_token().clone();
        let close = loop {
            tokio::select! {
                // In this order: a finished subscription is forgotten before the client's next
                // message is read, so its id may be reused as soon as `complete` arrives.
                biased;
                () = &mut deadline, if self.principal.is_none() => {
                    break Some((close::INIT_TIMEOUT, "Connection initialisation timeout".to_owned()));
                }
                () = shutdown.cancelled() => break Some((1001, "server shutting down".to_owned())),
                event = event_rx.recv() => match event {
                    Some(Event::Finished(id)) => { self.running.remove(&id); }
                    Some(Event::TooSlow) => {
                        break Some((close::TOO_SLOW, "consumer too slow: reconnect and resume after the last position received".to_owned()));
                    }
                    None => {}
                },
                message = source.next() => {
                    let Some(Ok(message)) = message else { break None };
                    if let Some(close) = self.handle(message, &outgoing, &events).await {
                        break Some(close);
                    }
                }
            }
        };
        for (_, task) in self.running.drain() {
            task.abort();
        }
        if let Some((code, reason)) = close {
            tracing::debug!(code, %reason, "websocket closed by the server");
            let _ = close_tx.send(close_message(code, &reason));
        } else {
            drop(close_tx);
        }
        drop(outgoing);
        let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    }

    /// Handles one client message; `Some` closes the connection with that code and reason.
    async fn handle(
        &mut self,
        message: Message,
        outgoing: &mpsc::Sender<Message>,
        events: &mpsc::UnboundedSender<Event>,
    ) -> Option<(u16, String)> {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => return Some((1000, "bye".to_owned())),
            Message::Ping(_) | Message::Pong(_) => return None,
            Message::Binary(_) => {
                return Some((close::BAD_REQUEST, "Invalid message received".to_owned()));
            }
        };
        let Ok(message) = serde_json::from_str::<ClientMessage>(text.as_str()) else {
            return Some((close::BAD_REQUEST, "Invalid message received".to_owned()));
        };
        match message {
            ClientMessage::ConnectionInit { payload } => {
                if self.principal.is_some() {
                    return Some((
                        close::TOO_MANY_INIT,
                        "Too many initialisation requests".to_owned(),
                    ));
                }
                match self.authenticate(payload.as_ref()) {
                    Ok(principal) => {
                        self.principal = Some(principal);
                        let _ =
                            outgoing.try_send(text_message(json!({ "type": "connection_ack" })));
                        None
                    }
                    Err(()) => Some((close::FORBIDDEN, "Forbidden".to_owned())),
                }
            }
            ClientMessage::Ping { payload } => {
                let mut pong = json!({ "type": "pong" });
                if let Some(payload) = payload {
                    pong["payload"] = payload;
                }
                let _ = outgoing.try_send(text_message(pong));
                None
            }
            ClientMessage::Pong { .. } => None,
            ClientMessage::Complete { id } => {
                if let Some(task) = self.running.remove(&id) {
                    task.abort();
                }
                None
            }
            ClientMessage::Subscribe { id, payload } => {
                let Some(principal) = &self.principal else {
                    return Some((close::UNAUTHORIZED, "Unauthorized".to_owned()));
                };
                if self.running.contains_key(&id) {
                    return Some((
                        close::SUBSCRIBER_EXISTS,
                        format!("Subscriber for {id} already exists"),
                    ));
                }
                if self.running.len() >= self.settings.max_subscriptions {
                    let error = json!({
                        "type": "error",
                        "id": id,
                        "payload": [{
                            "message": format!("at most {} subscriptions per connection", self.settings.max_subscriptions),
                            "extensions": { "code": "TOO_MANY_SUBSCRIPTIONS" },
                        }],
                    });
                    let _ = outgoing.try_send(text_message(error));
                    return None;
                }
                let mut request = Request::new(payload.query);
                if let Some(variables) = payload.variables {
                    request = request.variables(async_graphql::Variables::from_json(variables));
                }
                if let Some(name) = payload.operation_name {
                    request = request.operation_name(name);
                }
                if let Some(principal) = principal {
                    request = request.data(principal.clone());
                }
                let task = tokio::spawn(run(
                    self.state.clone(),
                    id.clone(),
                    request,
                    outgoing.clone(),
                    events.clone(),
                ));
                self.running.insert(id, task);
                None
            }
        }
    }

    /// The principal of a `ConnectionInit` payload: `Ok(None)` without credentials.
    fn authenticate(&self, payload: Option<&Value>) -> Result<Option<Principal>, ()> {
        let mut headers = HeaderMap::new();
        let field = |name: &str| payload.and_then(|p| p.get(name)).and_then(Value::as_str);
        if let Some(authorization) = field("authorization").or_else(|| field("Authorization")) {
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(authorization).map_err(|_| ())?,
            );
        }
        if let Some(key) = field("apiKey") {
            headers.insert(api_key::HEADER, HeaderValue::from_str(key).map_err(|_| ())?);
        }
        auth::authenticate_request(&headers, self.state.tokens(), self.state.api_keys())
            .map_err(|refusal| tracing::info!(reason = ?refusal, "websocket credentials refused"))
    }
}

fn text_message(value: Value) -> Message {
    text(&value)
}

/// Runs one operation, sending `next` for each result and `complete` at its end (or one
/// `error` when it fails before producing anything).
async fn run(
    state: AppState,
    id: String,
    request: Request,
    outgoing: mpsc::Sender<Message>,
    events: mpsc::UnboundedSender<Event>,
) {
    let _counted = state.metrics().open(Open::WsSubscription);
    let mut responses = std::pin::pin!(state.schema().execute_stream(request));
    let mut first = true;
    while let Some(response) = responses.next().await {
        let message = if first && is_refusal(&response) {
            let errors = serde_json::to_value(&response.errors).unwrap_or(Value::Null);
            let _ = send(
                &outgoing,
                &events,
                json!({ "type": "error", "id": id, "payload": errors }),
            );
            let _ = events.send(Event::Finished(id));
            return;
        } else {
            json!({ "type": "next", "id": id, "payload": response })
        };
        first = false;
        if send(&outgoing, &events, message).is_err() {
            return;
        }
    }
    // Forgotten first, then announced: the client may reuse the id once `complete` arrives.
    let _ = events.send(Event::Finished(id.clone()));
    let _ = send(&outgoing, &events, json!({ "type": "complete", "id": id }));
}

/// A first response with errors and no data: the operation was refused (validation, access).
fn is_refusal(response: &GqlResponse) -> bool {
    !response.errors.is_empty() && matches!(response.data, async_graphql::Value::Null)
}

/// Queues a message; a full queue means the client is too slow.
fn send(
    outgoing: &mpsc::Sender<Message>,
    events: &mpsc::UnboundedSender<Event>,
    value: Value,
) -> Result<(), ()> {
    match outgoing.try_send(text(&value)) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Full(_)) => {
            let _ = events.send(Event::TooSlow);
            Err(())
        }
        Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
    }
}
