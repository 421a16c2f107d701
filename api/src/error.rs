//! Errors at the edge: each failure gets one stable code, one HTTP status and a message that is
//! safe to show the caller. Internal details are logged here and never sent.

use async_graphql::ErrorExtensions as _;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use commands::analysis::AnalysisCommandError;
use commands::declaration::CommandError;
use commands::reference::{ImportError, RowError};
use domain::analysis::AnalysisError;
use domain::declaration::DeclarationError;
use eventstore::StoreError;
use projections::warehouse::CubeError;
use uuid::Uuid;

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
/// Code for a declaration that does not exist, or that the caller may not see.
pub const NOT_FOUND: &str = "NOT_FOUND";
/// Code for a command that lost a race: the declaration changed since it was read.
pub const CONFLICT: &str = "CONFLICT";
/// Code for reference files with bad rows (`extensions.rowErrors` lists every one).
pub const REFERENCE_DATA_INVALID: &str = "REFERENCE_DATA_INVALID";

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
    /// The principal may not read that part of the event log (a category not granted).
    LogAccess(crate::log_access::LogAccessError),
    /// A declaration command or query refused: forbidden, not found, a business rule, or a
    /// concurrent change. (Its store and corruption failures become [`ApiError::Store`] and
    /// [`ApiError::Internal`].)
    Command(CommandError),
    /// Reference files with bad rows; nothing was imported.
    ReferenceData(Vec<RowError>),
    /// A cube query refused (its code and the field of `query` at fault) or failed.
    Cube(CubeError),
    /// A saved analysis not saved or deleted.
    Analysis(AnalysisCommandError),
    /// A fault on our side, described for the logs only.
    Internal(String),
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
    /// Nothing there, or nothing the caller may see (other organisations' declarations).
    NotFound,
    /// A business rule refused the command (the declaration's state, an amount, a duplicate):
    /// the message says which, and nothing changed.
    Rejected,
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
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Rejected => StatusCode::UNPROCESSABLE_ENTITY,
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
            Self::Forbidden { .. } | Self::LogAccess(_) => ErrorKind::Forbidden,
            Self::Command(error) => match error {
                CommandError::Forbidden(_) => ErrorKind::Forbidden,
                CommandError::NotFound(_) => ErrorKind::NotFound,
                CommandError::Rejected(_) => ErrorKind::Rejected,
                CommandError::Conflict { .. } => ErrorKind::Conflict,
                CommandError::Store(source) => ErrorKind::of_store_error(source),
                CommandError::Corrupt(_) => ErrorKind::Internal,
            },
            Self::ReferenceData(_) => ErrorKind::BadInput,
            Self::Cube(error) => match error {
                CubeError::Invalid { .. } | CubeError::TooLarge => ErrorKind::BadInput,
                CubeError::Overflow => ErrorKind::Rejected,
                CubeError::Database(_) => ErrorKind::Unavailable,
                CubeError::Corrupt(_) => ErrorKind::Internal,
            },
            Self::Analysis(error) => match error {
                AnalysisCommandError::Rejected(AnalysisError::NotFound) => ErrorKind::NotFound,
                AnalysisCommandError::Rejected(AnalysisError::NotOwner { .. }) => {
                    ErrorKind::Forbidden
                }
                AnalysisCommandError::Rejected(_) => ErrorKind::BadInput,
                AnalysisCommandError::Conflict => ErrorKind::Conflict,
                AnalysisCommandError::Store(source) => ErrorKind::of_store_error(source),
                AnalysisCommandError::Corrupt(_) => ErrorKind::Internal,
            },
            Self::Internal(_) => ErrorKind::Internal,
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
            Self::Forbidden { .. } | Self::LogAccess(_) => FORBIDDEN,
            Self::Command(error) => match self.kind() {
                ErrorKind::Internal => INTERNAL,
                _ => error.code(),
            },
            Self::ReferenceData(_) => REFERENCE_DATA_INVALID,
            Self::Cube(error) => match self.kind() {
                ErrorKind::Internal => INTERNAL,
                _ => error.code(),
            },
            Self::Analysis(error) => match (error, self.kind()) {
                (_, ErrorKind::Internal) => INTERNAL,
                (AnalysisCommandError::Rejected(rejection), _) => rejection.code(),
                (AnalysisCommandError::Conflict, _) => CONFLICT,
                (AnalysisCommandError::Store(source), _) => source.code(),
                (AnalysisCommandError::Corrupt(_), _) => INTERNAL,
            },
            Self::Internal(_) => INTERNAL,
        }
    }

    pub fn field(&self) -> Option<String> {
        match self {
            Self::InvalidArgument { field, .. } => Some((*field).to_owned()),
            Self::Store { field, .. } => field.map(str::to_owned),
            // The cube's fields are within the `query` argument.
            Self::Cube(error) => error.field().map(|f| format!("query.{f}")),
            Self::Analysis(AnalysisCommandError::Rejected(rejection)) => {
                rejection.field().map(str::to_owned)
            }
            Self::Analysis(_) => None,
            Self::Unauthenticated
            | Self::Forbidden { .. }
            | Self::LogAccess(_)
            | Self::Command(_)
            | Self::ReferenceData(_)
            | Self::Internal(_) => None,
        }
    }

    /// The message the caller sees, and for failures that are not the caller's the id under
    /// which their details were logged.
    fn public_message(&self) -> (String, Option<Uuid>) {
        let logged = |details: &dyn std::fmt::Display, code: &str, message: &str| {
            let error_id = Uuid::new_v4();
            match self.kind() {
                ErrorKind::Unavailable => {
                    tracing::error!(%error_id, error = %details, code, "event store unavailable");
                }
                _ => tracing::error!(%error_id, error = %details, code, "internal error"),
            }
            (message.to_owned(), Some(error_id))
        };
        let unavailable = "the event store is unavailable; try again later";
        match self {
            Self::InvalidArgument { message, .. } => (message.clone(), None),
            Self::Unauthenticated => (
                "sign in: send Authorization: Bearer <token> (aduana token issue)".to_owned(),
                None,
            ),
            Self::Forbidden { role } => (format!("the {role} role may not use this field"), None),
            Self::LogAccess(error) => (error.to_string(), None),
            Self::ReferenceData(rows) => (
                format!(
                    "{} error(s) in the reference files; nothing was imported",
                    rows.len()
                ),
                None,
            ),
            Self::Internal(details) => logged(details, INTERNAL, "internal error"),
            Self::Cube(error) => match self.kind() {
                ErrorKind::Unavailable => logged(
                    error,
                    error.code(),
                    "the warehouse is unavailable; try again later",
                ),
                ErrorKind::Internal => logged(error, error.code(), "internal error"),
                _ => (error.to_string(), None),
            },
            Self::Analysis(error) => match self.kind() {
                ErrorKind::Unavailable => logged(error, self.code(), unavailable),
                ErrorKind::Internal => logged(error, "STORE_CORRUPT", "internal error"),
                _ => (error.to_string(), None),
            },
            Self::Store { source, .. } | Self::Command(CommandError::Store(source)) => {
                match self.kind() {
                    ErrorKind::Unavailable => logged(source, source.code(), unavailable),
                    ErrorKind::Internal => logged(source, source.code(), "internal error"),
                    _ => (source.to_string(), None),
                }
            }
            Self::Command(CommandError::Corrupt(details)) => {
                logged(details, "STORE_CORRUPT", "internal error")
            }
            Self::Command(error) => (error.to_string(), None),
        }
    }

    /// What the caller may read besides code and message: the current state of a declaration
    /// that refused a command, every error of a refused amendment or reference import.
    fn details(&self) -> Vec<(&'static str, async_graphql::Value)> {
        let json = |value: serde_json::Result<serde_json::Value>| {
            value
                .ok()
                .and_then(|v| async_graphql::Value::from_json(v).ok())
                .unwrap_or(async_graphql::Value::Null)
        };
        match self {
            Self::Command(CommandError::Rejected(rejection)) => match rejection {
                DeclarationError::InvalidState { state, .. } => {
                    vec![("state", async_graphql::Value::from(state.as_str()))]
                }
                DeclarationError::InvalidAmendment(errors) => {
                    vec![("validationErrors", json(serde_json::to_value(errors)))]
                }
                _ => Vec::new(),
            },
            Self::Command(CommandError::Conflict { expected, actual }) => vec![
                ("expectedVersion", async_graphql::Value::from(*expected)),
                ("actualVersion", async_graphql::Value::from(*actual)),
            ],
            Self::ReferenceData(rows) => vec![("rowErrors", json(serde_json::to_value(rows)))],
            Self::LogAccess(error) => error
                .category()
                .map(|category| vec![("category", async_graphql::Value::from(category))])
                .unwrap_or_default(),
            _ => Vec::new(),
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

impl From<crate::log_access::LogAccessError> for ApiError {
    fn from(error: crate::log_access::LogAccessError) -> Self {
        Self::LogAccess(error)
    }
}

impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Store(source) => Self::from(source),
            CommandError::Corrupt(details) => Self::Internal(details),
            other => Self::Command(other),
        }
    }
}

