//! Application services: authorise a caller, load a stream, let the domain decide, append with
//! the expected version, retry on conflict.
//!
//! Invariant: commands change state only by appending events through `eventstore`; they never
//! write read models. The first command handlers arrive with issue 3.
