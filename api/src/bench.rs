//! `aduana bench`: load generators that measure the event store through its public API.
//!
//! Each bench returns a report struct; the command line prints it as one JSON line on stdout.

use std::num::{NonZeroU64, NonZeroUsize};
use std::time::{Duration, Instant};

use eventstore::{
    EventMetadata, EventStore, ExpectedVersion, Filter, NewEvent, StoreError, StreamId,
};
use futures::TryStreamExt;
use serde::Serialize;
use tokio::task::JoinSet;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a bench writer stopped: {0}")]
    Writer(#[from] tokio::task::JoinError),
}

/// What `bench append` does: `writers` tasks, each appending `events_per_writer` events in
/// appends of `batch` events (the last append of a writer may hold fewer).
#[derive(Debug, Clone, Copy)]
pub struct AppendParams {
    pub writers: NonZeroUsize,
    pub events_per_writer: NonZeroUsize,
    pub batch: NonZeroUsize,
    /// `None`: every append creates a fresh stream. `Some(k)`: a writer appends to its stream
    /// (expecting its exact version) until the next append would take it past `k` events.
    pub stream_events: Option<NonZeroU64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppendReport {
    pub bench: &'static str,
    pub backend: &'static str,
    pub writers: usize,
    pub events_per_writer: usize,
    pub batch: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_events: Option<u64>,
    pub events: u64,
    pub appends: u64,
    pub seconds: f64,
    pub events_per_s: f64,
    pub appends_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Appends concurrently and measures each append's latency.
pub async fn append(store: &EventStore, params: AppendParams) -> Result<AppendReport, BenchError> {
    let started = Instant::now();
    let mut writers = JoinSet::new();
    for _ in 0..params.writers.get() {
        writers.spawn(write(store.clone(), params));
    }
    let mut latencies = Vec::new();
    let mut events = 0;
    while let Some(finished) = writers.join_next().await {
        // Dropping the set on an error aborts the other writers.
        let (written, times) = finished??;
        events += written;
        latencies.extend(times);
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let appends = latencies.len() as u64;
    Ok(AppendReport {
        bench: "append",
        backend: store.backend_name(),
        writers: params.writers.get(),
        events_per_writer: params.events_per_writer.get(),
        batch: params.batch.get(),
        stream_events: params.stream_events.map(NonZeroU64::get),
        events,
        appends,
        seconds: round(seconds, 3),
        events_per_s: round(events as f64 / seconds, 1),
        appends_per_s: round(appends as f64 / seconds, 1),
        p50_ms: ms(percentile(&latencies, 0.50)),
        p99_ms: ms(percentile(&latencies, 0.99)),
        max_ms: ms(latencies.last().copied().unwrap_or_default()),
    })
}

/// One writer: returns the number of events it wrote and the latency of each append.
async fn write(
    store: EventStore,
    params: AppendParams,
) -> Result<(u64, Vec<Duration>), StoreError> {
    let total = params.events_per_writer.get();
    let mut latencies = Vec::with_capacity(total.div_ceil(params.batch.get()));
    let mut stream = new_stream()?;
    let mut version = 0u64;
    let mut written = 0;
    while written < total {
        let n = params.batch.get().min(total - written);
        let rotate = match params.stream_events {
            None => version > 0,
            Some(k) => version > 0 && version + n as u64 > k.get(),
        };
        if rotate {
            stream = new_stream()?;
            version = 0;
        }
        let expected = match version {
            0 => ExpectedVersion::NoStream,
            v => ExpectedVersion::Exact(v),
        };
        let batch = (written..written + n).map(declaration_item).collect();
        let sent = Instant::now();
        let result = store.append(&stream, expected, batch).await?;
        latencies.push(sent.elapsed());
        version = result.next_version;
        written += n;
    }
    Ok((written as u64, latencies))
}

fn new_stream() -> Result<StreamId, StoreError> {
    StreamId::parse(format!("bench-{}", Uuid::new_v4()))
}

/// A realistic event: one item of a customs declaration, the payload of
/// `tools/pg-limit.py` (364 bytes of JSON; about 500 with the metadata and ids), so results
/// compare with that physical limit.
fn declaration_item(line: usize) -> NewEvent {
    let payload = serde_json::json!({
        "declarationId": "4f1c7a52-1d2e-4d61-9a0f-3c1b2a4d5e6f",
        "lrn": "LRN-2026-000123",
        "item": {
            "line": line + 1,
            "hsCode": "8471300000",
            "description": "Portable automatic data processing machines, weighing not more than 10 kg",
            "origin": "CN",
            "quantity": "120",
            "unit": "NMB",
            "netMass": "312.5",
            "grossMass": "355.0",
            "invoiceValue": { "amount": "48250.00", "currency": "USD" },
            "preference": null
        }
    });
    NewEvent::new("ItemDeclared", payload).with_metadata(EventMetadata {
        correlation_id: Some(Uuid::new_v4()),
        causation_id: None,
        actor: Some("declarant/ACME".to_owned()),
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadReport {
    pub bench: &'static str,
    pub backend: &'static str,
    pub events: u64,
    pub seconds: f64,
    pub events_per_s: f64,
}

/// Reads the global log from the start, at most `limit` events (all when `None`).
pub async fn read(store: &EventStore, limit: Option<usize>) -> Result<ReadReport, BenchError> {
    let started = Instant::now();
    let events = store
        .read_all(0, Filter::all(), limit.unwrap_or(usize::MAX))
        .try_fold(0u64, |n, _| async move { Ok(n + 1) })
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(ReadReport {
        bench: "read",
        backend: store.backend_name(),
        events,
        seconds: round(seconds, 3),
        events_per_s: round(events as f64 / seconds, 1),
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GrowthReport {
    pub bench: &'static str,
    pub backend: &'static str,
    pub events: u64,
    /// How many appends each mean covers (100, or half the events when fewer than 200).
    pub window: u64,
    pub first_mean_ms: f64,
    pub last_mean_ms: f64,
    pub first_median_ms: f64,
    pub last_median_ms: f64,
    /// `last_median_ms / first_median_ms`: about 1 when append time does not grow with the
    /// stream. Medians, because a WAL checkpoint or a slow fsync landing in one window moves
    /// its mean by more than the stream's length ever could.
    pub ratio: f64,
    /// `last_mean_ms / first_mean_ms`, for comparison.
    pub mean_ratio: f64,
}

/// Appends `events` single events to one stream and compares the first and last appends.
pub async fn stream_growth(
    store: &EventStore,
    events: NonZeroU64,
) -> Result<GrowthReport, BenchError> {
    let stream = StreamId::parse(format!("bench-growth-{}", Uuid::new_v4()))?;
    let mut latencies = Vec::new();
    for version in 0..events.get() {
        let expected = match version {
            0 => ExpectedVersion::NoStream,
            v => ExpectedVersion::Exact(v),
        };
        let event = declaration_item(usize::try_from(version).unwrap_or(usize::MAX));
        let sent = Instant::now();
        store.append(&stream, expected, vec![event]).await?;
        latencies.push(sent.elapsed());
    }
    let window = (latencies.len() / 2).clamp(1, 100);
    let first = mean(&latencies[..window]);
    let last = mean(&latencies[latencies.len() - window..]);
    let first_median = median(&latencies[..window]);
    let last_median = median(&latencies[latencies.len() - window..]);
    Ok(GrowthReport {
        bench: "stream-growth",
        backend: store.backend_name(),
        events: events.get(),
        window: window as u64,
        first_mean_ms: ms(first),
        last_mean_ms: ms(last),
        first_median_ms: ms(first_median),
        last_median_ms: ms(last_median),
        ratio: ratio(last_median, first_median),
        mean_ratio: ratio(last, first),
    })
}

/// The nearest-rank percentile of sorted values (zero when there are none).
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ratio(a: Duration, b: Duration) -> f64 {
    round(a.as_secs_f64() / b.as_secs_f64().max(f64::MIN_POSITIVE), 3)
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    percentile(&sorted, 0.5)
}

fn mean(values: &[Duration]) -> Duration {
    let total: Duration = values.iter().sum();
    total / u32::try_from(values.len().max(1)).unwrap_or(u32::MAX)
}

fn ms(d: Duration) -> f64 {
    round(d.as_secs_f64() * 1000.0, 3)
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::StoreArgs;

    fn nz(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap()
    }

    async fn open(dir: &tempfile::TempDir) -> EventStore {
        StoreArgs::in_dir(dir.path()).open().await.unwrap()
    }

    #[tokio::test]
    async fn two_writers_of_ten_events_append_twenty_events_in_fresh_streams() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir).await;
        let params = AppendParams {
            writers: nz(2),
            events_per_writer: nz(10),
            batch: nz(3),
            stream_events: None,
        };
        let report = append(&store, params).await.unwrap();
        assert_eq!((report.bench, report.backend), ("append", "sqlite"));
        assert_eq!((report.events, report.appends), (20, 8)); // 3 + 3 + 3 + 1 per writer
        assert!(report.p50_ms <= report.p99_ms && report.p99_ms <= report.max_ms);
        assert_eq!(store.head_position().await.unwrap(), 20);

        let everything = read(&store, None).await.unwrap();
        assert_eq!(everything.events, 20);
        assert_eq!(read(&store, Some(5)).await.unwrap().events, 5);
        let line = serde_json::to_value(&report).unwrap();
        assert_eq!(line["events_per_writer"], 10);
        assert!(line.get("stream_events").is_none());
    }

    #[tokio::test]
    async fn with_stream_events_a_writer_fills_a_stream_before_starting_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir).await;
        let params = AppendParams {
            writers: nz(2),
            events_per_writer: nz(10),
            batch: nz(2),
            stream_events: NonZeroU64::new(4),
        };
        let report = append(&store, params).await.unwrap();
        assert_eq!((report.events, report.appends), (20, 10));
        let events: Vec<_> = store
            .read_all(0, Filter::all(), usize::MAX)
            .try_collect()
            .await
            .unwrap();
        let mut streams = std::collections::BTreeMap::<String, u64>::new();
        for event in &events {
            *streams.entry(event.stream_id.clone()).or_default() += 1;
        }
        // Each writer: 4 + 4 + 2 events.
        let mut sizes: Vec<u64> = streams.into_values().collect();
        sizes.sort_unstable();
        assert_eq!(sizes, vec![2, 2, 4, 4, 4, 4]);
    }

    #[tokio::test]
    async fn stream_growth_compares_the_first_and_last_appends() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir).await;
        let report = stream_growth(&store, NonZeroU64::new(20).unwrap())
            .await
            .unwrap();
        assert_eq!((report.events, report.window), (20, 10));
        assert!(report.ratio > 0.0);
        assert_eq!(store.head_position().await.unwrap(), 20);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&values, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&[], 0.99), Duration::ZERO);
    }

    #[test]
    fn the_bench_payload_matches_the_pg_limit_payload_size() {
        let size = serde_json::to_string(&declaration_item(0).payload)
            .unwrap()
            .len();
        assert_eq!(size, 364);
    }
}
