//! The HTTP server: health checks, GraphQL and GraphiQL with its assets, graceful shutdown.
//!
//! [`router`] builds the whole service from an [`AppState`], so tests drive it without a socket;
//! [`App`] binds the listener first (port 0 works) and then serves until a shutdown signal.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use commands::batch::{BatchService, BatchSettings};
use commands::declaration::DeclarationService;
use commands::reference::ReferenceView;
use eventstore::{EventStore, StoreError};
use projections::Status;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::{ApiKeys, TokenKeys, api_key};
use crate::config::GraphqlSettings;
use crate::graphql::projection_status::ProjectionStatuses;
use crate::graphql::ws::WsSettings;
use crate::graphql::{self, AduanaSchema, ReadModelQueries, graphiql};
use crate::metrics::{self, Metrics};
use crate::portal::{self, PortalState, Timeouts};
use crate::reference::{self, Refresher};
use crate::{batches, events_feed};

/// Largest request body accepted by routes other than `/graphql` (which reads its body itself,
/// up to [`graphql::http::MAX_BODY_BYTES`]).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every request handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    store: EventStore,
    schema: AduanaSchema,
    tokens: TokenKeys,
    api_keys: ApiKeys,
    declarations: DeclarationService,
    batches: BatchService,
    reference: Refresher,
    portal: PortalState,
    metrics: Arc<Metrics>,
    statuses: ProjectionStatuses,
    ws: WsSettings,
    /// Cancelled when the server starts shutting down: long-lived responses (event streams)
    /// end then, so the shutdown does not wait for them.
    shutdown: CancellationToken,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state with default GraphQL settings (introspection on); `tokens` checks bearer
    /// tokens. Its declaration service starts with no reference data: see
    /// [`AppState::with_settings`].
    pub fn new(store: EventStore, tokens: TokenKeys) -> Self {
        Self::with_settings(store, tokens, GraphqlSettings::default())
    }

    /// The state with a declaration service whose reference view is empty until refreshed
    /// (`publishReferenceData` refreshes it; so does [`crate::reference::follow`]). `serve`
    /// loads the view first and uses [`AppState::with_service`].
    pub fn with_settings(store: EventStore, tokens: TokenKeys, settings: GraphqlSettings) -> Self {
        let declarations = DeclarationService::new(store.clone(), ReferenceView::default());
        Self::with_service(store, tokens, settings, declarations, None)
    }

    /// The state serving `declarations` (built on the same store).
    pub fn with_service(
        store: EventStore,
        tokens: TokenKeys,
        settings: GraphqlSettings,
        declarations: DeclarationService,
        read_models: impl Into<ReadModelQueries>,
    ) -> Self {
        let reference = Refresher::new(declarations.reference().clone());
        let read_models: ReadModelQueries = read_models.into();
        let statuses = read_models.statuses.clone();
        let batches = BatchService::new(
            store.clone(),
            declarations.clone(),
            BatchSettings::default(),
        );
        Self {
            schema: graphql::schema(
                store.clone(),
                declarations.clone(),
                batches.clone(),
                reference.clone(),
                read_models,
                settings,
            ),
            store,
            tokens,
            api_keys: ApiKeys::default(),
            declarations,
            batches,
            reference,
            portal: PortalState::default(),
            metrics: Arc::default(),
            statuses,
            ws: WsSettings::default(),
            shutdown: CancellationToken::new(),
        }
    }

    /// The state with the portal's session timeouts and sign-in limit.
    pub fn with_portal(mut self, portal: PortalState) -> Self {
        self.portal = portal;
        self
    }

    /// Reports these projection runners in `projections` and `/metrics`.
    pub fn with_projections(self, runners: Vec<watch::Receiver<Status>>) -> Self {
        self.statuses.set(runners);
        self
    }

    /// Each projection's status now.
    pub fn projection_statuses(&self) -> Vec<Status> {
        self.statuses.snapshot()
    }

    /// The state with these WebSocket limits.
    pub fn with_ws_settings(mut self, ws: WsSettings) -> Self {
        self.ws = ws;
        self
    }

    pub fn ws_settings(&self) -> WsSettings {
        self.ws
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn portal(&self) -> &PortalState {
        &self.portal
    }

    pub fn portal_timeouts(&self) -> Timeouts {
        self.portal.timeouts()
    }

    /// Cancelled when the server begins to shut down.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// The state receiving batches with `settings` (body limit, concurrency).
    pub fn with_batch_settings(mut self, settings: BatchSettings) -> Self {
        self.batches = BatchService::new(self.store.clone(), self.declarations.clone(), settings);
        self
    }

    /// The state checking API keys against `api_keys` (by default, an empty map: no key
    /// works). [`AppState::load`] loads the keys and keeps them current.
    pub fn with_api_keys(mut self, api_keys: ApiKeys) -> Self {
        self.api_keys = api_keys;
        self
    }

    /// Opens the declaration service with the reference data in the store, loads the API keys,
    /// and starts the task that keeps both current (abort it on shutdown).
    pub async fn load(
        store: EventStore,
        tokens: TokenKeys,
        settings: GraphqlSettings,
        read_models: impl Into<ReadModelQueries>,
    ) -> Result<(Self, JoinHandle<()>), StoreError> {
        // Taken before loading: whatever commits during the load is seen by the follower.
        let after = store.head_position().await?;
        let view = ReferenceView::load(&store).await?;
        tracing::info!(
            tariff_codes = view.tariff_code_count(),
            "reference data loaded"
        );
        let api_keys = ApiKeys::default();
        let keys_after = api_keys.load(&store).await?;
        let declarations = DeclarationService::new(store.clone(), view);
        let state = Self::with_service(store.clone(), tokens, settings, declarations, read_models)
            .with_api_keys(api_keys.clone());
        let reference = reference::following(store.clone(), state.reference.clone(), after);
        let keys = api_key::following(store, api_keys, keys_after);
        let follower = tokio::spawn(async move {
            tokio::join!(reference, keys);
        });
        Ok((state, follower))
    }

    pub fn declarations(&self) -> &DeclarationService {
        &self.declarations
    }

    pub fn batches(&self) -> &BatchService {
        &self.batches
    }

    /// Refreshes the declaration service's reference data (one refresh at a time).
    pub fn reference(&self) -> &Refresher {
        &self.reference
    }

    pub fn tokens(&self) -> &TokenKeys {
        &self.tokens
    }

    /// The API keys requests may present in `X-API-Key`.
    pub fn api_keys(&self) -> &ApiKeys {
        &self.api_keys
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    pub fn schema(&self) -> &AduanaSchema {
        &self.schema
    }
}

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    let portal = portal::router(&state);
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics::handler))
        .route(
            "/graphql",
            get(graphql::http::get).post(graphql::http::post),
        )
        .route("/assets/{version}/{file}", get(graphiql::asset))
        .route(
            "/api/v1/batches",
            // The body is streamed and limited by the batch settings, not by this router.
            post(batches::submit).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/batches/{id}", get(batches::status))
        .route("/api/v1/batches/{id}/results", get(batches::results))
        .route("/api/v1/events", get(events_feed::page))
        .route("/api/v1/events/stream", get(events_feed::stream))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .merge(portal)
        .layer(middleware::from_fn_with_state(state.clone(), log_request))
        .with_state(state)
}

