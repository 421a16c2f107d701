//! Saved analyses of the Customs Data Warehouse: a named cube query that analysts re-run.
//!
//! One stream per name (`analysis-<uuid>`, the uuid derived from the name, so two saves of one
//! name meet on one stream and a retransmission finds what it already wrote). The query itself
//! is kept as the JSON document the warehouse reads (`projections::warehouse::CubeQuery`); the
//! API checks it against the warehouse before saving, the domain only bounds its size.
//!
//! Rules: a name is 1 to [`MAX_NAME`] printable characters (compared without case or
//! surrounding space); a description at most [`MAX_DESCRIPTION`]; a query at most
//! [`MAX_QUERY_BYTES`] of JSON. Whoever saved an analysis first owns it: only the owner or an
//! admin replaces or deletes it. Saving what is already saved writes nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::domain_event;

/// The longest name, in characters.
pub const MAX_NAME: usize = 100;
/// The longest description, in characters.
pub const MAX_DESCRIPTION: usize = 1000;
/// The largest query document, in bytes of JSON.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;

/// Namespace of analysis ids: `Uuid::new_v5(NAMESPACE, normalised name)`.
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1d_2a40_93be_4c5e_8a57_1b0c_d4e2_7f93);

/// A name as analyses are told apart: trimmed, compared in lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisName(String);

impl AnalysisName {
    pub fn parse(text: &str) -> Result<Self, AnalysisError> {
        let name = text.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control)
        {
            return Err(AnalysisError::InvalidName);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of the analysis of this name, the same for every spelling that differs only in
    /// case.
    pub fn id(&self) -> Uuid {
        Uuid::new_v5(&NAMESPACE, self.0.to_lowercase().as_bytes())
    }
}

/// An analysis was saved, or saved again with a new query or description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisSaved {
    pub analysis_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// The cube query, as the warehouse reads it.
    pub query: serde_json::Value,
    /// The actor who owns it (the first to save it, or to save it again after a deletion).
    pub owner: String,
    pub at: DateTime<Utc>,
}

/// An analysis was deleted; its name is free again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisDeleted {
    pub analysis_id: Uuid,
    pub at: DateTime<Utc>,
}

/// The events of an analysis's stream (`analysis-<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnalysisEvent {
    AnalysisSaved(AnalysisSaved),
    AnalysisDeleted(AnalysisDeleted),
}

domain_event!(AnalysisEvent {
    AnalysisSaved(AnalysisSaved) = "AnalysisSaved",
    AnalysisDeleted(AnalysisDeleted) = "AnalysisDeleted",
});

/// An analysis as its events tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub query: serde_json::Value,
    pub owner: String,
    /// When it was last saved.
    pub saved_at: DateTime<Utc>,
    /// How many times it has been saved with a change (1 for a new analysis).
    pub revision: u32,
}

/// The state of one stream: nothing yet, a live analysis, or a deleted one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AnalysisState {
    #[default]
    Absent,
    Saved(Analysis),
    Deleted,
}

impl AnalysisState {
    pub fn evolve(self, event: &AnalysisEvent) -> Self {
        match event {
            AnalysisEvent::AnalysisSaved(e) => {
                let revision = match &self {
                    Self::Saved(a) => a.revision.saturating_add(1),
                    Self::Absent | Self::Deleted => 1,
                };
                Self::Saved(Analysis {
                    id: e.analysis_id,
                    name: e.name.clone(),
                    description: e.description.clone(),
                    query: e.query.clone(),
                    owner: e.owner.clone(),
                    saved_at: e.at,
                    revision,
                })
            }
            AnalysisEvent::AnalysisDeleted(_) => Self::Deleted,
        }
    }

    pub fn live(&self) -> Option<&Analysis> {
        match self {
            Self::Saved(a) => Some(a),
            Self::Absent | Self::Deleted => None,
        }
    }
}

/// Who asks: its actor string, and whether it is an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Editor<'a> {
    pub actor: &'a str,
    pub admin: bool,
}

impl Editor<'_> {
    fn may_change(&self, analysis: &Analysis) -> bool {
        self.admin || analysis.owner == self.actor
    }
}

