//! `/metrics` in the Prometheus text format: each projection's position, lag and state, the log's
//! head, HTTP request latencies by route, and what is open: WebSocket connections and their
//! subscriptions, event feed streams, portal live streams. Admins only (a bearer token
//! or an API key of the admin role): the counts say how busy the administration is.
//!
//! The append rate is `rate(aduana_log_head_position[1m])` (positions are dense); a projection's
//! catch-up rate is `rate(aduana_projection_position[1m])`.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use projections::{State as ProjectionState, Status};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::auth::{self, Role};
use crate::error::HttpError;
use crate::server::AppState;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route as declared (`/portal/declarations/{id}`), never the raw path: the label set
    /// stays small whatever is requested.
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectionLabels {
    projection: String,
}

type RequestHistogram = Family<RequestLabels, Histogram, fn() -> Histogram>;

/// The server's metrics, shared by every request.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: RequestHistogram,
    head: Gauge,
    position: Family<ProjectionLabels, Gauge>,
    lag: Family<ProjectionLabels, Gauge>,
    failing: Family<ProjectionLabels, Gauge>,
    leading: Family<ProjectionLabels, Gauge>,
    live_streams: Gauge,
    ws_connections: Gauge,
    ws_subscriptions: Gauge,
    feed_streams: Gauge,
}

/// Something open that `/metrics` counts while it lasts.
#[derive(Debug, Clone, Copy)]
pub enum Open {
    /// A portal page following a declaration.
    LiveStream,
    /// A GraphQL WebSocket connection.
    WsConnection,
    /// A subscription running on a WebSocket connection.
    WsSubscription,
    /// A server-sent event stream of the HTTP feed.
    FeedStream,
}

fn request_buckets() -> Histogram {
    // 1 ms to about 16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("aduana");
        let requests: RequestHistogram = Family::new_with_constructor(request_buckets);
        registry.register(
            "http_request_duration_seconds",
            "HTTP requests by method, route and status, and how long they took",
            requests.clone(),
        );
        let head = Gauge::default();
        registry.register(
            "log_head_position",
            "The position of the last event committed to the log",
            head.clone(),
        );
        let position = Family::<ProjectionLabels, Gauge>::default();
        registry.register(
            "projection_position",
            "The last log position a projection has applied",
            position.clone(),
        );
        let lag = Family::<ProjectionLabels, Gauge>::default();
        registry.register(
            "projection_lag_events",
            "Log positions a projection has still to apply (head minus position)",
            lag.clone(),
        );
        let failing = Family::<ProjectionLabels, Gauge>::default();
        registry.register(
            "projection_failing",
            "1 while a projection is stopped on a failing event (and retrying), else 0",
            failing.clone(),
        );
        let leading = Family::<ProjectionLabels, Gauge>::default();
        registry.register(
            "projection_leading",
            "1 when this process runs the projection, 0 while it stands by for another process",
            leading.clone(),
        );
        let live_streams = Gauge::default();
        registry.register(
            "portal_live_streams",
            "Portal pages following a declaration live (server-sent event streams open)",
            live_streams.clone(),
        );
        let ws_connections = Gauge::default();
        registry.register(
            "ws_connections",
            "GraphQL WebSocket connections open",
            ws_connections.clone(),
        );
        let ws_subscriptions = Gauge::default();
        registry.register(
            "ws_subscriptions",
            "Subscriptions running on GraphQL WebSocket connections",
            ws_subscriptions.clone(),
        );
        let feed_streams = Gauge::default();
        registry.register(
            "feed_streams",
            "Server-sent event streams of the HTTP event feed open",
            feed_streams.clone(),
        );
        Self {
            registry,
            requests,
            head,
            position,
            lag,
            failing,
            leading,
            live_streams,
            ws_connections,
            ws_subscriptions,
            feed_streams,
        }
    }
}

impl Metrics {
    /// Records one answered request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .observe(took.as_secs_f64());
    }

    /// Counts `what` as open until the guard is dropped.
    pub fn open(&self, what: Open) -> OpenGuard {
        let gauge = match what {
            Open::LiveStream => &self.live_streams,
            Open::WsConnection => &self.ws_connections,
            Open::WsSubscription => &self.ws_subscriptions,
            Open::FeedStream => &self.feed_streams,
        };
        gauge.inc();
        OpenGuard(gauge.clone())
    }

    /// The text exposition, with the projection gauges set from `projections` and `head`.
    pub fn render(&self, head: u64, projections: &[Status]) -> String {
        let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.head.set(to_i64(head));
        for status in projections {
            let labels = ProjectionLabels {
                projection: status.name.to_owned(),
            };
            self.position
                .get_or_create(&labels)
                .set(to_i64(status.position));
            self.lag
                .get_or_create(&labels)
                .set(to_i64(head.saturating_sub(status.position)));
            let failing = matches!(status.state, ProjectionState::Failed { .. });
            self.failing.get_or_create(&labels).set(i64::from(failing));
            let standby = matches!(status.state, ProjectionState::Standby);
            self.leading.get_or_create(&labels).set(i64::from(!standby));
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// Holds one count of [`Metrics::open`].
#[derive(Debug)]
pub struct OpenGuard(Gauge);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `GET /metrics`: for admins (bearer token or API key).
pub async fn handler(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let principal = match auth::authenticate_request(&headers, state.tokens(), state.api_keys()) {
        Ok(Some(principal)) => principal,
        Ok(None) => return HttpError::Unauthenticated.into_response(),
        Err(refusal) => return refusal.into_response(),
    };
    if principal.role() != Role::Admin {
        return HttpError::Forbidden.into_response();
    }
    let head = match state.store().head_position().await {
        Ok(head) => head,
        Err(error) => {
            tracing::warn!(%error, "metrics: the log's head is unreadable");
            state.store().head()
        }
    };
    let statuses = state.projection_statuses();
    let text = state.metrics().render(head, &statuses);
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