/// Liveness: the process answers.
async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers and the store handle still accepts writes.
async fn ready(State(state): State<AppState>) -> Response {
    let store = &state.store;
    let failure = if store.is_poisoned() {
        Some(StoreError::Poisoned)
    } else {
        store.head_position().await.err()
    };
    match failure {
        None => Json(json!({ "status": "ok" })).into_response(),
        Some(error) => {
            tracing::warn!(%error, code = error.code(), "not ready");
            let body = json!({ "status": "unavailable", "code": error.code() });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// Logs each request with its status and duration (probes and assets only at debug level), and
/// records it in the metrics by its route.
async fn log_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let took = started.elapsed();
    state
        .metrics
        .observe_request(method.as_str(), &route, status, took);
    let elapsed_ms = took.as_secs_f64() * 1000.0;
    if path == "/health" || path == "/ready" || path.starts_with("/assets/") {
        tracing::debug!(%method, %path, status, elapsed_ms, "request");
    } else {
        tracing::info!(%method, %path, status, elapsed_ms, "request");
    }
    response
}

/// The server with its listener bound, ready to serve.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    state: AppState,
}

impl App {
    /// Binds `addr` (port 0 picks a free port; see [`App::local_addr`]).
    pub async fn bind(addr: SocketAddr, state: AppState) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until ctrl-c or SIGTERM, then closes the store.
    pub async fn run(self) -> io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, lets requests in flight finish, then closes the store.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let addr = self.local_addr()?;
        let store = self.state.store.clone();
        let token = self.state.shutdown.clone();
        let portal = self.state.portal.clone();
        let housekeeping = tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every.tick().await;
                portal.forget_idle_addresses();
            }
        });
        tracing::info!(%addr, backend = store.backend_name(), "listening");
        let app = router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                token.cancel();
            })
            .await;
        housekeeping.abort();
        store.close().await;
        tracing::info!("server stopped");
        served
    }
}

/// Completes on ctrl-c or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