/// Save `query` under `name`: a new analysis, a new revision of the caller's own, or nothing
/// when it is saved exactly so already.
pub fn save(
    state: &AnalysisState,
    editor: &Editor<'_>,
    name: &AnalysisName,
    description: Option<&str>,
    query: serde_json::Value,
    at: DateTime<Utc>,
) -> Result<Vec<AnalysisEvent>, AnalysisError> {
    let description = description.map(str::trim).filter(|d| !d.is_empty());
    if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        return Err(AnalysisError::DescriptionTooLong);
    }
    let size = serde_json::to_vec(&query).map_or(usize::MAX, |bytes| bytes.len());
    if size > MAX_QUERY_BYTES {
        return Err(AnalysisError::QueryTooLarge(size));
    }
    let owner = match state.live() {
        Some(current) if !editor.may_change(current) => {
            return Err(AnalysisError::NotOwner {
                owner: current.owner.clone(),
            });
        }
        Some(current)
            if current.name == name.as_str()
                && current.description.as_deref() == description
                && current.query == query =>
        {
            return Ok(Vec::new());
        }
        Some(current) => current.owner.clone(),
        None => editor.actor.to_owned(),
    };
    Ok(vec![AnalysisEvent::AnalysisSaved(AnalysisSaved {
        analysis_id: name.id(),
        name: name.as_str().to_owned(),
        description: description.map(str::to_owned),
        query,
        owner,
        at,
    })])
}

/// Delete the analysis of `name`.
pub fn delete(
    state: &AnalysisState,
    editor: &Editor<'_>,
    name: &AnalysisName,
    at: DateTime<Utc>,
) -> Result<Vec<AnalysisEvent>, AnalysisError> {
    let current = state.live().ok_or(AnalysisError::NotFound)?;
    if !editor.may_change(current) {
        return Err(AnalysisError::NotOwner {
            owner: current.owner.clone(),
        });
    }
    Ok(vec![AnalysisEvent::AnalysisDeleted(AnalysisDeleted {
        analysis_id: name.id(),
        at,
    })])
}

/// Why an analysis is not saved or deleted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalysisError {
    #[error("a name is 1 to {MAX_NAME} printable characters")]
    InvalidName,
    #[error("a description is at most {MAX_DESCRIPTION} characters")]
    DescriptionTooLong,
    #[error("the query is {0} bytes of JSON; at most {MAX_QUERY_BYTES}")]
    QueryTooLarge(usize),
    #[error("no analysis has this name")]
    NotFound,
    #[error("this analysis belongs to {owner}: only its owner or an admin changes it")]
    NotOwner { owner: String },
}

