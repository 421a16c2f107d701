//! The event log as GraphQL: server info, one stream, and the global log ($all). Who reads
//! which part is decided by [`crate::log_access`]: officers, auditors and admins everything,
//! integrators the categories granted to them, declarants (`events` only) their organisation's
//! declarations and batches.
//!
//! Numbers: GraphQL's `Int` is a signed 32-bit integer. Global positions grow with every event
//! the system ever records and may pass 2^31 - 1, so they are a [`Position`] scalar, sent as a
//! string of decimal digits (safe in every client, JavaScript included). Stream versions and
//! schema versions count the events of one stream and the revisions of one event type; they stay
//! `Int`, and a value that does not fit is reported as an error instead of being truncated.
//!
//! `limit` arguments are at most [`MAX_LIMIT`]; a larger one is refused with code
//! `LIMIT_TOO_LARGE` (not clamped, so a client never mistakes a short page for the end of the
//! data).

use async_graphql::{
    Context, Enum, InputValueError, InputValueResult, Json, Object, Scalar, ScalarType, Value,
};
use chrono::{DateTime, Utc};
use eventstore::{EventStore, RecordedEvent, StoreError, StreamId};
use futures::TryStreamExt;
use uuid::Uuid;

use super::{LOG_READERS, MAX_LIMIT};
use crate::auth::{self, RequireRole};
use crate::error::{ApiError, LIMIT_TOO_LARGE};
use crate::log_access::{self, LogReader};

/// A position in the global log (`$all`): 1 for the first event ever, dense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position(pub u64);

/// A position in the global log ($all), 1 for the first event ever recorded. Sent as a string
/// of decimal digits, since positions may exceed the 32 bits of Int; accepted as such a string
/// or as an Int.
#[Scalar(name = "Position")]
impl ScalarType for Position {
    fn parse(value: Value) -> InputValueResult<Self> {
        let parsed = match &value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse::<u64>().ok(),
            _ => return Err(InputValueError::expected_type(value)),
        };
        // Positions are stored as signed 64-bit integers.
        match parsed {
            Some(p) if i64::try_from(p).is_ok() => Ok(Self(p)),
            _ => Err(InputValueError::custom(
                "a position is a whole number from 0 to 9223372036854775807",
            )),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// Which way to read a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Enum)]
pub enum Direction {
    /// Oldest first, from `fromVersion` (default: the first event).
    #[default]
    Forward,
    /// Newest first, from `fromVersion` (default: the last event).
    Backward,
}

impl From<Direction> for eventstore::Direction {
    fn from(direction: Direction) -> Self {
        match direction {
            Direction::Forward => Self::Forward,
            Direction::Backward => Self::Backward,
        }
    }
}

/// The event log's fields of the root query.
#[derive(Debug, Default)]
pub struct LogQuery;

#[Object]
impl LogQuery {
    /// What this server runs and how far the log goes. Public.
    async fn server_info(&self) -> ServerInfo {
        ServerInfo
    }

    /// The events of one stream, in version order (or reverse order with `BACKWARD`).
    /// Officers, auditors and admins; integrators for the categories granted to them.
    #[graphql(
        complexity = "page_cost(limit, child_complexity)",
        guard = "RequireRole(LOG_READERS)"
    )]
    async fn stream(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The stream id, e.g. `declaration-4f1c7a52`.")] id: String,
        #[graphql(desc = "The first version to return (inclusive).")] from_version: Option<i32>,
        #[graphql(default, desc = "Oldest first (`FORWARD`) or newest first.")]
        direction: Direction,
        #[graphql(default = 100, desc = "At most 1000.")] limit: i32,
    ) -> async_graphql::Result<Vec<Event>> {
        let store = ctx.data::<EventStore>()?;
        let id = StreamId::parse(id).map_err(|e| ApiError::store_on("id", e))?;
        log_access::check_stream(auth::principal(ctx)?, &id).map_err(ApiError::from)?;
        let limit = check_limit(limit)?;
        let from = from_version
            .map(|v| {
                u64::try_from(v)
                    .map_err(|_| ApiError::invalid_argument("fromVersion", "must not be negative"))
            })
            .transpose()?;
        let events: Vec<RecordedEvent> = store
            .read_stream(&id, direction.into(), from, limit)
            .try_collect()
            .await
            .map_err(ApiError::from)?;
        Ok(events.into_iter().map(Event).collect())
    }

    /// The global log after a position, optionally only some categories and event types.
    /// Officers, auditors and admins read every category; integrators the categories granted
    /// to them (naming another is FORBIDDEN); declarants their organisation's declaration and
    /// batch streams.
    #[graphql(complexity = "page_cost(limit, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default,
            desc = "Return events after this position (0: from the start)."
        )]
        after: Position,
        #[graphql(default = 100, desc = "At most 1000.")] limit: i32,
        #[graphql(desc = "Stream categories (the part of the id before the first `-`).")]
        categories: Option<Vec<String>>,
        #[graphql(desc = "Event types, e.g. `DeclarationFiled`.")] types: Option<Vec<String>>,
    ) -> async_graphql::Result<EventPage> {
        let principal = auth::principal(ctx)?;
        let store = ctx.data::<EventStore>()?;
        let limit = check_limit(limit)?;
        let mut reader = LogReader::new(
            store.clone(),
            principal,
            categories.unwrap_or_default(),
            types.unwrap_or_default(),
        )
        .map_err(ApiError::from)?;
        let page = reader.page(after.0, limit).await.map_err(ApiError::from)?;
        Ok(EventPage {
            events: page.events.into_iter().map(Event).collect(),
            next_after: Position(page.next_after),
        })
    }
}

