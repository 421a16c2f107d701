//! Projections: read models built from the event log, each with a name, a version and a
//! checkpoint.
//!
//! Invariant: a read model is derived only from events (it can always be rebuilt from position
//! 0), and its writes commit together with its checkpoint. The runner arrives with issue 6.
