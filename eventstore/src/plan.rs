//! Group commit, decided in memory: given the heads of the streams a batch of appends touches
//! (read under the write lock), decide for each append in arrival order whether it is written,
//! is a retry of something already written, or conflicts, and compute versions, positions and
//! hashes for what is written. Backends only read heads before and write rows after; the rules
//! live here once, for every backend.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::StoreError;
use crate::hash::{GENESIS, HashInput, chain_hash};
use crate::model::{AppendResult, EventMetadata, ExpectedVersion, RecordedEvent, StreamId};

/// An event validated and serialized, ready to be written.
#[derive(Debug, Clone)]
pub(crate) struct PreparedEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: String,
    pub metadata: EventMetadata,
}

/// One caller's append.
#[derive(Debug)]
pub(crate) struct AppendRequest {
    pub stream: StreamId,
    pub expected: ExpectedVersion,
    pub events: Vec<PreparedEvent>,
}

/// The last event of a stream, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub version: u64,
    pub hash: [u8; 32],
}

/// An already stored event, looked up by id to answer retries.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub stream_id: String,
    pub stream_version: u64,
    pub position: u64,
    pub event: PreparedEvent,
}

impl From<RecordedEvent> for StoredEvent {
    fn from(event: RecordedEvent) -> Self {
        Self {
            stream_id: event.stream_id,
            stream_version: event.stream_version,
            position: event.position,
            event: PreparedEvent {
                event_id: event.event_id,
                event_type: event.event_type,
                schema_version: event.schema_version,
                payload: event.payload,
                metadata: event.metadata,
            },
        }
    }
}

/// A row to insert: the event at `requests[request].events[event]` with what the log assigns.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    pub request: usize,
    pub event: usize,
    pub stream_version: u64,
    pub position: u64,
    pub hash: [u8; 32],
}

#[derive(Debug)]
pub(crate) struct Plan {
    pub rows: Vec<Row>,
    /// One outcome per request, in request order.
    pub outcomes: Vec<Result<AppendResult, StoreError>>,
    pub recorded_at: DateTime<Utc>,
}

impl Plan {
    /// Moves every planned position by `base`: for a plan made with relative positions (first
    /// position 1) once the log has said where the batch starts. Only valid for plans made
    /// without stored events, whose outcomes all refer to rows of this batch.
    pub fn shift_positions(&mut self, base: u64) {
        for row in &mut self.rows {
            row.position += base;
        }
        for outcome in self.outcomes.iter_mut().flatten() {
            for position in &mut outcome.positions {
                *position += base;
            }
        }
    }
}

/// Why a plan could not be made without more facts.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NeedsLookup {
    /// A version conflict may be a retry of stored events: look up the batch's event ids.
    EventIds,
}

