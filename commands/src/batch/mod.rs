//! Batch transmission: many declarations in one upload, filed as the bytes arrive.
//!
//! The body is parsed chunk by chunk ([`parse`]); each item is filed through the same
//! [`DeclarationService`] as the web channel, a bounded number at a time, and its result is
//! recorded in the batch's stream (`batch-<id>`) in item order, a chunk of results per event.
//! Memory stays bounded whatever the upload's size: the body is read only as fast as items are
//! filed (backpressure), and nothing but the results of the current chunk is kept.
//!
//! Nothing is lost or duplicated when a connection or the server dies mid-way: a declaration's
//! id is derived from (declarant, LRN) and a filing sent again is answered with its original
//! result, so the sender may send the same batch again (with the same batch id, the items
//! already recorded are skipped; with another, every item is answered again).

pub mod parse;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use domain::DomainEvent;
use domain::batch::{
    Batch, BatchCompleted, BatchEvent, BatchFormat, BatchInterrupted, BatchItemsRecorded,
    BatchReceived, BatchResumed, BatchStatus, BatchTotals, ItemError, ItemOutcome, ItemResult,
};
use domain::codes::HsCode;
use domain::declaration::{DeclarationError, Status};
use eventstore::{
    Direction, EventMetadata, EventStore, ExpectedVersion, NewEvent, StoreError, StreamId,
};
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::declaration::{Caller, CommandError, DeclarationService, Role};
use parse::{BatchFiling, FormatError, ParsedItem, Parser};

/// How a batch is processed.
#[derive(Debug, Clone, Copy)]
pub struct BatchSettings {
    /// Items filed at once (each waits for its append: concurrency fills group commits).
    pub concurrency: usize,
    /// Results per `BatchItemsRecorded` event, at most.
    pub chunk_items: usize,
    /// Results are recorded at least this often while items are being filed.
    pub flush_interval: Duration,
    /// The largest body accepted, in bytes.
    pub max_bytes: u64,
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self {
            concurrency: 64,
            chunk_items: 500,
            flush_interval: Duration::from_millis(500),
            max_bytes: 4 << 30,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("batch {0} not found")]
    NotFound(Uuid),
    /// The same batch is being received on another connection.
    #[error("batch {0} is being processed on another connection; retry later")]
    InProgress(Uuid),
    /// The batch id belongs to another sender: choose another.
    #[error("batch id {0} is taken by another sender; choose another id")]
    IdTaken(Uuid),
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("the body is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// The body could not be read to its end (the connection broke, the upload was cut).
    #[error("the body could not be read to its end: {0}")]
    Body(String),
    #[error(transparent)]
    Store(StoreError),
    #[error("stored event unreadable: {0}")]
    Corrupt(String),
}

impl BatchError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "BATCH_NOT_FOUND",
            Self::InProgress(_) => "BATCH_IN_PROGRESS",
            Self::IdTaken(_) => "BATCH_ID_TAKEN",
            Self::Format(e) => e.code(),
            Self::TooLarge { .. } => "BATCH_TOO_LARGE",
            Self::Body(_) => "BODY_INCOMPLETE",
            Self::Store(e) => e.code(),
            Self::Corrupt(_) => "STORE_CORRUPT",
        }
    }
}

impl From<StoreError> for BatchError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// A submission that did not complete: why, and the batch as recorded (when it was created).
#[derive(Debug)]
pub struct Failure {
    pub error: BatchError,
    pub batch: Option<Batch>,
}

impl From<BatchError> for Failure {
    fn from(error: BatchError) -> Self {
        Self { error, batch: None }
    }
}

/// One upload of a batch.
#[derive(Debug)]
pub struct Upload<S> {
    pub batch_id: Uuid,
    pub format: BatchFormat,
    /// The announced size, when the sender gave one.
    pub content_length: Option<u64>,
    pub body: S,
}

/// Receives batches and answers for them.
#[derive(Debug, Clone)]
pub struct BatchService {
    store: EventStore,
    declarations: DeclarationService,
    settings: BatchSettings,
    /// Batches being received by this process.
    active: Arc<Mutex<HashSet<Uuid>>>,
}

