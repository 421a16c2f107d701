//! Errors at the edge: each failure gets one stable code, one HTTP status and a message that is
//! safe to show the caller. Internal details are logged here and never sent.

use async_graphql::ErrorExtensions as _;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use eventstore::StoreError;

/// Code for an argument the API itself refuses (a negative limit, a version below zero).
pub const INVALID_ARGUMENT: &str = "INVALID_ARGUMENT";
/// Code for a `limit` above [`crate::graphql::MAX_LIMIT`].
pub const LIMIT_TOO_LARGE: &str = "LIMIT_TOO_LARGE";
/// Code for every failure whose details stay in the logs.
pub const INTERNAL: &str = "INTERNAL";
/// Code for a field that needs a signed-in caller, asked for without a bearer token.
pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
/// Code for a field the caller's role may not use.
pub const FORBIDDEN: &str = "FORBIDDEN";
/// Code for a GraphQL document that selects more fields than
/// [`crate::graphql::MAX_SELECTIONS`] (fragments expanded, `__typename` included).
pub const TOO_MANY_SELECTIONS: &str = "TOO_MANY_SELECTIONS";
/// Code for a document that does not parse, or that breaks a limit checked while parsing
/// (nesting, directives per field).
pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
/// Code for a document that does not fit the schema, or is too deep or too complex.
pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";

/// Why a request failed, as the API reports it.
///
/// Deliberately not `Display`: it becomes an `async_graphql::Error` through `From` (with its
/// `extensions`), which the blanket `From<T: Display>` of async-graphql would otherwise shadow.
#[derive(Debug)]
pub enum ApiError {
    /// An argument the API refuses before calling the store.
    InvalidArgument {
        code: &'static str,
        field: &'static str,
        message: String,
    },
    /// The store refused the call or failed; `field` names the argument at fault, if any.
    Store {
        source: StoreError,
        field: Option<&'static str>,
    },
    /// The field needs a principal and the request has no bearer token.
    Unauthenticated,
    /// The principal's role may not use the field.
    Forbidden { role: crate::auth::Role },
}

/// How a failure is shown: who is at fault decides what the caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller's input: the message names what is wrong.
    BadInput,
    /// No principal where one is needed.
    Unauthenticated,
    /// A principal whose role may not do this.
    Forbidden,
    /// Optimistic concurrency or a reused event id: the caller may re-read and retry.
    Conflict,
    /// The database does not answer or the store handle is unusable: retry later.
    Unavailable,
    /// A fault on our side; the message is generic and the details are logged.
    Internal,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadInput => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Conflict => StatusCode::CONFLICT,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Classifies a store error by its variant (never by message text).
    pub fn of_store_error(error: &StoreError) -> Self {
        match error {
            e if e.is_bad_input() => Self::BadInput,
            StoreError::WrongExpectedVersion { .. }
            | StoreError::EventIdReused { .. }
            | StoreError::VersionOverflow { .. } => Self::Conflict,
            StoreError::Poisoned
            | StoreError::Closed
            | StoreError::Database(_)
            | StoreError::Io(_) => Self::Unavailable,
            _ => Self::Internal,
        }
    }
}

