//! Who is calling: principals, their roles, and the checks GraphQL fields make.
//!
//! A caller proves who it is with `Authorization: Bearer <token>`, a token this server signed
//! ([`token`], with the key of [`key`]), or, for machine clients, with `X-API-Key: ak_...`, an
//! API key issued by `aduana apikey issue` ([`api_key`]). A request with neither header is
//! anonymous: it reaches public fields (`serverInfo`) and is refused with `UNAUTHENTICATED` by
//! the others. A header that is not a valid, unexpired bearer token refuses the whole request
//! with 401 `INVALID_TOKEN`, and one that is not a known, unrevoked API key with 401
//! `INVALID_API_KEY`, before its body is read: a bad credential never falls back to anonymous.
//! Both headers at once are refused with 400 `BAD_REQUEST`: a request is one principal.
//!
//! The [`Principal`] goes into the GraphQL request data; fields declare who may resolve them
//! with [`RequireRole`]. An integrator's principal also holds the stream categories granted to
//! it ([`grant`]), which decide what it reads of the event log ([`crate::log_access`]).

use std::fmt;

use async_graphql::{Context, Guard};
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use commands::declaration::Caller;
use domain::codes::Actor;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

pub mod api_key;
pub mod grant;
pub mod key;
pub mod token;

pub use api_key::ApiKeys;
pub use grant::{Category, GrantError};

pub use key::SigningKey;
pub use token::{TokenError, TokenKeys};

/// What a principal may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A trader, or a broker acting for listed importers: files and follows its organisation's
    /// declarations.
    Declarant,
    /// A customs officer: reviews, inspects, accepts or refuses declarations.
    Officer,
    /// Reads everything, changes nothing: replays histories and recomputes assessments.
    Auditor,
    /// Runs the system: reference data, rules, accounts.
    Admin,
    /// A machine client of another system (a port community system, a bank).
    Integrator,
    /// Analyses the Customs Data Warehouse: reads its aggregates (`cube`, saved analyses),
    /// never a single declaration, batch or event.
    Analyst,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Declarant,
        Role::Officer,
        Role::Auditor,
        Role::Admin,
        Role::Integrator,
        Role::Analyst,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Declarant => "declarant",
            Self::Officer => "officer",
            Self::Auditor => "auditor",
            Self::Admin => "admin",
            Self::Integrator => "integrator",
            Self::Analyst => "analyst",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller. Built only through [`Principal::new`], so a declarant always has an
/// organisation, a subject is never empty, and the principal always has an [`Actor`] to record
/// on the events it causes; only an integrator holds grants ([`Principal::with_grants`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    subject: String,
    role: Role,
    organisation: Option<String>,
    expires_at: DateTime<Utc>,
    actor: Actor,
    /// The stream categories an integrator may read, sorted, each once.
    grants: Vec<Category>,
}

/// Why a principal cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    #[error("the subject must be 1 to 200 printable characters")]
    InvalidSubject,
    #[error("the organisation must be 1 to 200 printable characters")]
    InvalidOrganisation,
    #[error("a declarant acts for an organisation: give one")]
    DeclarantWithoutOrganisation,
    #[error("role, subject and organisation together must fit in 200 characters")]
    ActorTooLong,
    #[error(
        "only integrators are granted categories: officers, auditors and admins read every \
         category, declarants their own organisation's streams (this principal is {0})"
    )]
    GrantsNotForRole(Role),
}

impl Principal {
    pub fn new(
        subject: impl Into<String>,
        role: Role,
        organisation: Option<String>,
        expires_at: DateTime<Utc>,
    ) -> Result<Self, PrincipalError> {
        let subject = subject.into();
        if !is_name(&subject) {
            return Err(PrincipalError::InvalidSubject);
        }
        if organisation.as_deref().is_some_and(|org| !is_name(org)) {
            return Err(PrincipalError::InvalidOrganisation);
        }
        if role == Role::Declarant && organisation.is_none() {
            return Err(PrincipalError::DeclarantWithoutOrganisation);
        }
        let actor = match &organisation {
            Some(org) => format!("{role}/{subject}@{org}"),
            None => format!("{role}/{subject}"),
        };
        let actor = Actor::parse(&actor).map_err(|_| PrincipalError::ActorTooLong)?;
        Ok(Self {
            subject,
            role,
            organisation,
            expires_at,
            actor,
            grants: Vec::new(),
        })
    }

