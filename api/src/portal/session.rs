//! Who is signed in to the portal: sign-in with an access token, the session it opens, its
//! timeouts, and the synchronizer token every form carries.
//!
//! The session lives on the server ([`tower_sessions::MemoryStore`]); the browser holds only its
//! random id, in the `__Host-aduana` cookie (Secure, HttpOnly, SameSite=Lax, path `/`, no
//! domain). Signing in issues a new id (no fixation). A session ends after
//! [`Timeouts::idle`] without a request, [`Timeouts::absolute`] after sign-in, or when the
//! token it was opened with expires, whichever comes first.

use std::time::Duration;

use axum::Form;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use maud::html;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;
use tower_sessions::Session;

use super::page::{self, Page};
use super::texts::Texts;
use crate::auth::{Principal, Role};
use crate::server::AppState;

/// The session cookie's name: the `__Host-` prefix makes browsers refuse it unless it is
/// Secure, for path `/` and without a domain, so no sibling host can plant or read it.
pub const COOKIE_NAME: &str = "__Host-aduana";
/// The name of the synchronizer token field in every form.
pub const CSRF_FIELD: &str = "csrf";
const SESSION_KEY: &str = "portal";

/// When a session ends.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Without a request for this long.
    pub idle: Duration,
    /// This long after sign-in, whatever happens.
    pub absolute: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(8 * 60 * 60),
        }
    }
}

/// What the server keeps for a signed-in browser.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    subject: String,
    role: Role,
    organisation: Option<String>,
    /// The session ends then: the earliest of the token's expiry and the absolute timeout.
    ends_at: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    csrf: String,
}

/// A signed-in request: the principal, and the synchronizer token its forms carry.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub principal: Principal,
    pub csrf: String,
    pub ends_at: DateTime<Utc>,
}

impl SignedIn {
    /// Whether `sent` is this session's synchronizer token (compared in constant time).
    pub fn csrf_matches(&self, sent: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(sent.as_bytes()))
    }

    /// The "form expired" page when `sent` is not this session's token.
    pub fn csrf_refusal(&self, sent: &str) -> Option<Response> {
        if self.csrf_matches(sent) {
            None
        } else {
            tracing::info!(
                subject = self.principal.subject(),
                "portal form refused: csrf token"
            );
            Some(page::form_expired(page::texts()))
        }
    }

    pub fn is_declarant(&self) -> bool {
        self.principal.role() == Role::Declarant
    }

    /// Whether the user works with declarations and batches: everyone but analysts, who read
    /// the warehouse only.
    pub fn reads_declarations(&self) -> bool {
        self.principal.role() != Role::Analyst
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(status, _)| page::unavailable(page::texts(), status, None))?;
        let to_sign_in = |expired: bool| {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            let mut query = vec![("next", next.as_str())];
            if expired {
                query.push(("expired", "1"));
            }
            let query = serde_urlencoded::to_string(&query).unwrap_or_default();
            Redirect::to(&format!("/portal/sign-in?{query}")).into_response()
        };
        let stored: Option<Stored> = session.get(SESSION_KEY).await.ok().flatten();
        let Some(mut stored) = stored else {
            // A session cookie without a session: it ended (timed out, or the server restarted).
            let had_cookie = parts
                .headers
                .get_all(axum::http::header::COOKIE)
                .iter()
                .any(|value| value.to_str().is_ok_and(|v| v.contains(COOKIE_NAME)));
            return Err(to_sign_in(had_cookie));
        };
        let now = Utc::now();
        let idle = chrono::Duration::from_std(state.portal_timeouts().idle)
            .unwrap_or(chrono::Duration::MAX);
        if now >= stored.ends_at || now - stored.last_seen >= idle {
            let _ = session.flush().await;
            return Err(to_sign_in(true));
        }
        // Activity moves the idle deadline; written at most once a minute.
        if now - stored.last_seen >= chrono::Duration::minutes(1) {
            stored.last_seen = now;
            let _ = session.insert(SESSION_KEY, &stored).await;
        }
        let principal = Principal::new(
            stored.subject,
            stored.role,
            stored.organisation,
            stored.ends_at,
        )
        .map_err(|_| to_sign_in(true))?;
        Ok(Self {
            principal,
            csrf: stored.csrf,
            ends_at: stored.ends_at,
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    expired: Option<String>,
    #[serde(default)]
    signed_out: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: Option<String>,
}

/// `GET /portal/sign-in`.
pub async fn form(State(state): State<AppState>, Query(query): Query<SignInQuery>) -> Response {
    let t = page::texts();
    let notice = if query.expired.is_some() {
        Some(t.session_expired)
    } else if query.signed_out.is_some() {
        Some(t.signed_out)
    } else {
        None
    };
    let timeouts = state.portal_timeouts();
    sign_in_page(
        t,
        timeouts,
        notice,
        None,
        query.next.as_deref(),
        StatusCode::OK,
    )
}

/// `POST /portal/sign-in` (rate-limited by address, see [`super::router`]): checks the token
/// and opens a new session.
pub async fn sign_in(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<SignInForm>,
) -> Response {
    let t = page::texts();
    let next = form.next.as_deref();
    let principal = match state.tokens().verify(form.token.trim()) {
        Ok(principal) => principal,
        Err(error) => {
            tracing::info!(reason = %error, "portal sign-in refused");
            return sign_in_page(
                t,
                state.portal_timeouts(),
                None,
                Some(t.token_refused),
                next,
                StatusCode::UNAUTHORIZED,
            );
        }
    };
    if principal.role() == Role::Integrator {
        return sign_in_page(
            t,
            state.portal_timeouts(),
            None,
            Some(t.role_not_for_portal),
            next,
            StatusCode::FORBIDDEN,
        );
    }
    let now = Utc::now();
    let absolute = chrono::Duration::from_std(state.portal_timeouts().absolute)
        .unwrap_or(chrono::Duration::MAX);
    let stored = Stored {
        subject: principal.subject().to_owned(),
        role: principal.role(),
        organisation: principal.organisation().map(str::to_owned),
        ends_at: principal.expires_at().min(now + absolute),
        last_seen: now,
        csrf: random_token(),
    };
    // A new id at sign-in: an id planted before it is worth nothing after.
    let opened = async {
        session.cycle_id().await?;
        session.insert(SESSION_KEY, &stored).await
    };
    if let Err(error) = opened.await {
        tracing::error!(%error, "portal session not stored");
        return page::unavailable(t, StatusCode::SERVICE_UNAVAILABLE, None);
    }
    tracing::info!(actor = %principal.actor(), "portal sign-in");
    Redirect::to(safe_next(next)).into_response()
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// `POST /portal/sign-out`.
pub async fn sign_out(
    signed_in: SignedIn,
    session: Session,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Some(refused) = signed_in.csrf_refusal(&form.csrf) {
        return refused;
    }
    let _ = session.flush().await;
    Redirect::to("/portal/sign-in?signed_out=1").into_response()
}

/// Where to go after sign-in: a portal path of this site, never another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with("/portal/")
                && !path.starts_with("/portal/sign-")
                && !path.contains("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path
        }
        _ => "/portal/",
    }
}

