//! `projections`: what each read model's projection is doing, for admins.

use std::sync::{Arc, RwLock};

use async_graphql::{Context, Enum, Object, SimpleObject};
use eventstore::EventStore;
use projections::{State, Status};
use tokio::sync::watch;

use super::log::Position;
use crate::auth::{RequireRole, Role};
use crate::error::ApiError;

/// The projections this process runs, as their runners publish them. Empty until `serve`
/// starts them ([`crate::AppState::with_projections`]).
#[derive(Debug, Clone, Default)]
pub struct ProjectionStatuses(Arc<RwLock<Vec<watch::Receiver<Status>>>>);

impl ProjectionStatuses {
    /// Follows these runners from now on.
    pub fn set(&self, runners: Vec<watch::Receiver<Status>>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = runners;
    }

    /// Each projection's status now, in the order the runners were given.
    pub fn snapshot(&self) -> Vec<Status> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|runner| runner.borrow().clone())
            .collect()
    }
}

/// What a projection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ProjectionState {
    /// Another process runs this projection; this one takes over if that process dies.
    Standby,
    /// Preparing its serving generation and reading its checkpoint.
    Starting,
    /// Applying the events committed before it started.
    CatchingUp,
    /// Following new events as they commit.
    Live,
    /// Building a newer version into a new generation while the serving one, of an older
    /// version, answers queries as it stands.
    Rebuilding,
    /// Stopped on an event it could not apply; retrying from its checkpoint with back-off.
    Failed,
}

/// One projection: where it is in the log and how far behind.
#[derive(Debug, SimpleObject)]
pub struct ProjectionStatus {
    pub name: String,
    /// This process's version of the read model; a new version rebuilds it from position 0
    /// into a new generation.
    pub version: i32,
    /// The generation queries read (its tables are `<table>_g<generation>`).
    pub generation: i64,
    /// The last position applied to the serving generation (its checkpoint).
    pub position: Position,
    /// Positions still to apply: the log's head minus `position`.
    pub lag: Position,
    pub state: ProjectionState,
    /// Why it stopped, while `FAILED`.
    pub error: Option<String>,
    /// The position of the event it stopped on, while `FAILED`.
    pub failed_at: Option<Position>,
    /// A rebuild this process is running, while there is one.
    pub rebuild: Option<ProjectionRebuild>,
}

/// A new generation being built from position 0 while the serving one answers queries.
#[derive(Debug, SimpleObject)]
pub struct ProjectionRebuild {
    pub generation: i64,
    pub version: i32,
    /// The last position applied to the new generation.
    pub position: Position,
    /// Positions it still has to apply before it can take over.
    pub lag: Position,
}

/// The projection fields of the root query.
#[derive(Debug, Default)]
pub struct ProjectionQuery;

#[Object]
impl ProjectionQuery {
    /// The projections this server process runs (admins).
    #[graphql(guard = "RequireRole(&[Role::Admin])")]
    async fn projections(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ProjectionStatus>> {
        let store = ctx.data::<EventStore>()?;
        let head = store.head_position().await.map_err(ApiError::from)?;
        let statuses = ctx.data::<ProjectionStatuses>()?.snapshot();
        Ok(statuses
            .into_iter()
            .map(|status| view(status, head))
            .collect())
    }
}

fn view(status: Status, head: u64) -> ProjectionStatus {
    let (state, error, failed_at) = match status.state {
        State::Standby => (ProjectionState::Standby, None, None),
        State::Starting => (ProjectionState::Starting, None, None),
        State::CatchingUp => (ProjectionState::CatchingUp, None, None),
        State::Live => (ProjectionState::Live, None, None),
        State::Rebuilding => (ProjectionState::Rebuilding, None, None),
        State::Failed { position, error } => (
            ProjectionState::Failed,
            Some(error),
            Some(Position(position)),
        ),
    };
    let version = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    let generation = |g: u64| i64::try_from(g).unwrap_or(i64::MAX);
    ProjectionStatus {
        name: status.name.to_owned(),
        version: version(status.version),
        generation: generation(status.generation),
        position: Position(status.position),
        lag: Position(head.saturating_sub(status.position)),
        state,
        error,
        failed_at,
        rebuild: status.rebuild.map(|rebuild| ProjectionRebuild {
            generation: generation(rebuild.generation),
            version: version(rebuild.version),
            position: Position(rebuild.position),
            lag: Position(head.saturating_sub(rebuild.position)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_projection_shows_where_and_why() {
        let status = Status {
            name: "declarations",
            version: 2,
            generation: 3,
            position: 40,
            rebuild: None,
            state: State::Failed {
                position: 41,
                error: "bad payload".to_owned(),
            },
        };
        let shown = view(status, 50);
        assert_eq!(shown.state, ProjectionState::Failed);
        assert_eq!(shown.lag, Position(10));
        assert_eq!(shown.failed_at, Some(Position(41)));
        assert_eq!(shown.error.as_deref(), Some("bad payload"));
    }
}
