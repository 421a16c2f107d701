//! Whose a stream is: the organisation that owns a declaration or a batch, so that a declarant
//! reading the raw log sees its own organisation's streams and nothing else.
//!
//! The owner is read from the stream's first event, because it is fixed when the stream is
//! created and never changes afterwards:
//!
//! - a declaration's stream id is derived from its declarant and LRN
//!   (`domain::declaration::declaration_id`), so every filing in it names the same declarant, and
//!   an amendment may not change it (`IdentityChanged`). Its first event is `DeclarationFiled`
//!   (the declarant of its data) or `DeclarationRejected` (the declarant of the filing as sent,
//!   trimmed): the same declarant [`crate::declaration::DeclarationService`] authorises reads
//!   with.
//! - a batch's first event is `BatchReceived`, whose `organisation` is the one it files for
//!   (none for an admin's historical load), as `commands::batch::may_read` checks.
//!
//! Reading the first event rather than a read model means the answer never lags behind the log:
//! an event is placed as soon as it is visible at all.

use domain::DomainEvent;
use domain::batch::BatchEvent;
use domain::declaration::DeclarationEvent;
use eventstore::RecordedEvent;

use crate::{batch, declaration};

/// The stream categories whose streams an organisation owns.
pub const OWNED_CATEGORIES: [&str; 2] = [declaration::CATEGORY, batch::CATEGORY];

/// Who owns a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// An organisation: a declaration's declarant, a batch's organisation.
    Organisation(String),
    /// No organisation: reference data, API keys, an admin's batch loaded for no organisation,
    /// a rejected filing that named no declarant.
    Nobody,
}

impl Owner {
    /// Whether `organisation` owns the stream.
    pub fn is(&self, organisation: &str) -> bool {
        matches!(self, Self::Organisation(owner) if owner == organisation)
    }
}

/// Why a stream's owner cannot be told.
#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    #[error("{stream} version {version} is not the first event of its stream")]
    NotFirst { stream: String, version: u64 },
    #[error("the first event of {stream} cannot be read: {source}")]
    Decode {
        stream: String,
        source: domain::DecodeError,
    },
    #[error("the first event of {stream} is {event_type}, which does not open such a stream")]
    UnexpectedFirst { stream: String, event_type: String },
}

/// The owner of the stream that `first` opens (its version 1).
pub fn owner(first: &RecordedEvent) -> Result<Owner, OwnerError> {
    if first.stream_version != 1 {
        return Err(OwnerError::NotFirst {
            stream: first.stream_id.clone(),
            version: first.stream_version,
        });
    }
    let decode_error = |source| OwnerError::Decode {
        stream: first.stream_id.clone(),
        source,
    };
    let unexpected = || OwnerError::UnexpectedFirst {
        stream: first.stream_id.clone(),
        event_type: first.event_type.clone(),
    };
    let organisation = match first.category() {
        declaration::CATEGORY => match decode::<DeclarationEvent>(first).map_err(decode_error)? {
            DeclarationEvent::DeclarationFiled(filed) => {
                Some(filed.data.header.declarant.to_string())
            }
            DeclarationEvent::DeclarationRejected(rejected) => rejected
                .filing
                .header
                .declarant
                .map(|declarant| declarant.trim().to_owned()),
            _ => return Err(unexpected()),
        },
        batch::CATEGORY => match decode::<BatchEvent>(first).map_err(decode_error)? {
            BatchEvent::BatchReceived(received) => received.organisation,
            _ => return Err(unexpected()),
        },
        _ => None,
    };
    Ok(match organisation {
        Some(organisation) if !organisation.is_empty() => Owner::Organisation(organisation),
        _ => Owner::Nobody,
    })
}