/// Removes a batch from the active set when its upload ends, however it ends.
struct ActiveGuard {
    active: Arc<Mutex<HashSet<Uuid>>>,
    id: Uuid,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

impl BatchService {
    pub fn new(
        store: EventStore,
        declarations: DeclarationService,
        settings: BatchSettings,
    ) -> Self {
        Self {
            store,
            declarations,
            settings,
            active: Arc::default(),
        }
    }

    pub fn settings(&self) -> BatchSettings {
        self.settings
    }

    /// Receives one upload of a batch and files its items. Returns the batch when every item
    /// has its result; otherwise the error and the batch as recorded (its results stand).
    pub async fn submit<S, E>(&self, caller: &Caller, upload: Upload<S>) -> Result<Batch, Failure>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        if !matches!(caller.role, Role::Declarant | Role::Admin) {
            return Err(BatchError::Forbidden("only declarants and admins send batches").into());
        }
        if upload
            .content_length
            .is_some_and(|n| n > self.settings.max_bytes)
        {
            return Err(BatchError::TooLarge {
                limit: self.settings.max_bytes,
            }
            .into());
        }
        let id = upload.batch_id;
        let _guard = {
            let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
            if !active.insert(id) {
                return Err(BatchError::InProgress(id).into());
            }
            ActiveGuard {
                active: Arc::clone(&self.active),
                id,
            }
        };
        let (mut batch, mut version) = self.status_and_version(id).await?;
        let now = Utc::now();
        let metadata = self.metadata(caller, id);
        if version == 0 {
            let received = BatchEvent::BatchReceived(BatchReceived {
                batch_id: id,
                format: upload.format,
                submitted_by: caller.actor.to_string(),
                organisation: match caller.role {
                    Role::Declarant => caller.organisation.clone(),
                    _ => None,
                },
                content_length: upload.content_length,
                at: now,
            });
            version = self
                .append(id, version, &metadata, &received)
                .await
                .map_err(|e| match e {
                    BatchError::Store(StoreError::WrongExpectedVersion { .. }) => {
                        BatchError::InProgress(id)
                    }
                    other => other,
                })?;
            batch = batch.evolve(&received);
        } else {
            if !owns(caller, &batch) {
                // Someone else's batch id: nothing about it is told.
                return Err(BatchError::IdTaken(id).into());
            }
            if batch.status == BatchStatus::Completed {
                return Ok(batch);
            }
            if batch.format != Some(upload.format) {
                return Err(BatchError::Format(FormatError::CsvHeader(format!(
                    "batch {id} was sent as {}; send it again in that format",
                    batch.format.map_or("?", BatchFormat::as_str)
                )))
                .into());
            }
            let resumed = BatchEvent::BatchResumed(BatchResumed {
                batch_id: id,
                totals: batch.totals,
                at: now,
            });
            version = self.append(id, version, &metadata, &resumed).await?;
            batch = batch.evolve(&resumed);
        }

        let mut run = Run {
            service: self,
            id,
            version,
            metadata,
            totals: batch.totals,
            pending: Vec::new(),
            pending_bytes: 0,
        };
        let outcome = run.file_items(caller, upload).await;
        // Results already filed are recorded even when the upload failed.
        let flushed = run.flush().await;
        let end = match &outcome {
            Ok(()) => BatchEvent::BatchCompleted(BatchCompleted {
                batch_id: id,
                totals: run.totals,
                at: Utc::now(),
            }),
            Err(error) => BatchEvent::BatchInterrupted(BatchInterrupted {
                batch_id: id,
                totals: run.totals,
                reason: error.to_string(),
                at: Utc::now(),
            }),
        };
        let recorded = match flushed {
            Ok(()) => self
                .append(id, run.version, &run.metadata, &end)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        let batch = Batch {
            totals: run.totals,
            ..batch
        }
        .evolve(&end);
        match (outcome, recorded) {
            (Ok(()), Ok(())) => Ok(batch),
            (Err(error), _) | (Ok(()), Err(error)) => Err(Failure {
                error,
                batch: Some(batch),
            }),
        }
    }

    /// [`BatchService::submit`] in a task of its own: when the sender goes away mid-way (its
    /// request is dropped), the batch is still recorded as interrupted, with the results so
    /// far, instead of being dropped with the request.
    pub async fn submit_detached<S, E>(
        &self,
        caller: Caller,
        upload: Upload<S>,
    ) -> Result<Batch, Failure>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let service = self.clone();
        match tokio::spawn(async move { service.submit(&caller, upload).await }).await {
            Ok(submitted) => submitted,
            Err(e) => Err(Failure {
                error: BatchError::Corrupt(format!("batch task failed: {e}")),
                batch: None,
            }),
        }
    }

