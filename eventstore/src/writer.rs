//! The writer task: takes appends from a queue and commits as many as are waiting in one
//! transaction (group commit), so concurrent callers share one fsync. Each append stays atomic
//! and gets its own exact result; see `plan`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{mpsc, oneshot, watch};

use crate::backend::{AnyBackend, Backend, WriteFailure};
use crate::error::StoreError;
use crate::model::AppendResult;
use crate::plan::AppendRequest;

/// Most appends committed in one transaction.
const MAX_BATCH_APPENDS: usize = 512;
/// Most events committed in one transaction (a single larger append still goes alone).
const MAX_BATCH_EVENTS: usize = 8192;

pub(crate) type Reply = oneshot::Sender<Result<AppendResult, StoreError>>;

#[derive(Debug)]
pub(crate) struct Pending {
    pub request: AppendRequest,
    pub reply: Reply,
}

/// State the writer shares with the store handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub backend: AnyBackend,
    /// The position of the last committed event, for waking subscribers.
    pub head: watch::Sender<u64>,
    /// Set when a commit failed: nothing is acknowledged afterwards.
    pub poisoned: AtomicBool,
}

impl Shared {
    pub fn advance_head(&self, position: u64) {
        self.head.send_if_modified(|head| {
            let newer = position > *head;
            if newer {
                *head = position;
            }
            newer
        });
    }

    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }
}

pub(crate) async fn run(shared: Arc<Shared>, mut queue: mpsc::Receiver<Pending>) {
    while let Some(first) = queue.recv().await {
        let mut events = first.request.events.len();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_APPENDS && events < MAX_BATCH_EVENTS {
            match queue.try_recv() {
                Ok(next) => {
                    events += next.request.events.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        commit_group(&shared, batch).await;
    }
    tracing::debug!("event store writer stopped");
}

async fn commit_group(shared: &Shared, batch: Vec<Pending>) {
    let (requests, replies): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|p| (p.request, p.reply)).unzip();
    let Some((requests, replies, error)) = commit(shared, requests, replies).await else {
        return;
    };
    if requests.len() == 1 {
        reply_all(replies, || StoreError::Database(clone_error(&error)));
        return;
    }
    // Something in the batch failed before commit: write each append alone, so one bad append
    // cannot fail the others.
    tracing::warn!(appends = requests.len(), %error, "group commit failed, retrying appends one by one");
    for (request, reply) in requests.into_iter().zip(replies) {
        if let Some((_, replies, error)) = commit(shared, vec![request], vec![reply]).await {
            reply_all(replies, || StoreError::Database(clone_error(&error)));
        }
    }
}

/// Commits a group and answers its callers; hands the group back when it failed before commit.
async fn commit(
    shared: &Shared,
    requests: Vec<AppendRequest>,
    replies: Vec<Reply>,
) -> Option<(Vec<AppendRequest>, Vec<Reply>, sqlx::Error)> {
    if shared.is_poisoned() {
        reply_all(replies, || StoreError::Poisoned);
        return None;
    }
    match shared.backend.write_batch(&requests).await {
        Ok(plan) => {
            if let Some(last) = plan.rows.last() {
                shared.advance_head(last.position);
            }
            for (reply, outcome) in replies.into_iter().zip(plan.outcomes) {
                // A caller that stopped waiting finds its events stored when it retries.
                let _ = reply.send(outcome);
            }
            None
        }
        Err(WriteFailure::Commit(error)) => {
            shared.poisoned.store(true, Ordering::Release);
            tracing::error!(%error, "commit failed; the store handle refuses all further writes");
            let message = error.to_string();
            reply_all(replies, || StoreError::CommitFailed(message.clone()));
            None
        }
        Err(WriteFailure::BeforeCommit(error)) => Some((requests, replies, error)),
    }
}

fn reply_all(replies: Vec<Reply>, error: impl Fn() -> StoreError) {
    for reply in replies {
        let _ = reply.send(Err(error()));
    }
}

/// `sqlx::Error` is not `Clone`; callers of a failed group each get the same description.
fn clone_error(error: &sqlx::Error) -> sqlx::Error {
    sqlx::Error::Protocol(error.to_string())
}
