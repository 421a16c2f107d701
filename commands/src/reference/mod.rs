//! Reference data (tariff lines, exchange rates, unit codes, risk rules) as event streams:
//! importing files into the store, and the in-memory view the write side decides with.
//!
//! Streams: `tariff-<10-digit code>`, `rate-<currency>`, `units-rec20`, `riskrules-main`. An
//! event's id is a UUIDv5 of its type and payload, so publishing the same data again writes
//! nothing, whoever does it and however often.

mod files;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use domain::DomainEvent;
use domain::reference::{ReferenceEvent, ReferenceSnapshot};
use eventstore::{
    EventMetadata, EventStore, ExpectedVersion, Filter, NewEvent, StoreError, StreamId,
};
use futures::{StreamExt, TryStreamExt};
use uuid::Uuid;

pub use files::{ReferenceFiles, RowError};

/// The stream categories that hold reference data.
pub const CATEGORIES: [&str; 4] = ["tariff", "rate", "units", "riskrules"];

/// The sample reference data shipped in `reference/` (see its README for sources).
const SAMPLE: [(&str, &str); 4] = [
    ("tariff.csv", include_str!("../../../reference/tariff.csv")),
    (
        "preferences.csv",
        include_str!("../../../reference/preferences.csv"),
    ),
    (
        "exchange_rates.csv",
        include_str!("../../../reference/exchange_rates.csv"),
    ),
    ("units.csv", include_str!("../../../reference/units.csv")),
];