    /// The principal with the stream categories `grants` (an integrator only; no grants at all
    /// is allowed for every role, and is how every principal starts).
    pub fn with_grants(mut self, grants: Vec<Category>) -> Result<Self, PrincipalError> {
        if !grants.is_empty() && self.role != Role::Integrator {
            return Err(PrincipalError::GrantsNotForRole(self.role));
        }
        self.grants = grant::normalise(grants);
        Ok(self)
    }

    pub fn subject(&self) -> &str {
        &self.subject
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn organisation(&self) -> Option<&str> {
        self.organisation.as_deref()
    }

    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }

    /// The stream categories granted to this integrator (none for other roles, which read the
    /// log by their role: see [`crate::log_access`]).
    pub fn grants(&self) -> &[Category] {
        &self.grants
    }

    /// How events record this principal as their actor: `<role>/<subject>`, followed by
    /// `@<organisation>` when it has one, e.g. `declarant/alice@ACME` or `officer/bob`.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The principal as the command layer knows it: role, organisation and actor.
    pub fn caller(&self) -> Caller {
        Caller {
            role: self.role.into(),
            organisation: self.organisation.clone(),
            actor: self.actor.clone(),
        }
    }
}

impl From<Role> for commands::declaration::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::Declarant => Self::Declarant,
            Role::Officer => Self::Officer,
            Role::Auditor => Self::Auditor,
            Role::Admin => Self::Admin,
            Role::Integrator => Self::Integrator,
            Role::Analyst => Self::Analyst,
        }
    }
}

/// The caller of a field that needs one: the request's principal, or `UNAUTHENTICATED`.
pub fn principal<'a>(ctx: &Context<'a>) -> Result<&'a Principal, ApiError> {
    ctx.data_opt::<Principal>().ok_or(ApiError::Unauthenticated)
}

fn is_name(text: &str) -> bool {
    !text.is_empty() && text.chars().count() <= 200 && !text.chars().any(char::is_control)
}

/// A field guard: the caller must be authenticated and hold one of `roles`.
///
/// Anonymous callers get `UNAUTHENTICATED`, others `FORBIDDEN`.
#[derive(Debug, Clone, Copy)]
pub struct RequireRole(pub &'static [Role]);

impl Guard for RequireRole {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let principal = principal(ctx)?;
        if self.0.contains(&principal.role()) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                role: principal.role(),
            }
            .into())
        }
    }
}

/// The principal of a request, from its `Authorization` header: `Ok(None)` without one.
pub fn authenticate(
    headers: &HeaderMap,
    keys: &TokenKeys,
) -> Result<Option<Principal>, InvalidToken> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or(InvalidToken(TokenError::Malformed))?;
    keys.verify(token).map(Some).map_err(InvalidToken)
}

/// The principal of a request, from its `Authorization` or `X-API-Key` header: `Ok(None)`
/// without either.
pub fn authenticate_request(
    headers: &HeaderMap,
    tokens: &TokenKeys,
    api_keys: &ApiKeys,
) -> Result<Option<Principal>, Refusal> {
    let Some(value) = headers.get(api_key::HEADER) else {
        return authenticate(headers, tokens).map_err(|invalid| Refusal::Token(invalid.0));
    };
    if headers.contains_key(header::AUTHORIZATION) {
        return Err(Refusal::BothCredentials);
    }
    let key = value
        .to_str()
        .map_err(|_| Refusal::ApiKey(api_key::ApiKeyRefusal::Malformed))?;
    api_keys
        .authenticate(key)
        .map(Some)
        .map_err(Refusal::ApiKey)
}

/// Why a request's credentials are refused.
#[derive(Debug)]
pub enum Refusal {
    /// 401 `INVALID_TOKEN`.
    Token(TokenError),
    /// 401 `INVALID_API_KEY`, the same answer whatever the reason.
    ApiKey(api_key::ApiKeyRefusal),
    /// 400 `BAD_REQUEST`: both `Authorization` and `X-API-Key`.
    BothCredentials,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token(error) => write!(f, "bearer token refused: {error}"),
            Self::ApiKey(reason) => write!(f, "api key refused: {reason}"),
            Self::BothCredentials => f.write_str("both a bearer token and an api key"),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Token(error) => InvalidToken(error).into_response(),
            Self::ApiKey(_) => {
                let body = serde_json::json!({
                    "errors": [{
                        "message": "the X-API-Key header does not hold a valid API key",
                        "extensions": { "code": "INVALID_API_KEY" }
                    }]
                });
                (StatusCode::UNAUTHORIZED, Json(body)).into_response()
            }
            Self::BothCredentials => crate::error::HttpError::BadRequest(
                "send either an Authorization header or an X-API-Key header, not both".into(),
            )
            .into_response(),
        }
    }
}