    /// The batch as the caller may see it.
    pub async fn get(&self, caller: &Caller, id: Uuid) -> Result<Batch, BatchError> {
        let (batch, version) = self.status_and_version(id).await?;
        if version == 0 || !may_read(caller, &batch) {
            return Err(BatchError::NotFound(id));
        }
        Ok(batch)
    }

    /// The results recorded for a batch, in item order, a chunk at a time.
    pub fn results(
        &self,
        id: Uuid,
    ) -> impl Stream<Item = Result<Vec<ItemResult>, BatchError>> + Send + '_ {
        async_stream::try_stream! {
            let stream = stream(id);
            let mut events = std::pin::pin!(self.store.read_stream(
                &stream,
                Direction::Forward,
                None,
                usize::MAX
            ));
            while let Some(recorded) = events.try_next().await? {
                if recorded.event_type != "BatchItemsRecorded" {
                    continue;
                }
                if let BatchEvent::BatchItemsRecorded(e) = decode(&recorded)? {
                    yield e.results;
                }
            }
        }
    }

    /// The batch from its first and last events (every event carries the running totals).
    async fn status_and_version(&self, id: Uuid) -> Result<(Batch, u64), BatchError> {
        let stream = stream(id);
        let first = self
            .store
            .read_stream(&stream, Direction::Forward, None, 1)
            .try_collect::<Vec<_>>()
            .await?;
        let Some(first) = first.into_iter().next() else {
            return Ok((Batch::default(), 0));
        };
        let last = self
            .store
            .read_stream(&stream, Direction::Backward, None, 1)
            .try_collect::<Vec<_>>()
            .await?;
        let mut batch = Batch::default().evolve(&decode(&first)?);
        let mut version = first.stream_version;
        if let Some(last) = last.into_iter().next()
            && last.stream_version > first.stream_version
        {
            batch = batch.evolve(&decode(&last)?);
            version = last.stream_version;
        }
        Ok((batch, version))
    }

    fn metadata(&self, caller: &Caller, id: Uuid) -> EventMetadata {
        EventMetadata {
            correlation_id: Some(id),
            causation_id: None,
            actor: Some(caller.actor.to_string()),
        }
    }

    async fn append(
        &self,
        id: Uuid,
        version: u64,
        metadata: &EventMetadata,
        event: &BatchEvent,
    ) -> Result<u64, BatchError> {
        let payload = event
            .payload()
            .map_err(|e| BatchError::Corrupt(e.to_string()))?;
        let new = NewEvent::new(event.event_type(), payload)
            .with_schema_version(event.schema_version())
            .with_metadata(metadata.clone());
        let expected = if version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(version)
        };
        let result = self.store.append(&stream(id), expected, vec![new]).await;
        match result {
            Ok(r) => Ok(r.next_version),
            Err(StoreError::WrongExpectedVersion { .. }) if version > 0 => {
                // Another process records results for this batch too.
                Err(BatchError::InProgress(id))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Files one item and gives its result; `Err` only when the store fails.
    async fn file_item(
        &self,
        caller: &Caller,
        format: BatchFormat,
        item: ParsedItem,
    ) -> Result<ItemResult, BatchError> {
        let ParsedItem { item, line, parsed } = item;
        let mut result = ItemResult {
            item,
            line,
            lrn: None,
            declarant: None,
            outcome: ItemOutcome::Rejected {
                declaration_id: None,
                errors: Vec::new(),
            },
            replayed: false,
        };
        let reject = |mut result: ItemResult, error: ItemError| {
            result.outcome = ItemOutcome::Rejected {
                declaration_id: None,
                errors: vec![error],
            };
            result
        };
        let filing = match parsed {
            Ok(filing) => filing,
            Err(error) => return Ok(reject(result, error)),
        };
        let BatchFiling {
            mut filing,
            filing_date,
        } = filing;
        result.lrn = filing.header.lrn.as_deref().map(|l| l.trim().to_owned());
        result.declarant = filing
            .header
            .declarant
            .as_deref()
            .map(|d| d.trim().to_owned())
            .or_else(|| {
                caller
                    .organisation
                    .clone()
                    .filter(|_| caller.role == Role::Declarant)
            });

        if caller.role == Role::Declarant
            && result.declarant.is_some()
            && result.declarant != caller.organisation
        {
            let error = ItemError::new(
                "DECLARANT_NOT_ALLOWED",
                Some("header.declarant"),
                "a declarant's batch files only for that declarant",
            );
            return Ok(reject(result, error));
        }
        let filing_date = match (filing_date, caller.role, format) {
            (None, ..) => None,
            (Some(text), Role::Admin, _) => {
                match NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
                    Ok(date) => Some(date),
                    Err(_) => {
                        let error = ItemError::new(
                            "INVALID_FILING_DATE",
                            Some("filingDate"),
                            format!("{text:?} is not a date (YYYY-MM-DD)"),
                        );
                        return Ok(reject(result, error));
                    }
                }
            }
            // A declarant's CSV carries the KCS Date column: its filing date is today.
            (Some(_), _, BatchFormat::KcsCsv) => None,
            (Some(_), ..) => {
                let error = ItemError::new(
                    "FILING_DATE_NOT_ALLOWED",
                    Some("filingDate"),
                    "only an admin loading historical data names the filing date",
                );
                return Ok(reject(result, error));
            }
        };
        if format == BatchFormat::KcsCsv {
            self.describe_items(&mut filing, filing_date);
        }

        let mut attempts = 0;
        let outcome = loop {
            attempts += 1;
            match self
                .declarations
                .file_dated(caller, filing.clone(), filing_date)
                .await
            {
                Err(CommandError::Conflict { .. }) if attempts < 5 => continue,
                other => break other,
            }
        };
        match outcome {
            Ok(outcome) => {
                result.replayed = outcome.replayed;
                result.outcome = if outcome.state.status == Status::Rejected {
                    let mut errors: Vec<ItemError> = outcome
                        .errors
                        .iter()
                        .take(MAX_ITEM_ERRORS)
                        .map(|e| ItemError::new(e.code.as_str(), Some(&e.path), &e.message))
                        .collect();
                    if outcome.errors.len() > MAX_ITEM_ERRORS {
                        errors.push(ItemError::new(
                            "MORE_ERRORS",
                            None,
                            format!(
                                "{} more errors: see the declaration's rejection",
                                outcome.errors.len() - MAX_ITEM_ERRORS
                            ),
                        ));
                    }
                    ItemOutcome::Rejected {
                        declaration_id: Some(outcome.id),
                        errors,
                    }
                } else {
                    ItemOutcome::Accepted {
                        declaration_id: outcome.id,
                        status: outcome.state.status,
                        lane: outcome.state.lane,
                        taxes: outcome.state.assessment.as_ref().map(|a| a.totals.taxes),
                    }
                };
                Ok(result)
            }
            Err(CommandError::Rejected(e @ DeclarationError::DuplicateLrn { .. })) => {
                let error = ItemError::new(
                    e.code(),
                    Some("header.lrn"),
                    format!("{e}: this LRN was filed before with different content"),
                );
                Ok(reject(result, error))
            }
            Err(CommandError::Rejected(e)) => {
                let error = ItemError::new(e.code(), None, e.to_string());
                Ok(reject(result, error))
            }
            Err(CommandError::Forbidden(why)) => {
                Ok(reject(result, ItemError::new("FORBIDDEN", None, why)))
            }
            Err(CommandError::NotFound(_)) => Ok(reject(
                result,
                ItemError::new(
                    "FORBIDDEN",
                    Some("header.declarant"),
                    "not your declaration",
                ),
            )),
            Err(CommandError::Store(e)) => Err(BatchError::Store(e)),
            Err(CommandError::Conflict { expected, actual }) => Err(BatchError::Corrupt(format!(
                "declaration kept changing (expected version {expected}, now {actual})"
            ))),
            Err(CommandError::Corrupt(e)) => Err(BatchError::Corrupt(e)),
        }
    }

    /// KCS rows carry no goods description: the tariff line's description stands in.
    fn describe_items(&self, filing: &mut domain::declaration::RawFiling, date: Option<NaiveDate>) {
        let snapshot = self.declarations.reference().snapshot();
        let date = date.unwrap_or_else(|| Utc::now().date_naive());
        for item in &mut filing.items {
            if item.description.is_some() {
                continue;
            }
            let Some(code) = item.hs_code.as_deref() else {
                continue;
            };
            item.description = Some(
                HsCode::parse(code)
                    .ok()
                    .and_then(|hs| snapshot.tariff_line(&hs, date))
                    .map_or_else(|| format!("Goods of HS {code}"), |l| l.description.clone()),
            );
        }
    }
}

