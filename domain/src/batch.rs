//! Batch transmissions: many declarations sent in one upload. A batch's stream records its
//! lifecycle and the result given for every item, in item order, so that a retransmission and
//! the results endpoint answer exactly what the sender was told.
//!
//! Every event after `BatchReceived` carries the running totals, so the batch's status is the
//! fold of its first and its last event (a million-item batch need not be read to be shown).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Decimal;
use crate::declaration::Status;
use crate::event::domain_event;
use crate::risk::Lane;

/// The input format of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BatchFormat {
    /// One declaration per line, each the JSON of a `DeclarationInput`.
    Ndjson,
    /// The column layout of the KCS synthetic import declarations, one row per item.
    KcsCsv,
}

impl BatchFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ndjson => "ndjson",
            Self::KcsCsv => "kcs-csv",
        }
    }
}

/// Where a batch is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BatchStatus {
    /// No such batch.
    #[default]
    Unknown,
    /// Received, no item recorded yet.
    Received,
    /// Items are being filed.
    Processing,
    /// Every item of the upload has its result.
    Completed,
    /// The upload stopped before its end (the connection broke, the size limit, a store
    /// failure); sending the same batch again resumes it.
    Interrupted,
}

impl BatchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Received => "received",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Interrupted => "interrupted",
        }
    }
}

/// Running totals of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchTotals {
    /// Items with a result (accepted + rejected).
    pub items: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Items answered from an earlier transmission (counted in accepted or rejected too).
    pub replayed: u64,
}

impl BatchTotals {
    /// The totals after `results`.
    pub fn with(mut self, results: &[ItemResult]) -> Self {
        for result in results {
            self.items += 1;
            match result.outcome {
                ItemOutcome::Accepted { .. } => self.accepted += 1,
                ItemOutcome::Rejected { .. } => self.rejected += 1,
            }
            if result.replayed {
                self.replayed += 1;
            }
        }
        self
    }
}

/// The result given for one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemResult {
    /// The item's ordinal in the batch, from 1.
    pub item: u64,
    /// The line of the upload where the item starts, from 1 (a CSV header is line 1).
    pub line: u64,
    pub lrn: Option<String>,
    pub declarant: Option<String>,
    #[serde(flatten)]
    pub outcome: ItemOutcome,
    /// True when the declaration was already filed with this content: the original result.
    pub replayed: bool,
}

/// Accepted for processing (filed: its lane and taxes) or rejected (why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum ItemOutcome {
    #[serde(rename_all = "camelCase")]
    Accepted {
        declaration_id: Uuid,
        status: Status,
        lane: Option<Lane>,
        /// Duty + VAT assessed, in the national currency.
        taxes: Option<Decimal>,
    },
    #[serde(rename_all = "camelCase")]
    Rejected {
        /// The declaration's id when the filing had a readable declarant and LRN (its
        /// rejection is then recorded in the declaration's stream too).
        declaration_id: Option<Uuid>,
        errors: Vec<ItemError>,
    },
}

/// Why an item was rejected: a stable code, the field it concerns and a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemError {
    pub code: String,
    /// camelCase path such as `items[3].hsCode`; none for a line that could not be read.
    pub field: Option<String>,
    pub message: String,
}

impl ItemError {
    pub fn new(code: &str, field: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }
}

/// A batch upload began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchReceived {
    pub batch_id: Uuid,
    pub format: BatchFormat,
    /// The actor that sent it, e.g. `declarant/alice@ACME`.
    pub submitted_by: String,
    /// The organisation it files for (none for an admin's historical load).
    pub organisation: Option<String>,
    /// The announced body size, when the sender gave one.
    pub content_length: Option<u64>,
    pub at: DateTime<Utc>,
}

/// The same batch was sent again before it completed: items already recorded are skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResumed {
    pub batch_id: Uuid,
    pub totals: BatchTotals,
    pub at: DateTime<Utc>,
}

/// Results for consecutive items, from `results[0].item`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemsRecorded {
    pub batch_id: Uuid,
    pub results: Vec<ItemResult>,
    /// Totals including these results.
    pub totals: BatchTotals,
    pub at: DateTime<Utc>,
}

/// Every item of the upload has its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchCompleted {
    pub batch_id: Uuid,
    pub totals: BatchTotals,
    pub at: DateTime<Utc>,
}

/// The upload stopped early; the results recorded so far stand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchInterrupted {
    pub batch_id: Uuid,
    pub totals: BatchTotals,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// The events of a batch's stream (`batch-<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchEvent {
    BatchReceived(BatchReceived),
    BatchResumed(BatchResumed),
    BatchItemsRecorded(BatchItemsRecorded),
    BatchCompleted(BatchCompleted),
    BatchInterrupted(BatchInterrupted),
}

domain_event!(BatchEvent {
    BatchReceived(BatchReceived) = "BatchReceived",
    BatchResumed(BatchResumed) = "BatchResumed",
    BatchItemsRecorded(BatchItemsRecorded) = "BatchItemsRecorded",
    BatchCompleted(BatchCompleted) = "BatchCompleted",
    BatchInterrupted(BatchInterrupted) = "BatchInterrupted",
});

