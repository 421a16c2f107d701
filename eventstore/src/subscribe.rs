//! Catch-up then live subscriptions. A subscriber reads pages after its position up to the
//! committed head; when it has caught up it sleeps on the head watch, which this process's writer
//! advances after each commit and a refresher advances for other processes' commits (PostgreSQL
//! NOTIFY as the hint, a periodic re-read as the fallback). No busy polling.
//!
//! Exactly once, in order: writers are serialized and positions are dense, so every position at
//! or below a committed head is committed and visible (docs/adr/0001-global-order.md).

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::Stream;
use uuid::Uuid;

use crate::backend::{AnyBackend, Backend, PAGE, scan_all};
use crate::error::StoreError;
use crate::model::{Direction, Filter, RecordedEvent};
use crate::writer::Shared;

pub(crate) fn all(
    shared: Arc<Shared>,
    after: u64,
    filter: Filter,
) -> impl Stream<Item = Result<RecordedEvent, StoreError>> + Send + 'static {
    async_stream::try_stream! {
        let mut head_rx = shared.head.subscribe();
        let mut after = after;
        loop {
            let head = *head_rx.borrow_and_update();
            if head > after {
                let (page, scanned) = scan_all(&shared.backend, after, head, &filter, PAGE).await?;
                for event in page {
                    yield event;
                }
                // Nothing else up to `scanned` matches the filter.
                after = scanned;
                continue;
            }
            if head_rx.changed().await.is_err() {
                Err(StoreError::Closed)?;
            }
        }
    }
}

pub(crate) fn stream(
    shared: Arc<Shared>,
    stream: String,
    after_version: u64,
) -> impl Stream<Item = Result<RecordedEvent, StoreError>> + Send + 'static {
    async_stream::try_stream! {
        let mut head_rx = shared.head.subscribe();
        let mut next = after_version + 1;
        loop {
            head_rx.borrow_and_update();
            let page = shared
                .backend
                .read_stream_page(&stream, next, Direction::Forward, PAGE)
                .await?;
            let full = page.len() == PAGE;
            for event in page {
                next = event.stream_version + 1;
                yield event;
            }
            if !full && head_rx.changed().await.is_err() {
                Err(StoreError::Closed)?;
            }
        }
    }
}

/// Keeps the head watch current with commits made by other processes.
pub(crate) async fn refresh_head(shared: Weak<Shared>, instance: Uuid, poll: Duration) {
    let own = format!("{instance}:");
    let mut listener = match shared.upgrade().as_deref().map(|s| &s.backend) {
        Some(AnyBackend::Postgres(pg)) => match pg.listener().await {
            Ok(listener) => Some(listener),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for commits, falling back to polling");
                None
            }
        },
        Some(AnyBackend::Sqlite(_)) => None,
        None => return,
    };
    loop {
        let refresh = match listener.as_mut() {
            Some(l) => tokio::select! {
                received = l.recv() => match received {
                    Ok(notification) => {
                        let mut foreign = !notification.payload().starts_with(&own);
                        while let Some(next) = l.next_buffered() {
                            foreign |= !next.payload().starts_with(&own);
                        }
                        foreign
                    }
                    Err(error) => {
                        tracing::warn!(%error, "commit listener failed, falling back to polling");
                        listener = None;
                        true
                    }
                },
                () = tokio::time::sleep(poll) => true,
            },
            None => {
                tokio::time::sleep(poll).await;
                true
            }
        };
        if !refresh {
            continue;
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match shared.backend.head_position().await {
            Ok(head) => shared.advance_head(head),
            Err(StoreError::Database(sqlx::Error::PoolClosed)) => return,
            Err(error) => tracing::debug!(%error, "cannot re-read the head position"),
        }
    }
}