/// One upload being filed: the recorded version and the results not yet recorded.
struct Run<'a> {
    service: &'a BatchService,
    id: Uuid,
    version: u64,
    metadata: EventMetadata,
    totals: BatchTotals,
    pending: Vec<ItemResult>,
    /// About how large the pending results are in JSON.
    pending_bytes: usize,
}

impl Run<'_> {
    async fn file_items<S, E>(
        &mut self,
        caller: &Caller,
        upload: Upload<S>,
    ) -> Result<(), BatchError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let settings = self.service.settings;
        let skip = self.totals.items;
        let format = upload.format;
        let items = parsed_items(upload.body, format, settings.max_bytes)
            .try_filter(move |item| std::future::ready(item.item > skip));
        let service = self.service;
        let concurrency = settings.concurrency.max(1);
        // Items of one declaration are filed in item order: an item waits for the one before it
        // with the same (declarant, LRN), so the first of two different filings wins.
        let completed = Arc::new(AtomicU64::new(0));
        let seen = Arc::clone(&completed);
        let mut in_flight: HashMap<String, (u64, oneshot::Receiver<()>)> = HashMap::new();
        let mut results = std::pin::pin!(
            items
                .map(move |item| {
                    let (done, done_rx) = oneshot::channel::<()>();
                    let before = item
                        .as_ref()
                        .ok()
                        .and_then(|i| Some((i.item, declaration_key(caller, i)?)))
                        .and_then(|(n, key)| in_flight.insert(key, (n, done_rx)))
                        .map(|(_, rx)| rx);
                    if in_flight.len() > 4 * concurrency {
                        let finished = seen.load(Ordering::Relaxed);
                        in_flight.retain(|_, (n, _)| *n > finished);
                    }
                    // A task of its own: an item in flight holds a database connection, and
                    // must go on while this loop waits for its results to be recorded.
                    let service = service.clone();
                    let caller = caller.clone();
                    let task = tokio::spawn(async move {
                        if let Some(before) = before {
                            // An error means the item before was dropped: go on.
                            let _ = before.await;
                        }
                        let result = match item {
                            Ok(item) => service.file_item(&caller, format, item).await,
                            Err(e) => Err(e),
                        };
                        let _ = done.send(());
                        result
                    });
                    async move {
                        task.await.unwrap_or_else(|e| {
                            Err(BatchError::Corrupt(format!("filing task failed: {e}")))
                        })
                    }
                })
                .buffered(concurrency)
        );
        let mut tick = tokio::time::interval(settings.flush_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                next = results.next() => match next {
                    Some(Ok(result)) => {
                        completed.store(result.item, Ordering::Relaxed);
                        self.pending_bytes += approximate_size(&result);
                        self.pending.push(result);
                        if self.pending.len() >= settings.chunk_items
                            || self.pending_bytes >= MAX_CHUNK_BYTES
                        {
                            self.flush().await?;
                        }
                    }
                    Some(Err(error)) => return Err(error),
                    None => return Ok(()),
                },
                _ = tick.tick() => self.flush().await?,
            }
        }
    }

    /// Records the pending results.
    async fn flush(&mut self) -> Result<(), BatchError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let results = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let totals = self.totals.with(&results);
        let event = BatchEvent::BatchItemsRecorded(BatchItemsRecorded {
            batch_id: self.id,
            results,
            totals,
            at: Utc::now(),
        });
        self.version = self
            .service
            .append(self.id, self.version, &self.metadata, &event)
            .await?;
        self.totals = totals;
        Ok(())
    }
}

