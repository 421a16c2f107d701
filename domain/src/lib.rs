//! The customs domain: types, events, decisions and calculations.
//!
//! Invariant: the domain does no IO, is not async and never reads the clock or a random source.
//! Time, ids, reference data (tariff lines, exchange rates, unit codes), risk rule sets and
//! random seeds arrive in the command; an aggregate is
//! `decide(&State, Command) -> Result<Vec<Event>, DomainError>` and `evolve(State, &Event) -> State`.
//! (Enforced twice: the crate's own `chrono`/`uuid` features leave out the clock and v4 ids, and
//! `clippy.toml` disallows `Utc::now`, `Uuid::new_v4` and friends where workspace features unify.)
//! Codes are newtypes parsed once; money and quantities are [`Decimal`] with the rounding rules
//! written where they apply, never `f64`.
//!
//! | module | what it holds |
//! |---|---|
//! | [`codes`] | HS codes, countries (ISO 3166-1), currencies (ISO 4217), units, LRN, party and office ids, Incoterms, transport modes |
//! | [`money`] | strict decimal parsing, [`money::Rounding`] rules, [`money::Percent`] |
//! | [`reference`](mod@reference) | tariff lines, exchange rates, unit list and their events; the [`reference::ReferenceSnapshot`] in force |
//! | [`duty`] | customs value, duty and VAT assessment; [`duty::AssessmentPolicy`] (Korean truncation or half-up) |
//! | [`risk`] | versioned risk rule sets, lanes, seeded random inspection |
//! | [`analysis`] | saved analyses of the warehouse: a named cube query, its owner, its events |
//! | [`batch`] | batch transmissions: their events, item results and status |
//! | [`declaration`] | the Declaration aggregate: raw filing, validation, commands, events, state, `decide`/`evolve` |
//! | [`event`] | [`DomainEvent`]: stable type strings, schema versions, payloads, decoding |

pub mod analysis;
pub mod batch;
pub mod codes;
pub mod declaration;
pub mod duty;
pub mod event;
pub mod money;
pub mod reference;
pub mod risk;

pub use event::{DecodeError, DomainEvent};
pub use rust_decimal::Decimal;