impl BatchEvent {
    /// The totals after this event (zero for `BatchReceived`).
    pub fn totals(&self) -> BatchTotals {
        match self {
            Self::BatchReceived(_) => BatchTotals::default(),
            Self::BatchResumed(e) => e.totals,
            Self::BatchItemsRecorded(e) => e.totals,
            Self::BatchCompleted(e) => e.totals,
            Self::BatchInterrupted(e) => e.totals,
        }
    }

    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::BatchReceived(e) => e.at,
            Self::BatchResumed(e) => e.at,
            Self::BatchItemsRecorded(e) => e.at,
            Self::BatchCompleted(e) => e.at,
            Self::BatchInterrupted(e) => e.at,
        }
    }
}

/// A batch as its events tell it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    pub id: Option<Uuid>,
    pub status: BatchStatus,
    pub format: Option<BatchFormat>,
    pub submitted_by: String,
    pub organisation: Option<String>,
    pub content_length: Option<u64>,
    pub received_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub totals: BatchTotals,
    /// Why the latest upload stopped early, while the batch stands interrupted.
    pub interruption: Option<String>,
}

impl Batch {
    /// The state after `event`. Totals come from the event, so folding the first and the last
    /// event of a stream gives the same batch as folding all of them (except `completed_at`
    /// and `interruption`, which the last event sets when it is the one that has them).
    pub fn evolve(mut self, event: &BatchEvent) -> Self {
        self.totals = event.totals();
        self.updated_at = Some(event.at());
        match event {
            BatchEvent::BatchReceived(e) => {
                self.id = Some(e.batch_id);
                self.status = BatchStatus::Received;
                self.format = Some(e.format);
                self.submitted_by.clone_from(&e.submitted_by);
                self.organisation.clone_from(&e.organisation);
                self.content_length = e.content_length;
                self.received_at = Some(e.at);
            }
            BatchEvent::BatchResumed(_) | BatchEvent::BatchItemsRecorded(_) => {
                self.status = BatchStatus::Processing;
                self.interruption = None;
            }
            BatchEvent::BatchCompleted(e) => {
                self.status = BatchStatus::Completed;
                self.completed_at = Some(e.at);
                self.interruption = None;
            }
            BatchEvent::BatchInterrupted(e) => {
                self.status = BatchStatus::Interrupted;
                self.interruption = Some(e.reason.clone());
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::DomainEvent;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn accepted(item: u64, replayed: bool) -> ItemResult {
        ItemResult {
            item,
            line: item,
            lrn: Some(format!("L{item}")),
            declarant: Some("ACME".into()),
            outcome: ItemOutcome::Accepted {
                declaration_id: Uuid::nil(),
                status: Status::Accepted,
                lane: Some(Lane::Green),
                taxes: Some(Decimal::new(12340, 0)),
            },
            replayed,
        }
    }

    fn rejected(item: u64) -> ItemResult {
        ItemResult {
            item,
            line: item,
            lrn: None,
            declarant: None,
            outcome: ItemOutcome::Rejected {
                declaration_id: None,
                errors: vec![ItemError::new("MALFORMED_LINE", None, "not JSON")],
            },
            replayed: false,
        }
    }

    #[test]
    fn totals_count_each_outcome_and_replays() {
        let totals =
            BatchTotals::default().with(&[accepted(1, false), rejected(2), accepted(3, true)]);
        assert_eq!(
            totals,
            BatchTotals {
                items: 3,
                accepted: 2,
                rejected: 1,
                replayed: 1
            }
        );
    }

    #[test]
    fn an_item_result_is_flat_json_with_its_outcome_tag() {
        let json = serde_json::to_value(accepted(1, false)).unwrap();
        assert_eq!(json["outcome"], "accepted");
        assert_eq!(json["lane"], "green");
        assert_eq!(json["taxes"], "12340");
        assert_eq!(json["status"], "accepted");
        let json = serde_json::to_value(rejected(2)).unwrap();
        assert_eq!(json["outcome"], "rejected");
        assert_eq!(json["errors"][0]["code"], "MALFORMED_LINE");
        assert_eq!(json["errors"][0]["field"], serde_json::Value::Null);
    }

    #[test]
    fn events_round_trip_and_the_first_and_last_give_the_status() {
        let id = Uuid::from_u128(7);
        let received = BatchEvent::BatchReceived(BatchReceived {
            batch_id: id,
            format: BatchFormat::Ndjson,
            submitted_by: "declarant/alice@ACME".into(),
            organisation: Some("ACME".into()),
            content_length: Some(10),
            at: at(),
        });
        let results = vec![accepted(1, false), rejected(2)];
        let totals = BatchTotals::default().with(&results);
        let recorded = BatchEvent::BatchItemsRecorded(BatchItemsRecorded {
            batch_id: id,
            results,
            totals,
            at: at(),
        });
        let completed = BatchEvent::BatchCompleted(BatchCompleted {
            batch_id: id,
            totals,
            at: at(),
        });
        for event in [&received, &recorded, &completed] {
            let payload = event.payload().unwrap().to_string();
            let back = BatchEvent::decode(event.event_type(), 1, &payload).unwrap();
            assert_eq!(&back, event);
        }
        let all = [&received, &recorded, &completed]
            .into_iter()
            .fold(Batch::default(), Batch::evolve);
        let ends = Batch::default().evolve(&received).evolve(&completed);
        assert_eq!(all, ends);
        assert_eq!(all.status, BatchStatus::Completed);
        assert_eq!(all.totals.rejected, 1);
    }
}