impl From<AnalysisCommandError> for ApiError {
    fn from(error: AnalysisCommandError) -> Self {
        Self::Analysis(error)
    }
}

impl From<ImportError> for ApiError {
    fn from(error: ImportError) -> Self {
        match error {
            ImportError::Invalid(rows) => Self::ReferenceData(rows),
            ImportError::Store(source) => Self::from(source),
            ImportError::Payload(source) => Self::Internal(source.to_string()),
        }
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        let code = error.code();
        let field = error.field();
        let details = error.details();
        let (message, error_id) = error.public_message();
        async_graphql::Error::new(message).extend_with(|_, extensions| {
            extensions.set("code", code);
            if let Some(field) = field {
                extensions.set("field", field);
            }
            if let Some(error_id) = error_id {
                extensions.set("errorId", error_id.to_string());
            }
            for (name, value) in details {
                extensions.set(name, value);
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
    /// The endpoint needs credentials and the request has none.
    Unauthenticated,
    /// The credentials' role may not use the endpoint.
    Forbidden,
}

impl HttpError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadRequest(_) | Self::BatchTooLarge { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::BadRequest(_) => "BAD_REQUEST",
            Self::BatchTooLarge { .. } => "BATCH_TOO_LARGE",
            Self::Unauthenticated => UNAUTHENTICATED,
            Self::Forbidden => FORBIDDEN,
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
            Self::Unauthenticated => {
                "send Authorization: Bearer <token> or X-API-Key: <key>".to_owned()
            }
            Self::Forbidden => "your role may not use this endpoint".to_owned(),
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

    #[test]
    fn internal_failures_carry_the_id_they_were_logged_under() {
        let error = async_graphql::Error::from(ApiError::from(CommandError::Corrupt(
            "declaration-1 v3: unknown event type".into(),
        )));
        assert_eq!(error.message, "internal error");
        let extensions = serde_json::to_value(error.extensions).unwrap_or_default();
        assert_eq!(extensions["code"], "INTERNAL");
        let id = extensions["errorId"].as_str().unwrap_or_default();
        assert!(Uuid::parse_str(id).is_ok(), "{extensions}");
        assert!(!extensions.to_string().contains("unknown event type"));
    }

    #[test]
    fn command_refusals_keep_their_codes_and_name_the_state() {
        let id = Uuid::nil();
        assert_eq!(
            extensions(CommandError::NotFound(id).into()),
            serde_json::json!({ "code": "NOT_FOUND" })
        );
        assert_eq!(
            extensions(CommandError::Forbidden("no").into()),
            serde_json::json!({ "code": "FORBIDDEN" })
        );
        let refused = CommandError::Rejected(DeclarationError::InvalidState {
            command: "accept",
            state: domain::declaration::Status::Withdrawn,
        });
        assert_eq!(
            extensions(refused.into()),
            serde_json::json!({ "code": "INVALID_STATE", "state": "withdrawn" })
        );
        let conflict = ApiError::from(CommandError::Conflict {
            expected: 4,
            actual: 5,
        });
        assert_eq!(conflict.kind().status(), StatusCode::CONFLICT);
        assert_eq!(
            extensions(conflict),
            serde_json::json!({ "code": "CONFLICT", "expectedVersion": 4, "actualVersion": 5 })
        );
    }
}
