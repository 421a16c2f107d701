//! Saved analyses of the warehouse: save, delete and read one by name (see
//! [`domain::analysis`] for the rules).
//!
//! One stream per name, `analysis-<uuid>`, so reading one analysis is reading one short
//! stream: a save is visible to `get` at once. The list of every analysis is the `analyses`
//! read model (`projections::analyses`). Who may use analyses at all is the API's decision
//! (the warehouse's readers); here only ownership is checked.

use chrono::Utc;
use domain::DomainEvent;
use domain::analysis::{
    self, Analysis, AnalysisError, AnalysisEvent, AnalysisName, AnalysisState, Editor,
};
use eventstore::{
    Direction, EventMetadata, EventStore, ExpectedVersion, NewEvent, StoreError, StreamId,
};
use futures::TryStreamExt;
use uuid::Uuid;

use crate::declaration::{Caller, Role};

/// The stream category of analyses.
pub const CATEGORY: &str = "analysis";

/// The stream of the analysis `id`.
pub fn stream(id: Uuid) -> StreamId {
    // `analysis-` followed by a UUID is always a valid stream id.
    StreamId::parse(format!("{CATEGORY}-{id}")).unwrap_or_else(|e| unreachable!("{e}"))
}

/// Why an analysis command failed.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisCommandError {
    #[error(transparent)]
    Rejected(#[from] AnalysisError),
    /// Another save of the same name won the race; the caller may retry.
    #[error("the analysis changed while this was saved; retry")]
    Conflict,
    #[error(transparent)]
    Store(StoreError),
    #[error("stored analysis event unreadable: {0}")]
    Corrupt(String),
}

impl From<StoreError> for AnalysisCommandError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::WrongExpectedVersion { .. } => Self::Conflict,
            other => Self::Store(other),
        }
    }
}

/// Saves, deletes and reads analyses.
#[derive(Debug, Clone)]
pub struct AnalysisService {
    store: EventStore,
}

impl AnalysisService {
    pub fn new(store: EventStore) -> Self {
        Self { store }
    }

    /// The analysis named `name`, if there is one.
    pub async fn get(&self, name: &str) -> Result<Option<Analysis>, AnalysisCommandError> {
        let name = AnalysisName::parse(name)?;
        let (state, _) = self.load(name.id()).await?;
        Ok(state.live().cloned())
    }

    /// Saves `query` under `name` and answers the analysis as saved. Saving exactly what is
    /// saved already writes nothing (a retransmission), and answers it.
    pub async fn save(
        &self,
        caller: &Caller,
        name: &str,
        description: Option<&str>,
        query: serde_json::Value,
    ) -> Result<Analysis, AnalysisCommandError> {
        let name = AnalysisName::parse(name)?;
        let (state, version) = self.load(name.id()).await?;
        let events = analysis::save(
            &state,
            &editor(caller),
            &name,
            description,
            query,
            Utc::now(),
        )?;
        let state = self
            .append(caller, name.id(), state, version, events)
            .await?;
        state
            .live()
            .cloned()
            .ok_or_else(|| AnalysisCommandError::Corrupt("a save left no analysis".into()))
    }

    /// Deletes the analysis named `name`.
    pub async fn delete(&self, caller: &Caller, name: &str) -> Result<(), AnalysisCommandError> {
        let name = AnalysisName::parse(name)?;
        let (state, version) = self.load(name.id()).await?;
        let events = analysis::delete(&state, &editor(caller), &name, Utc::now())?;
        self.append(caller, name.id(), state, version, events)
            .await?;
        Ok(())
    }

    async fn load(&self, id: Uuid) -> Result<(AnalysisState, u64), AnalysisCommandError> {
        let events: Vec<_> = self
            .store
            .read_stream(&stream(id), Direction::Forward, None, usize::MAX)
            .try_collect()
            .await?;
        let mut state = AnalysisState::Absent;
        let mut version = 0;
        for event in &events {
            let decoded =
                AnalysisEvent::decode(&event.event_type, event.schema_version, &event.payload)
                    .map_err(|e| AnalysisCommandError::Corrupt(e.to_string()))?;
            state = state.evolve(&decoded);
            version = event.stream_version;
        }
        Ok((state, version))
    }

    async fn append(
        &self,
        caller: &Caller,
        id: Uuid,
        mut state: AnalysisState,
        version: u64,
        events: Vec<AnalysisEvent>,
    ) -> Result<AnalysisState, AnalysisCommandError> {
        if events.is_empty() {
            return Ok(state);
        }
        let metadata = EventMetadata {
            correlation_id: Some(id),
            causation_id: None,
            actor: Some(caller.actor.to_string()),
        };
        let mut new = Vec::with_capacity(events.len());
        for event in &events {
            let payload = event
                .payload()
                .map_err(|e| AnalysisCommandError::Corrupt(e.to_string()))?;
            new.push(
                NewEvent::new(event.event_type(), payload)
                    .with_schema_version(event.schema_version())
                    .with_metadata(metadata.clone()),
            );
            state = state.evolve(event);
        }
        let expected = match version {
            0 => ExpectedVersion::NoStream,
            v => ExpectedVersion::Exact(v),
        };
        self.store.append(&stream(id), expected, new).await?;
        Ok(state)
    }
}

fn editor(caller: &Caller) -> Editor<'_> {
    Editor {
        actor: caller.actor.as_str(),
        admin: caller.role == Role::Admin,
    }
}
