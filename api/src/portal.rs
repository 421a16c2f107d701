//! The declarants' web portal: server-rendered pages under `/portal/` on top of the GraphQL
//! API and the batch service, with a little script for progressive enhancement (the pages
//! work without it). See `docs/portal.md`.
//!
//! Security (OWASP ASVS for a forms application), in one place:
//! - sessions on the server, the browser holding only a `__Host-` cookie (Secure, HttpOnly,
//!   SameSite=Lax), with idle and absolute timeouts and a new id at sign-in ([`session`]);
//! - a synchronizer token in every form, and every unsafe request refused unless the browser
//!   says it comes from this site (`Sec-Fetch-Site`, else `Origin`) ([`same_origin_only`]);
//! - a strict Content-Security-Policy (scripts and styles from this origin only, no inline
//!   script, no framing), HSTS, `nosniff`, no referrer, and `Cache-Control: no-store` on every
//!   portal response ([`security_headers`]);
//! - sign-in rate-limited per client address, never per account, so nobody can lock another
//!   user out ([`SignInLimit`]);
//! - every value escaped by the templates (maud); downloads defused against CSV formulas;
//!   generic error pages, the details in the logs under a reference.
//!
//! What a principal may see is the API's business: every page runs GraphQL as the signed-in
//! principal ([`gql`]), so a declarant sees its own organisation's data only.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use governor::middleware::NoOpMiddleware;
use tower_governor::GovernorLayer;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::KeyExtractor;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, MemoryStore, SessionManagerLayer};

use crate::server::AppState;

mod batches;
mod declarations;
mod filing;
mod gql;
mod lists;
mod page;
pub mod session;
pub mod texts;
mod warehouse;

pub use batches::defuse;
pub use session::{COOKIE_NAME, Timeouts};

/// The policy of every portal page: everything from this origin only, no inline script or
/// style, no plugins, no `<base>`, forms only to this origin, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'; object-src 'none'";
/// Two years, subdomains included (browsers ignore it over plain HTTP, e.g. on localhost).
const STRICT_TRANSPORT_SECURITY: &str = "max-age=63072000; includeSubDomains";
/// Largest declaration form accepted: 999 items of 9 fields fit with room to spare.
const MAX_FORM_BYTES: usize = 2 * 1024 * 1024;

/// What the portal keeps across requests: the sessions, their timeouts and the sign-in limit.
#[derive(Clone)]
pub struct PortalState {
    sessions: MemoryStore,
    timeouts: Timeouts,
    sign_in_limit: SignInLimit,
}

impl std::fmt::Debug for PortalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalState")
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl Default for PortalState {
    fn default() -> Self {
        Self::new(Timeouts::default(), SignInLimit::default())
    }
}

impl PortalState {
    pub fn new(timeouts: Timeouts, sign_in_limit: SignInLimit) -> Self {
        Self {
            sessions: MemoryStore::default(),
            timeouts,
            sign_in_limit,
        }
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Forgets addresses that have not tried to sign in lately (call now and then).
    pub fn forget_idle_addresses(&self) {
        self.sign_in_limit.config.limiter().retain_recent();
    }
}

/// How often one client address may try to sign in: a burst, then one attempt per period.
#[derive(Clone)]
pub struct SignInLimit {
    config: Arc<GovernorConfig<PeerAddress, NoOpMiddleware>>,
}

impl std::fmt::Debug for SignInLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInLimit").finish_non_exhaustive()
    }
}

impl SignInLimit {
    /// `burst` attempts at once, then one more every `period`.
    pub fn new(burst: u32, period: Duration) -> Self {
        let config = GovernorConfigBuilder::default()
            .key_extractor(PeerAddress)
            .period(period)
            .burst_size(burst.max(1))
            .methods(vec![Method::POST])
            .finish();
        // The builder refuses only a zero burst or period, which `max(1)` and the callers rule out.
        let config = config.unwrap_or_else(|| {
            GovernorConfigBuilder::default()
                .key_extractor(PeerAddress)
                .methods(vec![Method::POST])
                .finish()
                .unwrap_or_else(|| unreachable!("the default governor config is valid"))
        });
        Self {
            config: Arc::new(config),
        }
    }
}

