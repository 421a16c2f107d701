//! Hash-chain verification: recomputes every link and reports the first that does not hold.

use crate::backend::{AnyBackend, Backend, PAGE};
use crate::error::StoreError;
use crate::hash::{GENESIS, HashInput, chain_hash};
use crate::model::{BrokenLink, Direction, RecordedEvent, StreamId, VerifyReport};
use crate::store::EventStore;
use futures::TryStreamExt;

/// Where a walk along one stream's chain stands.
struct Chain {
    version: u64,
    hash: [u8; 32],
}

impl Chain {
    fn new() -> Self {
        Self {
            version: 0,
            hash: GENESIS,
        }
    }

    /// Checks the next event of the stream; returns the broken link if it does not follow.
    fn follow(&mut self, event: &RecordedEvent) -> Option<BrokenLink> {
        let broken = |reason: String| BrokenLink {
            stream_id: event.stream_id.clone(),
            stream_version: event.stream_version,
            position: Some(event.position),
            reason,
        };
        if event.stream_version != self.version + 1 {
            return Some(broken(format!(
                "version {} follows version {}: events are missing",
                event.stream_version, self.version
            )));
        }
        let expected = chain_hash(
            &self.hash,
            &HashInput {
                stream_id: &event.stream_id,
                stream_version: event.stream_version,
                event_id: event.event_id,
                event_type: &event.event_type,
                schema_version: event.schema_version,
                payload: &event.payload,
                metadata: &event.metadata,
                recorded_at: event.recorded_at,
            },
        );
        if expected != event.hash {
            return Some(broken(format!(
                "stored hash {} does not match the recomputed {}: the event or its predecessor \
                 was altered",
                hex::encode(event.hash),
                hex::encode(expected)
            )));
        }
        self.version = event.stream_version;
        self.hash = event.hash;
        None
    }
}

pub(crate) async fn stream(
    store: &EventStore,
    stream: &StreamId,
) -> Result<VerifyReport, StoreError> {
    let mut chain = Chain::new();
    let mut events = 0;
    let mut read = std::pin::pin!(store.read_stream(stream, Direction::Forward, None, usize::MAX));
    while let Some(event) = read.try_next().await? {
        events += 1;
        if let Some(broken) = chain.follow(&event) {
            return Ok(report(1, events, Some(broken)));
        }
    }
    Ok(report(u64::from(events > 0), events, None))
}

pub(crate) async fn all(backend: &AnyBackend) -> Result<VerifyReport, StoreError> {
    let mut streams = 0;
    let mut events = 0;
    let mut chain = Chain::new();
    let mut current: Option<String> = None;
    loop {
        let after = current.as_deref().map(|s| (s, chain.version));
        let page = backend.read_by_stream_page(after, PAGE).await?;
        let full = page.len() == PAGE;
        for event in page {
            if current.as_deref() != Some(event.stream_id.as_str()) {
                streams += 1;
                chain = Chain::new();
                current = Some(event.stream_id.clone());
            }
            events += 1;
            if let Some(broken) = chain.follow(&event) {
                return Ok(report(streams, events, Some(broken)));
            }
        }
        if !full {
            break;
        }
    }
    let shape = backend.log_shape().await?;
    let broken = if let Some(gap) = shape.first_gap {
        Some(format!(
            "position {gap} follows a missing position: events were removed"
        ))
    } else if shape.count != shape.max_position || shape.max_position != shape.head_record {
        Some(format!(
            "the log holds {} events up to position {} but its head record says {}: events \
             were removed or added behind the store's back",
            shape.count, shape.max_position, shape.head_record
        ))
    } else {
        None
    };
    let broken = broken.map(|reason| BrokenLink {
        stream_id: "$all".into(),
        stream_version: 0,
        position: shape.first_gap,
        reason,
    });
    Ok(report(streams, events, broken))
}

fn report(streams: u64, events: u64, broken: Option<BrokenLink>) -> VerifyReport {
    VerifyReport {
        streams_checked: streams,
        events_checked: events,
        broken,
    }
}