/// The cost of a list of up to `limit` items, each costing `child` (used by complexity limits).
fn page_cost(limit: i32, child: usize) -> usize {
    usize::try_from(limit.clamp(1, MAX_LIMIT)).unwrap_or(1) * child + 1
}

fn check_limit(limit: i32) -> Result<usize, ApiError> {
    if limit > MAX_LIMIT {
        return Err(ApiError::InvalidArgument {
            code: LIMIT_TOO_LARGE,
            field: "limit",
            message: format!("limit must be at most {MAX_LIMIT}"),
        });
    }
    usize::try_from(limit).map_err(|_| ApiError::invalid_argument("limit", "must not be negative"))
}

/// Facts about the running server.
#[derive(Debug)]
pub struct ServerInfo;

#[Object]
impl ServerInfo {
    /// The version of the aduana build.
    async fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    /// The event store backend: `sqlite` or `postgres`.
    async fn backend(&self, ctx: &Context<'_>) -> async_graphql::Result<&'static str> {
        Ok(ctx.data::<EventStore>()?.backend_name())
    }

    /// The position of the last committed event (0 when the log is empty), read from the
    /// database.
    async fn head_position(&self, ctx: &Context<'_>) -> async_graphql::Result<Position> {
        let store = ctx.data::<EventStore>()?;
        let head = store.head_position().await.map_err(ApiError::from)?;
        Ok(Position(head))
    }
}

/// One page of the global log.
#[derive(Debug)]
pub struct EventPage {
    events: Vec<Event>,
    next_after: Position,
}

#[Object]
impl EventPage {
    /// The events, in position order.
    async fn events(&self) -> &[Event] {
        &self.events
    }

    /// Pass as `after` to read on: the last position this page covered (for a declarant, the
    /// last position scanned, which may be another organisation's event it does not see).
    async fn next_after(&self) -> Position {
        self.next_after
    }
}

/// An event as stored, with everything needed to check its hash chain.
#[derive(Debug)]
pub struct Event(pub RecordedEvent);

#[Object(name = "RecordedEvent")]
impl Event {
    async fn event_id(&self) -> Uuid {
        self.0.event_id
    }

    /// The position in the global log.
    async fn position(&self) -> Position {
        Position(self.0.position)
    }

    async fn stream_id(&self) -> &str {
        &self.0.stream_id
    }

    /// The version of the stream this event made: 1 for its first event.
    async fn stream_version(&self) -> async_graphql::Result<i32> {
        Ok(to_int(self.0.stream_version, "stream version")?)
    }

    async fn event_type(&self) -> &str {
        &self.0.event_type
    }

    async fn schema_version(&self) -> async_graphql::Result<i32> {
        Ok(to_int(self.0.schema_version, "schema version")?)
    }

    /// The payload as JSON.
    async fn payload(&self) -> async_graphql::Result<Json<serde_json::Value>> {
        let payload = serde_json::from_str(&self.0.payload).map_err(|e| {
            ApiError::from(StoreError::Corrupt(format!(
                "payload of event {} is not JSON: {e}",
                self.0.event_id
            )))
        })?;
        Ok(Json(payload))
    }

    /// Groups every event caused by one request.
    async fn correlation_id(&self) -> Option<Uuid> {
        self.0.metadata.correlation_id
    }

    /// The event or command that directly caused this one.
    async fn causation_id(&self) -> Option<Uuid> {
        self.0.metadata.causation_id
    }

    /// Who acted, e.g. `declarant/ACME`.
    async fn actor(&self) -> Option<&str> {
        self.0.metadata.actor.as_deref()
    }

    /// When the store committed the event (UTC).
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }

    /// The SHA-256 chain hash, in lowercase hex.
    async fn hash(&self) -> String {
        hex::encode(self.0.hash)
    }
}

pub(crate) fn to_int(value: impl Into<u64>, what: &str) -> Result<i32, ApiError> {
    let value = value.into();
    i32::try_from(value).map_err(|_| {
        ApiError::from(StoreError::Corrupt(format!(
            "{what} {value} does not fit in a GraphQL Int"
        )))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_sent_as_strings_and_read_from_strings_or_ints() {
        assert_eq!(
            Position(9_007_199_254_740_993).to_value(),
            Value::String("9007199254740993".into())
        );
        assert_eq!(Position::parse(Value::from(7)).unwrap(), Position(7));
        assert_eq!(
            Position::parse(Value::String("42".into())).unwrap(),
            Position(42)
        );
        assert!(Position::parse(Value::from(-1)).is_err());
        assert!(Position::parse(Value::String("9223372036854775808".into())).is_err());
    }

    #[test]
    fn limits_above_the_maximum_are_refused_not_clamped() {
        assert_eq!(check_limit(1000).unwrap(), 1000);
        assert_eq!(check_limit(1001).unwrap_err().code(), LIMIT_TOO_LARGE);
        assert_eq!(check_limit(-1).unwrap_err().code(), "INVALID_ARGUMENT");
    }
}