/// Plans a batch. `existing` holds the stored events whose ids appear in the batch; pass `None`
/// on the fast path, and the planner asks for it only if some append does not fit its stream.
pub(crate) fn plan(
    requests: &[AppendRequest],
    stored_heads: &HashMap<String, Head>,
    existing: Option<&HashMap<Uuid, StoredEvent>>,
    first_position: u64,
    recorded_at: DateTime<Utc>,
) -> Result<Plan, NeedsLookup> {
    let mut heads: HashMap<&str, Head> = HashMap::new();
    // Events written earlier in this batch, by id: (request, event, version, position).
    let mut in_batch: HashMap<Uuid, (usize, usize, u64, u64)> = HashMap::new();
    let mut rows = Vec::new();
    let mut outcomes = Vec::with_capacity(requests.len());
    let mut next_position = first_position;

    for (r, request) in requests.iter().enumerate() {
        let stream = request.stream.as_str();
        let head = heads
            .get(stream)
            .or_else(|| stored_heads.get(stream))
            .copied()
            .unwrap_or(Head {
                version: 0,
                hash: GENESIS,
            });

        let seen_before = request.events.iter().any(|e| {
            in_batch.contains_key(&e.event_id)
                || existing.is_some_and(|x| x.contains_key(&e.event_id))
        });
        if seen_before {
            outcomes.push(retry_outcome(requests, r, &in_batch, existing));
            continue;
        }
        if !request.expected.admits(head.version) {
            if existing.is_none() {
                return Err(NeedsLookup::EventIds);
            }
            outcomes.push(Err(StoreError::WrongExpectedVersion {
                stream: stream.to_owned(),
                expected: request.expected,
                actual: head.version,
            }));
            continue;
        }
        let count = request.events.len() as u64;
        if head
            .version
            .checked_add(count)
            .is_none_or(|v| v > i64::MAX as u64)
        {
            outcomes.push(Err(StoreError::VersionOverflow {
                stream: stream.to_owned(),
            }));
            continue;
        }

        let mut hash = head.hash;
        let mut positions = Vec::with_capacity(request.events.len());
        for (e, event) in request.events.iter().enumerate() {
            let stream_version = head.version + 1 + e as u64;
            hash = chain_hash(
                &hash,
                &HashInput {
                    stream_id: stream,
                    stream_version,
                    event_id: event.event_id,
                    event_type: &event.event_type,
                    schema_version: event.schema_version,
                    payload: &event.payload,
                    metadata: &event.metadata,
                    recorded_at,
                },
            );
            rows.push(Row {
                request: r,
                event: e,
                stream_version,
                position: next_position,
                hash,
            });
            in_batch.insert(event.event_id, (r, e, stream_version, next_position));
            positions.push(next_position);
            next_position += 1;
        }
        let new_head = Head {
            version: head.version + count,
            hash,
        };
        heads.insert(stream, new_head);
        outcomes.push(Ok(AppendResult {
            next_version: new_head.version,
            positions,
        }));
    }

    Ok(Plan {
        rows,
        outcomes,
        recorded_at,
    })
}

/// An append some of whose ids are already stored: a faithful retry gets the first result, any
/// other reuse of an id is an error.
fn retry_outcome(
    requests: &[AppendRequest],
    r: usize,
    in_batch: &HashMap<Uuid, (usize, usize, u64, u64)>,
    existing: Option<&HashMap<Uuid, StoredEvent>>,
) -> Result<AppendResult, StoreError> {
    let request = &requests[r];
    let mut positions = Vec::with_capacity(request.events.len());
    let mut last_version = 0;
    for (i, event) in request.events.iter().enumerate() {
        let found = if let Some(&(fr, fe, version, position)) = in_batch.get(&event.event_id) {
            let stored = &requests[fr];
            Some((
                stored.stream.as_str(),
                version,
                position,
                &stored.events[fe],
            ))
        } else {
            existing
                .and_then(|x| x.get(&event.event_id))
                .map(|s| (s.stream_id.as_str(), s.stream_version, s.position, &s.event))
        };
        let reused = StoreError::EventIdReused {
            event_id: event.event_id,
        };
        let Some((stream, version, position, stored)) = found else {
            return Err(reused);
        };
        let in_sequence = i == 0 || version == last_version + 1;
        if stream != request.stream.as_str() || !in_sequence || !same_content(stored, event) {
            return Err(reused);
        }
        last_version = version;
        positions.push(position);
    }
    Ok(AppendResult {
        next_version: last_version,
        positions,
    })
}

fn same_content(a: &PreparedEvent, b: &PreparedEvent) -> bool {
    a.event_type == b.event_type
        && a.schema_version == b.schema_version
        && a.metadata == b.metadata
        && (a.payload == b.payload || same_json(&a.payload, &b.payload))
}

