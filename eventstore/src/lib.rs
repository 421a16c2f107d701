//! The event store: an append-only log of immutable events, the system of record of aduana.
//!
//! - `append(stream, expected, events)` is atomic per call, checks the expected version, and is
//!   idempotent by event id (a retry returns the first result).
//! - One global order (`$all` positions, dense, starting at 1); subscribers receive every
//!   committed event exactly once, in position order, also while many writers commit.
//! - Each stream is hash-chained; `verify_stream` / `verify_all` find any change made behind
//!   the store's back.
//! - Backends: SQLite (the embedded default) and PostgreSQL, with the same behaviour; the rules
//!   live once, in `plan`, and a backend only locks, reads and writes rows.
//!
//! Invariant: events are never updated or deleted, and nothing is acknowledged that is not
//! durable (a failed commit poisons the handle).

mod backend;
mod error;
mod hash;
mod model;
mod plan;
mod postgres;
mod sqlite;
mod store;
mod subscribe;
mod verify;
mod writer;

pub use error::StoreError;
pub use hash::{GENESIS, HashInput, chain_hash};
pub use model::{
    AppendResult, BrokenLink, Direction, EventMetadata, ExpectedVersion, Filter, Limits,
    MAX_ACTOR_LEN, MAX_EVENT_TYPE_LEN, MAX_STREAM_ID_LEN, NewEvent, RecordedEvent, StreamId,
    VerifyReport, validate_event_type,
};
pub use store::{EventStore, StoreOptions};