impl Default for SignInLimit {
    /// Ten attempts at once, then one every six seconds.
    fn default() -> Self {
        Self::new(10, Duration::from_secs(6))
    }
}

/// The rate-limit key of a request: the client's address as the socket saw it (a proxy's
/// `X-Forwarded-For` could be forged by anyone). Requests without one (tests driving the
/// router directly) share one key.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddress;

impl KeyExtractor for PeerAddress {
    type Key = IpAddr;

    fn extract<T>(&self, req: &Request<T>) -> Result<Self::Key, tower_governor::GovernorError> {
        Ok(req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip()))
    }
}

/// Every portal route, with its session, headers and checks.
pub fn router(state: &AppState) -> Router<AppState> {
    let portal = state.portal();
    let limit = portal.sign_in_limit.config.clone();
    let sign_in = post(session::sign_in).layer(GovernorLayer::new(limit).error_handler(|error| {
        let wait = match error {
            tower_governor::GovernorError::TooManyRequests { wait_time, .. } => wait_time,
            _ => 1,
        };
        page::too_many_attempts(page::texts(), wait)
    }));
    // The store keeps a session (and the browser its cookie) until the absolute timeout; the
    // idle timeout is checked on each request, so an idle session can be told "expired".
    let lifetime = i64::try_from(portal.timeouts.absolute.as_secs()).unwrap_or(i64::MAX);
    let sessions = SessionManagerLayer::new(portal.sessions.clone())
        .with_name(COOKIE_NAME)
        .with_secure(true)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::seconds(lifetime),
        ));
    let form_limit = DefaultBodyLimit::max(MAX_FORM_BYTES);
    let routes = Router::new()
        .route("/", get(|| async { Redirect::to("/portal/") }))
        .route("/portal", get(|| async { Redirect::to("/portal/") }))
        .route("/portal/", get(declarations::list))
        .route("/portal/sign-in", get(session::form).merge(sign_in))
        .route("/portal/sign-out", post(session::sign_out))
        .route("/portal/declarations", get(declarations::list))
        .route(
            "/portal/declarations/new",
            get(filing::new_form).post(filing::file).layer(form_limit),
        )
        .route("/portal/declarations/{id}", get(declarations::detail))
        .route(
            "/portal/declarations/{id}/panel",
            get(declarations::panel_fragment),
        )
        .route("/portal/declarations/{id}/live", get(declarations::live))
        .route(
            "/portal/declarations/{id}/amend",
            get(filing::amend_form)
                .post(filing::amend)
                .layer(form_limit),
        )
        .route(
            "/portal/declarations/{id}/withdraw",
            post(declarations::withdraw),
        )
        .route(
            "/portal/batches",
            // The file is streamed and limited by the batch settings.
            get(batches::index)
                .post(batches::upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/portal/batches/{id}", get(batches::detail))
        .route("/portal/batches/{id}/panel", get(batches::panel_fragment))
        .route(
            "/portal/batches/{id}/rejected.csv",
            get(batches::rejected_csv),
        )
        .route("/portal/reference/tariff", get(lists::tariff))
        .route("/portal/warehouse", get(warehouse::page))
        .route("/portal/warehouse/{file}", get(warehouse::csv))
        .route("/portal/{*rest}", get(not_found).post(not_found))
        .layer(middleware::from_fn(same_origin_only))
        .layer(sessions);
    SECURITY_HEADERS
        .into_iter()
        .fold(routes, |routes, (name, value)| {
            routes.layer(SetResponseHeaderLayer::overriding(
                name,
                HeaderValue::from_static(value),
            ))
        })
}

async fn not_found() -> Response {
    page::not_found(page::texts())
}

/// Refuses a request that changes something unless it comes from a page of this site.
async fn same_origin_only(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe && !session::is_same_origin(request.headers()) {
        tracing::info!(path = %request.uri().path(), "portal request refused: cross-site");
        return page::form_expired(page::texts());
    }
    next.run(request).await
}

/// The headers of every portal response (set over whatever a handler set).
const SECURITY_HEADERS: [(HeaderName, &str); 7] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::STRICT_TRANSPORT_SECURITY, STRICT_TRANSPORT_SECURITY),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::CACHE_CONTROL, "no-store"),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ),
];
