//! The customs domain: types, events, decisions and calculations.
//!
//! Invariant: the domain does no IO, is not async and never reads the clock or a random source.
//! Time, ids and reference data (tariff lines, exchange rates, rule sets) arrive in the command;
//! an aggregate is `decide(&State, Command) -> Result<Vec<Event>, DomainError>` and
//! `evolve(State, &Event) -> State`. The declaration, reference-data and risk aggregates arrive
//! with issue 3.