/// A request refused for its token: 401 with code `INVALID_TOKEN`.
#[derive(Debug)]
pub struct InvalidToken(pub TokenError);

impl IntoResponse for InvalidToken {
    fn into_response(self) -> Response {
        let message = match self.0 {
            TokenError::Expired => "the bearer token has expired",
            _ => "the Authorization header does not hold a valid bearer token",
        };
        let body = serde_json::json!({
            "errors": [{ "message": message, "extensions": { "code": "INVALID_TOKEN" } }]
        });
        let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        response
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn later() -> DateTime<Utc> {
        DateTime::from_timestamp(4_000_000_000, 0).unwrap()
    }

    #[test]
    fn a_declarant_must_name_its_organisation() {
        assert_eq!(
            Principal::new("alice", Role::Declarant, None, later()),
            Err(PrincipalError::DeclarantWithoutOrganisation)
        );
        let alice = Principal::new("alice", Role::Declarant, Some("ACME".into()), later()).unwrap();
        assert_eq!(alice.actor().as_str(), "declarant/alice@ACME");
        let bob = Principal::new("bob", Role::Officer, None, later()).unwrap();
        assert_eq!(bob.actor().as_str(), "officer/bob");
    }

    #[test]
    fn a_principal_calls_commands_with_its_role_organisation_and_actor() {
        let alice = Principal::new("alice", Role::Declarant, Some("ACME".into()), later()).unwrap();
        let caller = alice.caller();
        assert_eq!(caller.role, commands::declaration::Role::Declarant);
        assert_eq!(caller.organisation.as_deref(), Some("ACME"));
        assert_eq!(caller.actor.as_str(), "declarant/alice@ACME");
        for role in Role::ALL {
            let org = (role == Role::Declarant).then(|| "ACME".to_owned());
            let principal = Principal::new("x", role, org, later()).unwrap();
            assert_eq!(
                format!("{:?}", principal.caller().role).to_lowercase(),
                role.as_str()
            );
        }
    }

    #[test]
    fn a_principal_whose_actor_would_not_fit_is_refused() {
        let long = "a".repeat(150);
        assert_eq!(
            Principal::new(long.clone(), Role::Declarant, Some(long), later()),
            Err(PrincipalError::ActorTooLong)
        );
    }

    #[test]
    fn empty_or_control_character_names_are_refused() {
        assert_eq!(
            Principal::new("", Role::Officer, None, later()),
            Err(PrincipalError::InvalidSubject)
        );
        assert_eq!(
            Principal::new("a\nb", Role::Officer, None, later()),
            Err(PrincipalError::InvalidSubject)
        );
        assert_eq!(
            Principal::new("a", Role::Officer, Some(String::new()), later()),
            Err(PrincipalError::InvalidOrganisation)
        );
    }

    #[test]
    fn only_integrators_hold_grants() {
        let bot = Principal::new("bot", Role::Integrator, None, later())
            .unwrap()
            .with_grants(vec![
                Category::Batch,
                Category::Declaration,
                Category::Batch,
            ])
            .unwrap();
        assert_eq!(bot.grants(), [Category::Declaration, Category::Batch]);
        for role in [Role::Declarant, Role::Officer, Role::Auditor, Role::Admin] {
            let org = (role == Role::Declarant).then(|| "ACME".to_owned());
            let principal = Principal::new("x", role, org, later()).unwrap();
            assert!(principal.grants().is_empty());
            assert_eq!(
                principal.clone().with_grants(vec![Category::Declaration]),
                Err(PrincipalError::GrantsNotForRole(role))
            );
            assert_eq!(principal.clone().with_grants(Vec::new()), Ok(principal));
        }
    }

    #[test]
    fn roles_are_written_in_lowercase() {
        for role in Role::ALL {
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{role}\""));
        }
    }
}
