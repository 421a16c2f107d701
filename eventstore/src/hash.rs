//! The hash chain: each event's hash covers the previous event's hash in its stream and the
//! event's canonical bytes, so changing, removing or reordering any stored event is detectable.
//!
//! Canonical bytes (version 1), every field length-prefixed so no two events share an encoding:
//! `b"aduana-event-v1"`, stream id, stream version (u64 BE), event id (16 bytes), event type,
//! schema version (u32 BE), payload JSON text, correlation id, causation id, actor (each
//! optional: a 0/1 tag byte then the value), recorded-at (microseconds since the Unix epoch, i64
//! BE). Strings are UTF-8 with a u32 BE length prefix. The first event of a stream chains from 32
//! zero bytes. The global position is not covered: it is assigned by the log, and the per-stream
//! version order is what the chain protects.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::model::EventMetadata;

pub const GENESIS: [u8; 32] = [0; 32];

/// The fields an event's hash covers.
#[derive(Debug)]
pub struct HashInput<'a> {
    pub stream_id: &'a str,
    pub stream_version: u64,
    pub event_id: Uuid,
    pub event_type: &'a str,
    pub schema_version: u32,
    pub payload: &'a str,
    pub metadata: &'a EventMetadata,
    pub recorded_at: DateTime<Utc>,
}

/// Computes an event's chain hash from the previous hash of its stream.
pub fn chain_hash(previous: &[u8; 32], event: &HashInput<'_>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(previous);
    h.update(b"aduana-event-v1");
    put_str(&mut h, event.stream_id);
    h.update(event.stream_version.to_be_bytes());
    h.update(event.event_id.as_bytes());
    put_str(&mut h, event.event_type);
    h.update(event.schema_version.to_be_bytes());
    put_str(&mut h, event.payload);
    put_opt(
        &mut h,
        event
            .metadata
            .correlation_id
            .as_ref()
            .map(|u| u.as_bytes().as_slice()),
    );
    put_opt(
        &mut h,
        event
            .metadata
            .causation_id
            .as_ref()
            .map(|u| u.as_bytes().as_slice()),
    );
    put_opt(&mut h, event.metadata.actor.as_deref().map(str::as_bytes));
    h.update(event.recorded_at.timestamp_micros().to_be_bytes());
    h.finalize().into()
}

fn put_str(h: &mut Sha256, value: &str) {
    put_bytes(h, value.as_bytes());
}

fn put_bytes(h: &mut Sha256, value: &[u8]) {
    // Lengths are bounded by the store's limits (payload ≤ configured max, far below 4 GiB).
    let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
    h.update(len.to_be_bytes());
    h.update(value);
}

fn put_opt(h: &mut Sha256, value: Option<&[u8]>) {
    match value {
        None => h.update([0u8]),
        Some(bytes) => {
            h.update([1u8]);
            put_bytes(h, bytes);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn input<'a>(meta: &'a EventMetadata, payload: &'a str) -> HashInput<'a> {
        HashInput {
            stream_id: "declaration-1",
            stream_version: 1,
            event_id: Uuid::nil(),
            event_type: "DeclarationFiled",
            schema_version: 1,
            payload,
            metadata: meta,
            recorded_at: DateTime::from_timestamp_micros(1_700_000_000_000_000).unwrap(),
        }
    }

    #[test]
    fn the_hash_depends_on_every_covered_field_and_the_previous_hash() {
        let meta = EventMetadata::default();
        let base = chain_hash(&GENESIS, &input(&meta, "{}"));
        assert_eq!(base, chain_hash(&GENESIS, &input(&meta, "{}")));
        assert_ne!(base, chain_hash(&[1; 32], &input(&meta, "{}")));
        assert_ne!(base, chain_hash(&GENESIS, &input(&meta, "{ }")));
        let actor = EventMetadata {
            actor: Some("officer/1".into()),
            ..EventMetadata::default()
        };
        assert_ne!(base, chain_hash(&GENESIS, &input(&actor, "{}")));
        let mut later = input(&meta, "{}");
        later.stream_version = 2;
        assert_ne!(base, chain_hash(&GENESIS, &later));
    }

    #[test]
    fn an_absent_option_differs_from_an_empty_one() {
        let none = EventMetadata::default();
        let empty = EventMetadata {
            actor: Some(String::new()),
            ..EventMetadata::default()
        };
        assert_ne!(
            chain_hash(&GENESIS, &input(&none, "{}")),
            chain_hash(&GENESIS, &input(&empty, "{}"))
        );
    }
}
