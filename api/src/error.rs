//! Errors at the edge: each failure gets one stable code, one HTTP status and a message that is
//! safe to show the caller. Internal details are logged here and never sent.

use async_graphql::ErrorExtensions as _;
use axum::http::StatusCode;
use eventstore::StoreError;

/// Code for an argument the API itself refuses (a negative limit, a version below zero).
pub const INVALID_ARGUMENT: &str = "INVALID_ARGUMENT";
/// Code for a `limit` above [`crate::graphql::MAX_LIMIT`].
pub const LIMIT_TOO_LARGE: &str = "LIMIT_TOO_LARGE";
/// Code for every failure whose details stay in the logs.
pub const INTERNAL: &str = "INTERNAL";

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
}

/// How a failure is shown: who is at fault decides what the caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller's input: the message names what is wrong.
    BadInput,
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
        }
    }

    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::InvalidArgument { field, .. } => Some(field),
            Self::Store { field, .. } => *field,
        }
    }

    /// The message the caller sees; logs the details of failures that are not the caller's.
    fn public_message(&self) -> String {
        match self {
            Self::InvalidArgument { message, .. } => message.clone(),
            Self::Store { source, .. } => match self.kind() {
                ErrorKind::BadInput | ErrorKind::Conflict => source.to_string(),
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