impl AnalysisError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidName => "INVALID_NAME",
            Self::DescriptionTooLong => "DESCRIPTION_TOO_LONG",
            Self::QueryTooLarge(_) => "QUERY_TOO_LARGE",
            Self::NotFound => "NOT_FOUND",
            Self::NotOwner { .. } => "FORBIDDEN",
        }
    }

    /// The input field it concerns.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::InvalidName | Self::NotFound => Some("name"),
            Self::DescriptionTooLong => Some("description"),
            Self::QueryTooLarge(_) => Some("query"),
            Self::NotOwner { .. } => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::DomainEvent;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 9, minute, 0).unwrap()
    }

    fn alice() -> Editor<'static> {
        Editor {
            actor: "analyst/alice",
            admin: false,
        }
    }

    fn saved(state: AnalysisState, events: &[AnalysisEvent]) -> AnalysisState {
        events.iter().fold(state, AnalysisState::evolve)
    }

    #[test]
    fn names_are_trimmed_bounded_and_one_id_whatever_the_case() {
        let name = AnalysisName::parse("  Imports by month ").unwrap();
        assert_eq!(name.as_str(), "Imports by month");
        assert_eq!(
            name.id(),
            AnalysisName::parse("IMPORTS BY MONTH").unwrap().id()
        );
        assert_ne!(
            name.id(),
            AnalysisName::parse("Imports by week").unwrap().id()
        );
        for bad in ["", "   ", "a\nb", &"x".repeat(MAX_NAME + 1)] {
            assert_eq!(AnalysisName::parse(bad), Err(AnalysisError::InvalidName));
        }
        assert!(AnalysisName::parse(&"é".repeat(MAX_NAME)).is_ok());
    }

    #[test]
    fn a_save_creates_then_revises_and_the_same_save_again_writes_nothing() {
        let name = AnalysisName::parse("Top origins").unwrap();
        let query = json!({"measures": ["customsValue"]});
        let events = save(
            &AnalysisState::Absent,
            &alice(),
            &name,
            Some(" by value "),
            query.clone(),
            at(0),
        )
        .unwrap();
        let state = saved(AnalysisState::Absent, &events);
        let analysis = state.live().unwrap();
        assert_eq!(analysis.owner, "analyst/alice");
        assert_eq!(analysis.description.as_deref(), Some("by value"));
        assert_eq!(analysis.revision, 1);

        let again = save(&state, &alice(), &name, Some("by value"), query, at(1)).unwrap();
        assert!(again.is_empty(), "a retransmission changes nothing");

        let changed = json!({"measures": ["duty"]});
        let events = save(&state, &alice(), &name, None, changed.clone(), at(2)).unwrap();
        let state = saved(state, &events);
        let analysis = state.live().unwrap();
        assert_eq!((analysis.revision, &analysis.query), (2, &changed));
        assert_eq!(analysis.description, None);
        assert_eq!(analysis.saved_at, at(2));
    }

    #[test]
    fn only_the_owner_or_an_admin_changes_or_deletes() {
        let name = AnalysisName::parse("Lane mix").unwrap();
        let events = save(
            &AnalysisState::Absent,
            &alice(),
            &name,
            None,
            json!({}),
            at(0),
        )
        .unwrap();
        let state = saved(AnalysisState::Absent, &events);
        let bob = Editor {
            actor: "officer/bob",
            admin: false,
        };
        let refused = save(&state, &bob, &name, None, json!({"a": 1}), at(1)).unwrap_err();
        assert_eq!(refused.code(), "FORBIDDEN");
        assert_eq!(delete(&state, &bob, &name, at(1)).unwrap_err(), refused);

        let admin = Editor {
            actor: "admin/root",
            admin: true,
        };
        let events = save(&state, &admin, &name, None, json!({"a": 1}), at(2)).unwrap();
        let state = saved(state, &events);
        assert_eq!(
            state.live().unwrap().owner,
            "analyst/alice",
            "an admin's edit keeps the owner"
        );
        let events = delete(&state, &admin, &name, at(3)).unwrap();
        let state = saved(state, &events);
        assert_eq!(state, AnalysisState::Deleted);
        assert_eq!(
            delete(&state, &admin, &name, at(4)),
            Err(AnalysisError::NotFound)
        );

        // After a deletion the name is anyone's.
        let events = save(&state, &bob, &name, None, json!({}), at(5)).unwrap();
        let state = saved(state, &events);
        assert_eq!(state.live().unwrap().owner, "officer/bob");
        assert_eq!(state.live().unwrap().revision, 1);
    }

    #[test]
    fn oversized_descriptions_and_queries_are_refused_with_their_field() {
        let name = AnalysisName::parse("Big").unwrap();
        let long = "d".repeat(MAX_DESCRIPTION + 1);
        let error = save(
            &AnalysisState::Absent,
            &alice(),
            &name,
            Some(&long),
            json!({}),
            at(0),
        )
        .unwrap_err();
        assert_eq!(
            (error.code(), error.field()),
            ("DESCRIPTION_TOO_LONG", Some("description"))
        );
        let query = json!({"measures": ["x".repeat(MAX_QUERY_BYTES)]});
        let error = save(&AnalysisState::Absent, &alice(), &name, None, query, at(0)).unwrap_err();
        assert_eq!(
            (error.code(), error.field()),
            ("QUERY_TOO_LARGE", Some("query"))
        );
    }

    #[test]
    fn events_round_trip_through_their_payloads() {
        let event = AnalysisEvent::AnalysisSaved(AnalysisSaved {
            analysis_id: AnalysisName::parse("x").unwrap().id(),
            name: "x".into(),
            description: None,
            query: json!({"measures": ["items"]}),
            owner: "analyst/alice".into(),
            at: at(0),
        });
        let payload = event.payload().unwrap().to_string();
        let back = AnalysisEvent::decode(event.event_type(), event.schema_version(), &payload);
        assert_eq!(back.unwrap(), event);
    }
}