fn sign_in_page(
    t: &'static Texts,
    timeouts: Timeouts,
    notice: Option<&str>,
    error: Option<&str>,
    next: Option<&str>,
    status: StatusCode,
) -> Response {
    let body = html! {
        h1 { (t.sign_in_title) }
        @if let Some(notice) = notice {
            p.notice role="status" { (notice) }
        }
        @if let Some(error) = error {
            div.error-summary role="alert" tabindex="-1" {
                h2 { (t.error_summary_title) }
                ul { li { a href="#token" { (error) } } }
            }
        }
        p {
            (t.sign_in_intro
                .replace("{hours}", &(timeouts.absolute.as_secs() / 3600).to_string())
                .replace("{idle}", &(timeouts.idle.as_secs() / 60).to_string()))
        }
        form method="post" action="/portal/sign-in" {
            @if let Some(next) = next {
                input type="hidden" name="next" value=(safe_next(Some(next)));
            }
            div.field.(if error.is_some() { "has-error" } else { "" }) {
                label for="token" { (t.token_label) }
                p.hint id="token-hint" { (t.token_hint) }
                @if let Some(error) = error {
                    p.field-error id="token-error" { (error) }
                }
                input #token type="password" name="token" required autocomplete="off"
                    spellcheck="false" aria-describedby="token-hint";
            }
            button type="submit" { (t.sign_in_button) }
        }
    };
    Page::new(t, t.sign_in_title)
        .body(body)
        .status(status)
        .into_response()
}

/// 32 random bytes in hex: the synchronizer token of one session.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The operating system's generator fails only on a broken system; then no form validates.
    if getrandom::fill(&mut bytes).is_err() {
        tracing::error!("no randomness for a csrf token");
        return String::new();
    }
    hex::encode(bytes)
}

/// Whether the request comes from a page of this site, as the browser says: `Sec-Fetch-Site`
/// when sent (`same-origin`, or `none` for a typed address), else `Origin` against `Host`.
/// Requests with neither (not a browser) pass: the synchronizer token still guards them.
pub fn is_same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    crate::origin::is_this_host(headers).unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_portal() {
        assert_eq!(
            safe_next(Some("/portal/declarations?x=1")),
            "/portal/declarations?x=1"
        );
        assert_eq!(safe_next(Some("https://evil.example/")), "/portal/");
        assert_eq!(safe_next(Some("//evil.example/portal/")), "/portal/");
        assert_eq!(safe_next(Some("/portal//evil.example")), "/portal/");
        assert_eq!(safe_next(Some("/portal/\\evil")), "/portal/");
        assert_eq!(safe_next(Some("/portal/sign-out")), "/portal/");
        assert_eq!(safe_next(None), "/portal/");
    }

    #[test]
    fn cross_site_requests_are_told_apart() {
        let mut headers = HeaderMap::new();
        assert!(is_same_origin(&headers));
        headers.insert(
            "host",
            "portal.example".parse().unwrap_or_else(|_| unreachable!()),
        );
        headers.insert(
            "origin",
            "https://evil.example"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert!(!is_same_origin(&headers));
        headers.insert(
            "origin",
            "https://portal.example"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert!(is_same_origin(&headers));
        headers.insert(
            "sec-fetch-site",
            "cross-site".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert!(!is_same_origin(&headers));
        headers.insert(
            "sec-fetch-site",
            "same-site".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert!(!is_same_origin(&headers));
        headers.insert(
            "sec-fetch-site",
            "same-origin".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert!(is_same_origin(&headers));
    }
}