impl ApiError {
    pub fn invalid_argument(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            code: INVALID_ARGUMENT,
            field,
            message: message.into(),
        }
    }

    /// A store error caused by the argument `field`.
    pub fn store_on(field: &'static str, source: StoreError) -> Self {
        Self::Store {
            source,
            field: Some(field),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidArgument { .. } => ErrorKind::BadInput,
            Self::Store { source, .. } => ErrorKind::of_store_error(source),
            Self::Unauthenticated => ErrorKind::Unauthenticated,
            Self::Forbidden { .. } => ErrorKind::Forbidden,
        }
    }

    /// The machine-readable code sent as `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidArgument { code, .. } => code,
            Self::Store { source, .. } => match self.kind() {
                ErrorKind::Internal => INTERNAL,
                _ => source.code(),
            },
            Self::Unauthenticated => UNAUTHENTICATED,
            Self::Forbidden { .. } => FORBIDDEN,
        }
    }

    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::InvalidArgument { field, .. } => Some(field),
            Self::Store { field, .. } => *field,
            Self::Unauthenticated | Self::Forbidden { .. } => None,
        }
    }

    /// The message the caller sees; logs the details of failures that are not the caller's.
    fn public_message(&self) -> String {
        match self {
            Self::InvalidArgument { message, .. } => message.clone(),
            Self::Unauthenticated => {
                "sign in: send Authorization: Bearer <token> (aduana token issue)".to_owned()
            }
            Self::Forbidden { role } => format!("the {role} role may not use this field"),
            Self::Store { source, .. } => match self.kind() {
                ErrorKind::BadInput
                | ErrorKind::Conflict
                | ErrorKind::Unauthenticated
                | ErrorKind::Forbidden => source.to_string(),
                ErrorKind::Unavailable => {
                    tracing::error!(error = %source, code = source.code(), "event store unavailable");
                    "the event store is unavailable; try again later".to_owned()
                }
                ErrorKind::Internal => {
                    tracing::error!(error = %source, code = source.code(), "internal error");
                    "internal error".to_owned()
                }
            },
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(source: StoreError) -> Self {
        Self::Store {
            source,
            field: None,
        }
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        let code = error.code();
        let field = error.field();
        async_graphql::Error::new(error.public_message()).extend_with(|_, extensions| {
            extensions.set("code", code);
            if let Some(field) = field {
                extensions.set("field", field);
            }
        })
    }
}

/// A request refused before GraphQL runs it. The body has the shape of a GraphQL response
/// (`{"errors":[{"message","extensions":{"code"}}]}`), so clients read one error format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// GraphQL runs over POST only; GET /graphql serves GraphiQL, without a query string.
    MethodNotAllowed,
    /// The body is not declared as `application/json`.
    UnsupportedMediaType,
    /// The body is larger than the limit (in bytes).
    PayloadTooLarge { limit: usize },
    /// The body is not a GraphQL request (or batch of them).
    BadRequest(String),
    /// A batch holds more operations than the limit, or none.
    BatchTooLarge { operations: usize, limit: usize },
}

impl HttpError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadRequest(_) | Self::BatchTooLarge { .. } => StatusCode::BAD_REQUEST,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::BadRequest(_) => "BAD_REQUEST",
            Self::BatchTooLarge { .. } => "BATCH_TOO_LARGE",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::MethodNotAllowed => {
                "GraphQL runs over POST with a JSON body; GET /graphql serves GraphiQL only"
                    .to_owned()
            }
            Self::UnsupportedMediaType => {
                "the body must be sent with content-type application/json".to_owned()
            }
            Self::PayloadTooLarge { limit } => {
                format!("the body is larger than {limit} bytes")
            }
            Self::BadRequest(message) => message.clone(),
            Self::BatchTooLarge { operations, limit } => {
                format!("a batch holds from 1 to {limit} operations; this one holds {operations}")
            }
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "errors": [{ "message": self.message(), "extensions": { "code": self.code() } }]
        });
        let mut response = (self.status(), Json(body)).into_response();
        if self == Self::MethodNotAllowed {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        response
    }
}

/// Sets `extensions.code` on each error that has none yet.
pub fn with_default_code(
    mut errors: Vec<async_graphql::ServerError>,
    code: &'static str,
) -> Vec<async_graphql::ServerError> {
    for error in &mut errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", code);
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extensions(error: ApiError) -> serde_json::Value {
        let error = async_graphql::Error::from(error);
        serde_json::to_value(error.extensions).unwrap_or_default()
    }

    #[test]
    fn an_invalid_stream_id_keeps_its_store_code_and_names_the_argument() {
        let store_error = eventstore::StreamId::parse("Not Valid").err();
        let Some(store_error) = store_error else {
            panic!("the id is invalid");
        };
        let error = ApiError::store_on("id", store_error);
        assert_eq!(error.kind().status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            extensions(error),
            serde_json::json!({ "code": "INVALID_STREAM_ID", "field": "id" })
        );
    }

    #[test]
    fn internal_failures_send_a_generic_message_and_code() {
        let error = ApiError::from(StoreError::Corrupt("row 7: bad uuid".into()));
        assert_eq!(error.code(), INTERNAL);
        let error = async_graphql::Error::from(error);
        assert_eq!(error.message, "internal error");
    }

    #[test]
    fn an_unreachable_database_is_reported_as_unavailable() {
        let error = ApiError::from(StoreError::Poisoned);
        assert_eq!(error.kind().status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error.code(), "STORE_POISONED");
    }
}