/// Namespace of reference event ids (UUIDv5 of type and payload).
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_0c1e_8e0b_4a52_9b3d_1f4e_2c7a_9d10);

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{} error(s) in the reference files; nothing was imported", .0.len())]
    Invalid(Vec<RowError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot serialize a reference event: {0}")]
    Payload(#[from] serde_json::Error),
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    /// Records in the files.
    pub records: usize,
    /// Events appended now.
    pub written: usize,
    /// Records the store already held (the same data published before).
    pub already_present: usize,
    /// Streams appended to.
    pub streams: usize,
}

/// The sample reference data as events.
pub fn sample_events() -> Result<Vec<ReferenceEvent>, Vec<RowError>> {
    let mut files = ReferenceFiles::new();
    for (name, text) in SAMPLE {
        files.add(name, text);
    }
    files.events()
}

/// The stream a reference event belongs to.
pub fn stream_of(event: &ReferenceEvent) -> StreamId {
    let id = match event {
        ReferenceEvent::TariffLinePublished(e) => format!("tariff-{}", e.0.hs_code),
        ReferenceEvent::ExchangeRatePublished(e) => format!("rate-{}", e.0.currency),
        ReferenceEvent::UnitCodesPublished(_) => "units-rec20".to_owned(),
        ReferenceEvent::RiskRulesPublished(_) => "riskrules-main".to_owned(),
    };
    // Codes are parsed newtypes of ASCII letters and digits: the id is always valid.
    StreamId::parse(id).unwrap_or_else(|_| unreachable_stream())
}

fn unreachable_stream() -> StreamId {
    // Only reachable if a code newtype admitted characters a stream id refuses.
    StreamId::parse("reference-invalid").unwrap_or_else(|e| panic!("static stream id: {e}"))
}

/// Appends the records whose current published value differs from the file's, one atomic
/// append per stream. A record is identified by its stream and key (a tariff line or rate by its
/// start date, the unit list and a rule set version as one record each): re-importing the same
/// data writes nothing, and publishing an older value again after a correction writes it again.
pub async fn import(
    store: &EventStore,
    events: Vec<ReferenceEvent>,
    actor: &str,
) -> Result<ImportReport, ImportError> {
    let records = events.len();
    // The latest published value of each record, and its event id.
    let mut current: HashMap<(String, String), (Uuid, serde_json::Value)> = HashMap::new();
    let mut versions: HashMap<String, u64> = HashMap::new();
    let mut stored = std::pin::pin!(store.read_all(0, Filter::categories(CATEGORIES), usize::MAX));
    while let Some(event) = stored.try_next().await? {
        versions.insert(event.stream_id.clone(), event.stream_version);
        let Ok(decoded) =
            ReferenceEvent::decode(&event.event_type, event.schema_version, &event.payload)
        else {
            continue;
        };
        let payload = serde_json::from_str(&event.payload)?;
        current.insert(
            (event.stream_id.clone(), record_key(&decoded)),
            (event.event_id, payload),
        );
    }

    let correlation = Uuid::now_v7();
    let mut by_stream: HashMap<StreamId, Vec<NewEvent>> = HashMap::new();
    let mut already_present = 0;
    for event in events {
        let payload = event.payload()?;
        let stream = stream_of(&event);
        let key = (stream.to_string(), record_key(&event));
        let previous = current.get(&key);
        if previous.is_some_and(|(_, value)| *value == payload) {
            already_present += 1;
            continue;
        }
        // The id covers the value and what it replaces: unique per publication, and the same
        // when an interrupted import is run again.
        let after = previous.map_or_else(String::new, |(id, _)| id.to_string());
        let id = Uuid::new_v5(
            &EVENT_ID_NAMESPACE,
            format!("{}\n{}\n{}", event.event_type(), payload, after).as_bytes(),
        );
        current.insert(key, (id, payload.clone()));
        by_stream.entry(stream).or_default().push(
            NewEvent::new(event.event_type(), payload)
                .with_id(id)
                .with_schema_version(event.schema_version())
                .with_metadata(EventMetadata {
                    correlation_id: Some(correlation),
                    causation_id: None,
                    actor: Some(actor.to_owned()),
                }),
        );
    }

    let streams = by_stream.len();
    let written = by_stream.values().map(Vec::len).sum();
    // Streams are independent: append them concurrently (group commit batches them); each
    // stream's chunks in order, each chunk within the store's per-append limit.
    futures::stream::iter(by_stream)
        .map(|(stream, events)| {
            let mut version = versions.get(stream.as_str()).copied().unwrap_or(0);
            async move {
                for chunk in events.chunks(500) {
                    store
                        .append(&stream, ExpectedVersion::Exact(version), chunk.to_vec())
                        .await?;
                    version += chunk.len() as u64;
                }
                Ok::<_, StoreError>(())
            }
        })
        .buffer_unordered(64)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(ImportReport {
        records,
        written,
        already_present,
        streams,
    })
}

/// What identifies a record within its stream.
fn record_key(event: &ReferenceEvent) -> String {
    match event {
        ReferenceEvent::TariffLinePublished(e) => e.0.valid_from.to_string(),
        ReferenceEvent::ExchangeRatePublished(e) => e.0.valid_from.to_string(),
        ReferenceEvent::UnitCodesPublished(_) => String::new(),
        ReferenceEvent::RiskRulesPublished(e) => e.0.version().to_string(),
    }
}

/// The reference data in force, folded from the reference streams and kept current.
#[derive(Debug, Clone, Default)]
pub struct ReferenceView {
    inner: Arc<RwLock<(Arc<ReferenceSnapshot>, u64)>>,
}

impl ReferenceView {
    /// Reads every reference event into a snapshot.
    pub async fn load(store: &EventStore) -> Result<Self, StoreError> {
        let view = Self::default();
        view.refresh(store).await?;
        Ok(view)
    }

    /// Applies reference events committed since the last refresh.
    pub async fn refresh(&self, store: &EventStore) -> Result<(), StoreError> {
        let after = self.read().1;
        let mut events =
            std::pin::pin!(store.read_all(after, Filter::categories(CATEGORIES), usize::MAX));
        let mut decoded = Vec::new();
        let mut last = after;
        while let Some(event) = events.try_next().await? {
            last = event.position;
            match ReferenceEvent::decode(&event.event_type, event.schema_version, &event.payload) {
                Ok(e) => decoded.push(e),
                Err(error) => {
                    tracing::error!(position = event.position, %error, "unreadable reference event skipped")
                }
            }
        }
        let mut guard = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if !decoded.is_empty() {
            // Copy on write: readers holding the previous snapshot keep it.
            let snapshot = Arc::make_mut(&mut guard.0);
            for event in &decoded {
                snapshot.apply(event);
            }
        }
        guard.1 = guard.1.max(last);
        Ok(())
    }

    /// The snapshot as it stands (shared: a refresh makes a new one).
    pub fn snapshot(&self) -> Arc<ReferenceSnapshot> {
        Arc::clone(&self.read().0)
    }

    /// How many tariff codes are loaded.
    pub fn tariff_code_count(&self) -> usize {
        self.read().0.tariff_code_count()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, (Arc<ReferenceSnapshot>, u64)> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use domain::codes::{CurrencyCode, HsCode, UnitCode};
    use std::collections::HashSet;

    #[test]
    fn the_sample_reference_data_loads_and_answers_lookups() {
        let events = sample_events().expect("the shipped sample is valid");
        let mut snapshot = ReferenceSnapshot::new();
        for event in &events {
            snapshot.apply(event);
        }
        assert!(snapshot.tariff_code_count() >= 5_000);
        let day = NaiveDate::from_ymd_opt(2020, 6, 15).unwrap();
        let laptops = HsCode::parse("8471300000").unwrap();
        assert!(snapshot.tariff_line(&laptops, day).is_some());
        let usd = CurrencyCode::parse("USD").unwrap();
        let rate = snapshot
            .exchange_rate(usd, day)
            .expect("a USD rate in June 2020");
        assert!(rate.rate > 1000.into() && rate.rate < 1500.into());
        assert!(snapshot.is_known_unit(&UnitCode::parse("KGM").unwrap()));
    }

    #[test]
    fn reference_streams_are_named_by_their_code() {
        let events = sample_events().unwrap();
        let names: HashSet<String> = events
            .iter()
            .map(|e| stream_of(e).category().to_owned())
            .collect();
        assert_eq!(names, ["tariff", "rate", "units"].map(String::from).into());
    }
}
