//! The edge of aduana: the HTTP server with its GraphQL API, who may call it (bearer tokens and
//! API keys), and the `aduana` command line (serve, token, apikey, reference, verify, bench,
//! schema).
//!
//! Invariant: api holds no business rules and no SQL. It translates requests into calls on the
//! lower crates, and their errors into stable codes; internal details go to the logs, never to
//! the caller, and database passwords are never printed.

pub mod auth;
pub mod batch_client;
pub mod batches;
pub mod bench;
pub mod bench_batch;
pub mod bench_subscribers;
pub mod bench_warehouse;
pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod events_feed;
pub mod graphql;
pub mod loadgen;
pub mod log_access;
pub mod metrics;
pub mod origin;
pub mod portal;
pub mod reference;
pub mod server;
pub mod telemetry;
pub mod verify;

pub use cli::Cli;
pub use config::StoreArgs;
pub use server::{App, AppState, router};