/// Results per event stay well below the store's 1 MiB payload limit.
const MAX_CHUNK_BYTES: usize = 256 << 10;

/// Most errors an item result lists; the declaration's own `DeclarationRejected` has them all.
const MAX_ITEM_ERRORS: usize = 100;

/// An upper estimate of a result's JSON size.
fn approximate_size(result: &ItemResult) -> usize {
    let errors = match &result.outcome {
        ItemOutcome::Rejected { errors, .. } => errors
            .iter()
            .map(|e| 48 + e.code.len() + e.message.len() + e.field.as_ref().map_or(0, String::len))
            .sum(),
        ItemOutcome::Accepted { .. } => 0,
    };
    256 + result.lrn.as_ref().map_or(0, String::len)
        + result.declarant.as_ref().map_or(0, String::len)
        + errors
}

/// What makes two items the same declaration: the declarant (the caller's organisation when
/// the filing names none) and the LRN, as filed.
fn declaration_key(caller: &Caller, item: &ParsedItem) -> Option<String> {
    let header = &item.parsed.as_ref().ok()?.filing.header;
    let lrn = header.lrn.as_deref()?.trim();
    let declarant = header
        .declarant
        .as_deref()
        .map(str::trim)
        .or(caller.organisation.as_deref())?;
    Some(format!("{declarant}\n{lrn}"))
}