fn decode<E: DomainEvent>(event: &RecordedEvent) -> Result<E, domain::DecodeError> {
    E::decode(&event.event_type, event.schema_version, &event.payload)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use chrono::{NaiveDate, TimeZone, Utc};
    use domain::batch::{BatchCompleted, BatchFormat, BatchReceived, BatchTotals};
    use domain::codes::Actor;
    use domain::declaration::{DeclarationRejected, RawFiling};
    use eventstore::EventMetadata;
    use uuid::Uuid;

    use super::*;

    fn recorded(stream: &str, version: u64, event: &impl DomainEvent) -> RecordedEvent {
        RecordedEvent {
            event_id: Uuid::nil(),
            stream_id: stream.to_owned(),
            stream_version: version,
            position: 7,
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            payload: event.payload().unwrap().to_string(),
            metadata: EventMetadata::default(),
            recorded_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            hash: [0; 32],
        }
    }

    fn rejected(declarant: Option<&str>) -> DeclarationEvent {
        let mut filing = RawFiling::default();
        filing.header.declarant = declarant.map(str::to_owned);
        DeclarationEvent::DeclarationRejected(DeclarationRejected {
            declaration_id: Uuid::nil(),
            filing,
            errors: Vec::new(),
            filing_date: NaiveDate::from_ymd_opt(2026, 3, 5).unwrap(),
            at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            actor: Actor::parse("declarant/alice@ACME").unwrap(),
        })
    }

    fn received(organisation: Option<&str>) -> BatchEvent {
        BatchEvent::BatchReceived(BatchReceived {
            batch_id: Uuid::nil(),
            format: BatchFormat::Ndjson,
            submitted_by: "declarant/alice@ACME".to_owned(),
            organisation: organisation.map(str::to_owned),
            content_length: None,
            at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        })
    }

    #[test]
    fn a_rejected_filing_belongs_to_the_declarant_it_names() {
        let first = recorded("declaration-1", 1, &rejected(Some(" ACME ")));
        let owner = owner(&first).unwrap();
        assert_eq!(owner, Owner::Organisation("ACME".into()));
        assert!(owner.is("ACME"));
        assert!(!owner.is("OTHER"));
    }

    #[test]
    fn a_rejected_filing_without_a_declarant_belongs_to_nobody() {
        for declarant in [None, Some(""), Some("  ")] {
            let first = recorded("declaration-1", 1, &rejected(declarant));
            assert_eq!(owner(&first).unwrap(), Owner::Nobody, "{declarant:?}");
        }
    }

    #[test]
    fn a_batch_belongs_to_the_organisation_it_files_for() {
        let first = recorded("batch-1", 1, &received(Some("ACME")));
        assert_eq!(owner(&first).unwrap(), Owner::Organisation("ACME".into()));
        let first = recorded("batch-2", 1, &received(None));
        assert_eq!(owner(&first).unwrap(), Owner::Nobody);
    }

    #[test]
    fn streams_of_other_categories_belong_to_nobody() {
        let first = recorded("tariff-0101210000", 1, &received(Some("ACME")));
        assert_eq!(owner(&first).unwrap(), Owner::Nobody);
        assert!(!Owner::Nobody.is(""));
    }

    #[test]
    fn only_a_first_event_tells_the_owner() {
        let later = recorded("declaration-1", 2, &rejected(Some("ACME")));
        assert!(matches!(
            owner(&later),
            Err(OwnerError::NotFirst { version: 2, .. })
        ));
    }

    #[test]
    fn a_first_event_that_opens_no_such_stream_is_an_error_not_a_guess() {
        let completed = BatchEvent::BatchCompleted(BatchCompleted {
            batch_id: Uuid::nil(),
            totals: BatchTotals::default(),
            at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        });
        let first = recorded("batch-1", 1, &completed);
        assert!(matches!(
            owner(&first),
            Err(OwnerError::UnexpectedFirst { .. })
        ));
        // A batch event in a declaration stream does not decode as a declaration event.
        let first = recorded("declaration-1", 1, &received(Some("ACME")));
        assert!(matches!(owner(&first), Err(OwnerError::Decode { .. })));
        assert_eq!(OWNED_CATEGORIES, ["declaration", "batch"]);
    }
}