/// JSON equality regardless of key order or number spelling.
fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn event(id: u128, payload: &str) -> PreparedEvent {
        PreparedEvent {
            event_id: Uuid::from_u128(id),
            event_type: "Happened".into(),
            schema_version: 1,
            payload: payload.into(),
            metadata: EventMetadata::default(),
        }
    }

    fn request(
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<PreparedEvent>,
    ) -> AppendRequest {
        AppendRequest {
            stream: StreamId::parse(stream).unwrap(),
            expected,
            events,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp_micros(1_764_000_000_000_000).unwrap()
    }

    #[test]
    fn appends_in_one_batch_see_each_other_in_arrival_order() {
        let requests = vec![
            request(
                "a-1",
                ExpectedVersion::NoStream,
                vec![event(1, "{}"), event(2, "{}")],
            ),
            request("b-1", ExpectedVersion::NoStream, vec![event(3, "{}")]),
            request("a-1", ExpectedVersion::Exact(2), vec![event(4, "{}")]),
        ];
        let plan = plan(&requests, &HashMap::new(), None, 11, now()).unwrap();
        let results: Vec<_> = plan.outcomes.into_iter().map(Result::unwrap).collect();
        assert_eq!(results[0].positions, vec![11, 12]);
        assert_eq!(results[1].positions, vec![13]);
        assert_eq!(results[2].next_version, 3);
        assert_eq!(results[2].positions, vec![14]);
        assert_eq!(plan.rows.len(), 4);
        assert_eq!(plan.rows[3].stream_version, 3);
        assert_eq!(plan.rows[3].position, 14);
    }

    #[test]
    fn a_conflict_first_asks_for_the_stored_ids_then_reports_the_actual_version() {
        let mut heads = HashMap::new();
        heads.insert(
            "a-1".to_owned(),
            Head {
                version: 5,
                hash: [7; 32],
            },
        );
        let requests = vec![request(
            "a-1",
            ExpectedVersion::Exact(4),
            vec![event(1, "{}")],
        )];
        assert_eq!(
            plan(&requests, &heads, None, 1, now()).unwrap_err(),
            NeedsLookup::EventIds
        );
        let plan = plan(&requests, &heads, Some(&HashMap::new()), 1, now()).unwrap();
        match &plan.outcomes[0] {
            Err(StoreError::WrongExpectedVersion {
                actual, expected, ..
            }) => {
                assert_eq!(*actual, 5);
                assert_eq!(*expected, ExpectedVersion::Exact(4));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(plan.rows.is_empty());
    }

    #[test]
    fn a_retry_in_the_same_batch_gets_the_first_result_and_writes_nothing_more() {
        let requests = vec![
            request(
                "a-1",
                ExpectedVersion::NoStream,
                vec![event(1, "{\"x\":1}")],
            ),
            request(
                "a-1",
                ExpectedVersion::NoStream,
                vec![event(1, "{\"x\":1}")],
            ),
            request("a-1", ExpectedVersion::Any, vec![event(1, "{\"x\":2}")]),
        ];
        let plan = plan(&requests, &HashMap::new(), None, 1, now()).unwrap();
        assert_eq!(plan.rows.len(), 1);
        assert_eq!(
            plan.outcomes[0].as_ref().unwrap(),
            plan.outcomes[1].as_ref().unwrap()
        );
        assert_eq!(
            plan.outcomes[2].as_ref().unwrap_err().code(),
            "EVENT_ID_REUSED"
        );
    }

    #[test]
    fn a_stored_event_with_the_same_id_and_equal_json_is_a_retry() {
        let mut existing = HashMap::new();
        existing.insert(
            Uuid::from_u128(9),
            StoredEvent {
                stream_id: "a-1".into(),
                stream_version: 1,
                position: 40,
                event: event(9, "{\"b\":1,\"a\":2}"),
            },
        );
        let mut heads = HashMap::new();
        heads.insert(
            "a-1".into(),
            Head {
                version: 1,
                hash: [1; 32],
            },
        );
        let requests = vec![
            request(
                "a-1",
                ExpectedVersion::NoStream,
                vec![event(9, "{\"a\":2,\"b\":1}")],
            ),
            request(
                "b-1",
                ExpectedVersion::NoStream,
                vec![event(9, "{\"a\":2,\"b\":1}")],
            ),
        ];
        let plan = plan(&requests, &heads, Some(&existing), 41, now()).unwrap();
        assert_eq!(
            plan.outcomes[0].as_ref().unwrap(),
            &AppendResult {
                next_version: 1,
                positions: vec![40]
            }
        );
        assert_eq!(
            plan.outcomes[1].as_ref().unwrap_err().code(),
            "EVENT_ID_REUSED"
        );
        assert!(plan.rows.is_empty());
    }
}