/// The items of a body, as the bytes arrive; an error ends the stream.
fn parsed_items<S, E>(
    body: S,
    format: BatchFormat,
    max_bytes: u64,
) -> impl Stream<Item = Result<ParsedItem, BatchError>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    struct State<S> {
        body: S,
        parser: Parser,
        read: u64,
        done: bool,
    }
    let state = State {
        body,
        parser: Parser::new(format),
        read: 0,
        done: false,
    };
    futures::stream::unfold(state, move |mut state| async move {
        if state.done {
            return None;
        }
        let mut out = Vec::new();
        // Read until a chunk completes at least one item (or the body ends).
        while out.is_empty() {
            let step = match state.body.next().await {
                Some(Ok(chunk)) => {
                    state.read += chunk.len() as u64;
                    if state.read > max_bytes {
                        Err(BatchError::TooLarge { limit: max_bytes })
                    } else {
                        state
                            .parser
                            .push(&chunk, &mut out)
                            .map_err(BatchError::from)
                    }
                }
                Some(Err(e)) => Err(BatchError::Body(e.to_string())),
                None => {
                    state.done = true;
                    state.parser.finish(&mut out).map_err(BatchError::from)
                }
            };
            if let Err(error) = step {
                state.done = true;
                let items: Vec<_> = out.into_iter().map(Ok).chain([Err(error)]).collect();
                return Some((futures::stream::iter(items), state));
            }
            if state.done {
                break;
            }
        }
        let items: Vec<_> = out.into_iter().map(Ok).collect();
        Some((futures::stream::iter(items), state))
    })
    .flatten()
}

fn decode(recorded: &eventstore::RecordedEvent) -> Result<BatchEvent, BatchError> {
    BatchEvent::decode(
        &recorded.event_type,
        recorded.schema_version,
        &recorded.payload,
    )
    .map_err(|e| {
        BatchError::Corrupt(format!(
            "{} v{}: {e}",
            recorded.stream_id, recorded.stream_version
        ))
    })
}

/// Whether the caller sent this batch (or may continue it): the same organisation for
/// declarants, the same actor for admins.
fn owns(caller: &Caller, batch: &Batch) -> bool {
    match caller.role {
        Role::Declarant => {
            caller.organisation.is_some() && batch.organisation == caller.organisation
        }
        Role::Admin => batch.submitted_by == caller.actor.to_string(),
        _ => false,
    }
}

/// A declarant sees its organisation's batches; officers, auditors and admins see all.
pub fn may_read(caller: &Caller, batch: &Batch) -> bool {
    match caller.role {
        Role::Declarant => {
            caller.organisation.is_some() && batch.organisation == caller.organisation
        }
        Role::Officer | Role::Auditor | Role::Admin => true,
        Role::Integrator | Role::Analyst => false,
    }
}

/// The stream category of batches: one stream `batch-<uuid>` per batch.
pub const CATEGORY: &str = "batch";

/// The stream of a batch.
pub fn stream(id: Uuid) -> StreamId {
    // `batch-` followed by a UUID is always a valid stream id.
    StreamId::parse(format!("{CATEGORY}-{id}")).unwrap_or_else(|e| unreachable!("{e}"))
}
