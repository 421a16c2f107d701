//! Given/when/then specification of the Declaration aggregate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod amendment;
mod filing;
pub(crate) mod fixtures;
mod lifecycle;
mod validation;

use super::{Declaration, DeclarationCommand, DeclarationError, DeclarationEvent, decide, fold};
use crate::event::DomainEvent;

/// The history a command meets.
pub(crate) struct Given {
    history: Vec<DeclarationEvent>,
}

/// A command's outcome, with the history it met.
pub(crate) struct When {
    history: Vec<DeclarationEvent>,
    result: Result<Vec<DeclarationEvent>, DeclarationError>,
}

pub(crate) fn given(history: impl IntoIterator<Item = DeclarationEvent>) -> Given {
    Given {
        history: history.into_iter().collect(),
    }
}

impl Given {
    pub(crate) fn when(self, command: DeclarationCommand) -> When {
        let state = fold(&self.history);
        let result = decide(&state, command);
        When {
            history: self.history,
            result,
        }
    }
}

impl When {
    /// Asserts exactly these events and returns the state after them.
    pub(crate) fn then(self, expected: impl IntoIterator<Item = DeclarationEvent>) -> Declaration {
        let expected: Vec<_> = expected.into_iter().collect();
        let state_after = self.state_after();
        assert_eq!(self.result.as_ref().unwrap(), &expected);
        state_after
    }

    /// Asserts the event types and returns the events.
    pub(crate) fn then_types(self, types: &[&str]) -> (Vec<DeclarationEvent>, Declaration) {
        let state_after = self.state_after();
        let events = self.result.unwrap();
        let actual: Vec<&str> = events.iter().map(DomainEvent::event_type).collect();
        assert_eq!(actual, types);
        (events, state_after)
    }

    /// Asserts a refusal with this code and returns it.
    pub(crate) fn then_err(self, code: &str) -> DeclarationError {
        match self.result {
            Ok(events) => panic!(
                "expected {code}, got events {:?}",
                events
                    .iter()
                    .map(DomainEvent::event_type)
                    .collect::<Vec<_>>()
            ),
            Err(e) => {
                assert_eq!(e.code(), code, "{e}");
                e
            }
        }
    }

    fn state_after(&self) -> Declaration {
        let produced = self.result.as_ref().map(Vec::as_slice).unwrap_or_default();
        fold(self.history.iter().chain(produced))
    }
}
