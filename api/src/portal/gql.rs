//! The portal is a client of the GraphQL API, in process: every page runs a GraphQL operation
//! as the signed-in principal, so the portal sees exactly what the API lets that principal see
//! and enforces nothing of its own beyond the session.

use async_graphql::Request;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use super::session::SignedIn;
use crate::server::AppState;

/// One error of an operation, as the API reported it.
#[derive(Debug, Clone, Default)]
pub struct GqlError {
    /// `extensions.code`, e.g. `NOT_FOUND`, `VALIDATION_FAILED`.
    pub code: String,
    pub message: String,
    /// `extensions.field`, when the error concerns one argument.
    pub field: Option<String>,
    /// `extensions.validationErrors` of a refused amendment.
    pub validation_errors: Vec<FieldError>,
    /// `extensions.errorId`, for failures logged on the server.
    pub error_id: Option<Uuid>,
}

/// A validation error: code, camelCase field path and message.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct FieldError {
    pub code: String,
    pub path: String,
    pub message: String,
}

impl GqlError {
    /// True when the caller may not see the thing asked for (or it does not exist).
    pub fn is_not_found(&self) -> bool {
        matches!(self.code.as_str(), "NOT_FOUND" | "BATCH_NOT_FOUND")
    }
}

/// Runs `query` with `variables` as the signed-in principal; `data` deserialized, or the
/// operation's errors.
pub async fn run<T: DeserializeOwned>(
    state: &AppState,
    user: &SignedIn,
    query: &str,
    variables: Value,
) -> Result<T, Vec<GqlError>> {
    let request = Request::new(query)
        .variables(async_graphql::Variables::from_json(variables))
        .data(user.principal.clone());
    let response = state.schema().execute(request).await;
    if !response.errors.is_empty() {
        return Err(response.errors.iter().map(error_of).collect());
    }
    let data = response.data.into_json().map_err(|e| vec![internal(e)])?;
    serde_json::from_value(data).map_err(|e| vec![internal(e)])
}

fn internal(error: impl std::fmt::Display) -> GqlError {
    let error_id = Uuid::new_v4();
    tracing::error!(%error_id, %error, "portal could not read a graphql answer");
    GqlError {
        code: "INTERNAL".to_owned(),
        message: "internal error".to_owned(),
        error_id: Some(error_id),
        ..GqlError::default()
    }
}

fn error_of(error: &async_graphql::ServerError) -> GqlError {
    let extension = |name: &str| {
        error
            .extensions
            .as_ref()
            .and_then(|e| e.get(name))
            .and_then(|v| v.clone().into_json().ok())
    };
    let text = |name: &str| extension(name).and_then(|v| v.as_str().map(str::to_owned));
    GqlError {
        code: text("code").unwrap_or_else(|| "BAD_REQUEST".to_owned()),
        message: error.message.clone(),
        field: text("field"),
        validation_errors: extension("validationErrors")
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default(),
        error_id: text("errorId").and_then(|id| Uuid::parse_str(&id).ok()),
    }
}
