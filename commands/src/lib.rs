//! Application services: authorise a caller, load a stream, let the domain decide, append with
//! the expected version, retry on conflict.
//!
//! Invariant: commands change state only by appending events through `eventstore`; they never
//! write read models, and they hand the domain everything it needs (time, ids, reference data)
//! so the domain stays pure.

pub mod analysis;
pub mod batch;
pub mod declaration;
pub mod owner;
pub mod reference;
