//! The GraphQL API, one file per area: the event log ([`log`]), declarations
//! ([`declarations`]: filing to clearance, history and past states), batches ([`batches`]),
//! reference data ([`reference`]), the Customs Data Warehouse and its saved analyses
//! ([`warehouse`]). Decimals travel as strings ([`scalars::Decimal`]).
//!
//! Errors carry `extensions.code` (see [`crate::error`]); a field that needs a principal answers
//! `UNAUTHENTICATED` without a bearer token.
//!
//! Limits: `limit` arguments are at most [`MAX_LIMIT`]. Each document is held to
//! [`MAX_SELECTIONS`] selections (fragments expanded, `__typename` included; see [`limits`]), a
//! depth of [`MAX_DEPTH`], a complexity of [`MAX_COMPLEXITY`] (a list field costs `limit` times
//! its selection), a nesting of [`MAX_RECURSIVE_DEPTH`] and [`MAX_DIRECTIVES`] directives per
//! field. The HTTP side (POST and JSON only, body size, batches) is in [`http`].

use async_graphql::{MergedObject, Schema};
use commands::analysis::AnalysisService;
use commands::batch::BatchService;
use commands::declaration::DeclarationService;
use eventstore::EventStore;
use projections::analyses::AnalysesQuery;
use projections::batches::BatchesQuery;
use projections::declarations::DeclarationsQuery;
use projections::warehouse::Cube;

use crate::auth::Role;
use crate::config::GraphqlSettings;
use crate::reference::Refresher;

pub mod batches;
pub mod declaration_list;
pub mod declarations;
pub mod graphiql;
pub mod http;
pub mod limits;
pub mod log;
pub mod projection_status;
pub mod reference;
pub mod scalars;
pub mod subscriptions;
pub mod warehouse;
pub mod ws;

pub use log::Position;

/// Who may read whole streams (`stream`), integrators only those of the categories granted to
/// them ([`crate::log_access`]). Not declarants: they read their own organisation's streams
/// through `events`, filtered by owner, or `declarationHistory`.
pub const LOG_READERS: &[Role] = &[Role::Officer, Role::Auditor, Role::Admin, Role::Integrator];

/// Most events one `stream` or `events` field returns.
pub const MAX_LIMIT: i32 = 1000;
/// Deepest query accepted. Our own types nest six levels (a mutation's declaration, its
/// assessment, an item, its duty rate, a field); GraphiQL's introspection query
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

pub type AduanaSchema = Schema<Query, Mutation, subscriptions::Subscription>;

/// Every field of the root query.
#[derive(Debug, Default, MergedObject)]
pub struct Query(
    log::LogQuery,
    declarations::DeclarationQuery,
    declaration_list::DeclarationListQuery,
    batches::BatchQuery,
    reference::ReferenceQuery,
    projection_status::ProjectionQuery,
    warehouse::WarehouseQuery,
);

/// Every field of the root mutation.
#[derive(Debug, Default, MergedObject)]
pub struct Mutation(
    declarations::DeclarationMutation,
    reference::ReferenceMutation,
    warehouse::WarehouseMutation,
);

/// The read-model queries the schema serves. A list whose query is missing answers `INTERNAL`.
/// `Some(DeclarationsQuery)` alone converts into it (the declarations list only).
#[derive(Debug, Clone, Default)]
pub struct ReadModelQueries {
    pub declarations: Option<DeclarationsQuery>,
    pub batches: Option<BatchesQuery>,
    /// The warehouse's cube (`cube`, analyses' results).
    pub warehouse: Option<Cube>,
    /// The list of saved analyses.
    pub analyses: Option<AnalysesQuery>,
    /// The projections' progress (`projections`); the server fills it when it starts them.
    pub statuses: projection_status::ProjectionStatuses,
}

impl ReadModelQueries {
    /// Every list, read from `models`.
    pub fn new(models: &projections::ReadModels) -> Self {
        Self {
            declarations: Some(DeclarationsQuery::new(models.clone())),
            batches: Some(BatchesQuery::new(models.clone())),
            warehouse: Some(Cube::new(models.clone())),
            analyses: Some(AnalysesQuery::new(models.clone())),
            statuses: projection_status::ProjectionStatuses::default(),
        }
    }
}

impl From<Option<DeclarationsQuery>> for ReadModelQueries {
    fn from(declarations: Option<DeclarationsQuery>) -> Self {
        Self {
            declarations,
            batches: None,
            warehouse: None,
            analyses: None,
            statuses: projection_status::ProjectionStatuses::default(),
        }
    }
}

/// Builds the schema, serving the given store, the declaration and batch services built on
/// it, the refresher of the declaration service's reference data, and the lists of
/// `read_models`.
/// With introspection off, `__schema` and `__type` answer null and error messages suggest no
/// field names.
pub fn schema(
    store: EventStore,
    declarations: DeclarationService,
    batches: BatchService,
    reference: Refresher,
    read_models: impl Into<ReadModelQueries>,
    settings: GraphqlSettings,
) -> AduanaSchema {
    let read_models = read_models.into();
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        subscriptions::Subscription,
    )
    .data(AnalysisService::new(store.clone()))
    .data(store)
    .data(declarations)
    .data(batches)
    .data(reference)
    .data(read_models.statuses.clone());
    if let Some(read_model) = read_models.declarations {
        builder = builder.data(read_model);
    }
    if let Some(read_model) = read_models.batches {
        builder = builder.data(read_model);
    }
    if let Some(cube) = read_models.warehouse {
        builder = builder.data(cube);
    }
    if let Some(read_model) = read_models.analyses {
        builder = builder.data(read_model);
    }
    let builder = builder
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
    Schema::build(
        Query::default(),
        Mutation::default(),
        subscriptions::Subscription,
    )
    .finish()
    .sdl()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// `docs/schema.graphql` is what integrators read: it must be the schema served.
    /// Regenerate with `cargo run -q --bin aduana -- schema > docs/schema.graphql`.
    #[test]
    fn the_published_schema_is_the_served_schema() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/schema.graphql");
        let published = std::fs::read_to_string(path).expect("docs/schema.graphql");
        assert_eq!(
            published.trim_end(),
            sdl().trim_end(),
            "docs/schema.graphql is stale: run `cargo run -q --bin aduana -- schema > docs/schema.graphql`"
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
}
