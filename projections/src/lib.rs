//! Projections: read models built from the event log, each with a name, a version and a
//! checkpoint, kept in the same database as the events.
//!
//! Invariant: a read model is derived only from events (it can always be rebuilt from position
//! 0), and a projection's writes commit in the same transaction as its checkpoint, so every
//! event takes effect exactly once, whatever crashes. Queries read views; a rebuild fills new
//! tables behind them and switches in one transaction.
//!
//! | module | what it holds |
//! |---|---|
//! | `runner` | [`Runner`]: catch-up, live following, checkpoints, retries, rebuilds |
//! | [`generations`] | blue/green tables per generation, the views queries read, rebuild requests |
//! | `leader` | which process runs a projection (a PostgreSQL advisory lock per projection) |
//! | `read_models` | [`ReadModels`]: the pool on the event store's database, read-model migrations |
//! | [`declarations`] | the `declarations` read model: [`DeclarationsProjection`] and its queries |
//! | [`batches`] | the `batches` read model: [`BatchesProjection`] and its list |
//! | [`warehouse`] | the Customs Data Warehouse: [`WarehouseProjection`] and OLAP [`warehouse::Cube`] queries |
//! | [`analyses`] | the saved analyses of the warehouse: [`AnalysesProjection`] and their list |

pub mod analyses;
pub mod batches;
pub mod declarations;
pub mod generations;
mod leader;
mod read_models;
mod runner;
mod stored;
pub mod warehouse;

pub use analyses::AnalysesProjection;
pub use batches::BatchesProjection;
pub use declarations::DeclarationsProjection;
pub use generations::{Generation, GenerationState, RequestError, Tables, request_rebuild};
pub use read_models::{Backend, ReadModels};
pub use runner::{Projection, ProjectionError, Rebuild, Runner, State, Status};
pub use warehouse::WarehouseProjection;
