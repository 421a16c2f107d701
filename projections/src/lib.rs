//! Projections: read models built from the event log, each with a name, a version and a
//! checkpoint, kept in the same database as the events.
//!
//! Invariant: a read model is derived only from events (it can always be rebuilt from position
//! 0), and a projection's writes commit in the same transaction as its checkpoint, so every
//! event takes effect exactly once, whatever crashes.

mod read_models;
mod runner;

pub use read_models::{Backend, ReadModels};
pub use runner::{Projection, ProjectionError, Runner, State, Status};
