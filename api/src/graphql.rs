//! The GraphQL read API over the event store: server info, one stream, and the global log.
//!
//! Numbers: GraphQL's `Int` is a signed 32-bit integer. Global positions grow with every event
//! the system ever records and may pass 2^31 - 1, so they are a [`Position`] scalar, sent as a
//! string of decimal digits (safe in every client, JavaScript included). Stream versions and
//! schema versions count the events of one stream and the revisions of one event type; they stay
//! `Int`, and a value that does not fit is reported as an error instead of being truncated.
//!
//! Limits: `limit` arguments are at most [`MAX_LIMIT`]; a larger one is refused with code
//! `LIMIT_TOO_LARGE` (not clamped, so a client never mistakes a short page for the end of the
//! data). Each document is held to [`MAX_SELECTIONS`] selections (fragments expanded,
//! `__typename` included; see [`limits`]), a depth of [`MAX_DEPTH`], a complexity of
//! [`MAX_COMPLEXITY`] (a list field costs `limit` times its selection), a nesting of
//! [`MAX_RECURSIVE_DEPTH`] and [`MAX_DIRECTIVES`] directives per field. The HTTP side (POST
//! and JSON only, body size, batches) is in [`http`].

use async_graphql::{
    Context, EmptyMutation, EmptySubscription, Enum, InputValueError, InputValueResult, Json,
    Object, Scalar, ScalarType, Schema, Value,
};
use chrono::{DateTime, Utc};
use eventstore::{EventStore, Filter, RecordedEvent, StoreError, StreamId};
use futures::TryStreamExt;
use uuid::Uuid;

use crate::auth::{RequireRole, Role};
use crate::config::GraphqlSettings;
use crate::error::{ApiError, LIMIT_TOO_LARGE};

pub mod graphiql;
pub mod http;
pub mod limits;

/// Who may read the raw event log (`stream`, `events`). Not declarants: the log holds every
/// organisation's events, and it is not filtered by organisation (yet).
pub const LOG_READERS: &[Role] = &[Role::Officer, Role::Auditor, Role::Admin, Role::Integrator];

/// Most events one `stream` or `events` field returns.
pub const MAX_LIMIT: i32 = 1000;
/// Deepest query accepted. Our own types nest three levels; GraphiQL's introspection query
/// nests about thirteen (`__schema { types { fields { type { ofType { ... } } } } }`).
pub const MAX_DEPTH: usize = 16;
/// Highest query complexity accepted: one full page of [`MAX_LIMIT`] events with every field
/// (about 13,000), with room for a few small fields beside it.
pub const MAX_COMPLEXITY: usize = 15_000;
/// Most selections in one document, counted with fragments expanded and `__typename`
/// included. GraphiQL's introspection query expands to about 200.
pub const MAX_SELECTIONS: usize = 1_000;
/// Deepest nesting of selection sets and fragments the parser and the checks before validation
/// accept (async-graphql's default; [`MAX_DEPTH`] is the tighter limit on fields).
pub const MAX_RECURSIVE_DEPTH: usize = 32;
/// Most directives on one field.
pub const MAX_DIRECTIVES: usize = 4;

pub type AduanaSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// Builds the schema, serving the given store. With introspection off, `__schema` and `__type`
/// answer null and error messages suggest no field names.
pub fn schema(store: EventStore, settings: GraphqlSettings) -> AduanaSchema {
    let builder = Schema::build(Query, EmptyMutation, EmptySubscription)
        .data(store)
        .extension(limits::DocumentLimits {
            max_selections: MAX_SELECTIONS,
        })
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(MAX_RECURSIVE_DEPTH)
        .limit_directives(MAX_DIRECTIVES);
    if settings.introspection {
        builder.finish()
    } else {
        builder
            .disable_introspection()
            .disable_suggestions()
            .finish()
    }
}

/// The schema in GraphQL SDL (no store needed).
pub fn sdl() -> String {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .finish()
        .sdl()
}

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

#[derive(Debug)]
pub struct Query;

#[Object]
impl Query {
    /// What this server runs and how far the log goes. Public.
    async fn server_info(&self) -> ServerInfo {
        ServerInfo
    }

    /// The events of one stream, in version order (or reverse order with `BACKWARD`).
    /// Officers, auditors, admins and integrators only.
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
    /// Officers, auditors, admins and integrators only.
    #[graphql(
        complexity = "page_cost(limit, child_complexity)",
        guard = "RequireRole(LOG_READERS)"
    )]
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
        let store = ctx.data::<EventStore>()?;
        let limit = check_limit(limit)?;
        let filter = Filter::categories(categories.unwrap_or_default())
            .with_event_types(types.unwrap_or_default());
        // Every position up to this head is committed; a short page has looked at all of them.
        let head = store.head();
        let events: Vec<RecordedEvent> = store
            .read_all(after.0, filter, limit)
            .try_collect()
            .await
            .map_err(ApiError::from)?;
        let last = events.last().map_or(after.0, |e| e.position);
        let next_after = if events.len() < limit {
            last.max(head)
        } else {
            last
        };
        Ok(EventPage {
            events: events.into_iter().map(Event).collect(),
            next_after: Position(next_after),
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

    /// Pass as `after` to read on: the last position this page covered.
    async fn next_after(&self) -> Position {
        self.next_after
    }
}

/// An event as stored, with everything needed to check its hash chain.
#[derive(Debug)]
pub struct Event(RecordedEvent);

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

fn to_int(value: impl Into<u64>, what: &str) -> Result<i32, ApiError> {
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

    /// `docs/schema.graphql` is what integrators read: it must be the schema served.
    /// Regenerate with `cargo run -q -- schema > docs/schema.graphql`.
    #[test]
    fn the_published_schema_is_the_served_schema() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/schema.graphql");
        let published = std::fs::read_to_string(path).expect("docs/schema.graphql");
        assert_eq!(
            published.trim_end(),
            sdl().trim_end(),
            "docs/schema.graphql is stale: run `cargo run -q -- schema > docs/schema.graphql`"
        );
    }

    #[test]
    fn the_sdl_names_every_query_field() {
        let sdl = sdl();
        for field in [
            "serverInfo: ServerInfo!",
            "stream(",
            "id: String!",
            "fromVersion: Int",
            "direction: Direction! = FORWARD",
            "limit: Int! = 100",
            "): [RecordedEvent!]!",
            "events(",
            "after: Position! = \"0\"",
            "categories: [String!]",
            "types: [String!]",
            "): EventPage!",
            "nextAfter: Position!",
            "scalar Position",
            "type RecordedEvent",
            "hash: String!",
        ] {
            assert!(sdl.contains(field), "{field:?} missing from:\n{sdl}");
        }
    }

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
