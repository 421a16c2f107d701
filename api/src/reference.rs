//! Reference data at the edge: `aduana reference import` reads files into the store, and the
//! server's follower keeps the declaration service's view of the reference data current.
//!
//! The view is what filings are validated and assessed against. It is loaded at start-up; the
//! follower refreshes it whenever reference events commit, whoever appends them (this server's
//! `publishReferenceData`, the command line, another server on the same database).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use commands::reference::{self, ImportError, ImportReport, ReferenceFiles, ReferenceView};
use eventstore::{EventStore, Filter, StoreError};
use futures::TryStreamExt;
use tokio::task::JoinHandle;

/// The actor recorded on reference events imported from the command line.
pub const CLI_ACTOR: &str = "admin/cli";

/// Why `aduana reference import` imported nothing.
#[derive(Debug, thiserror::Error)]
pub enum FileImportError {
    #[error("nothing to import: name reference files, or give --sample")]
    NothingToImport,
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Bad rows (every one listed) or a store failure.
    #[error(transparent)]
    Import(#[from] ImportError),
}

/// Reads reference files (CSV or JSON, each recognised by its name or header row), adds the
/// shipped sample when `sample` is set, and imports the lot as [`CLI_ACTOR`]. A file set with any
/// bad row is refused whole: [`ImportError::Invalid`] lists every row error and nothing is
/// written. Importing data the store already holds writes nothing again.
pub async fn import_files(
    store: &EventStore,
    paths: &[PathBuf],
    sample: bool,
) -> Result<ImportReport, FileImportError> {
    if paths.is_empty() && !sample {
        return Err(FileImportError::NothingToImport);
    }
    let mut events = Vec::new();
    if sample {
        events = reference::sample_events().map_err(ImportError::Invalid)?;
    }
    if !paths.is_empty() {
        let mut files = ReferenceFiles::new();
        for path in paths {
            let text = std::fs::read_to_string(path).map_err(|source| FileImportError::Read {
                path: path.clone(),
                source,
            })?;
            files.add(&path.display().to_string(), &text);
        }
        events.extend(files.events().map_err(ImportError::Invalid)?);
    }
    Ok(reference::import(store, events, CLI_ACTOR).await?)
}

/// Refreshes a [`ReferenceView`] one refresh at a time. (Two refreshes running at once could
/// each read from the same position and apply their events out of order, an older republished
/// line last.) Cheap to clone: clones share the view and the lock.
#[derive(Debug, Clone)]
pub struct Refresher {
    view: ReferenceView,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl Refresher {
    pub fn new(view: ReferenceView) -> Self {
        Self {
            view,
            lock: Arc::default(),
        }
    }

    /// Applies the reference events committed since the last refresh.
    pub async fn refresh(&self, store: &EventStore) -> Result<(), StoreError> {
        let _one_at_a_time = self.lock.lock().await;
        self.view.refresh(store).await
    }

    pub fn view(&self) -> &ReferenceView {
        &self.view
    }
}

/// Longest pause before following the log again after a failure.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// Keeps the refresher's view current: follows the reference streams of the log after position `after`
/// (take it before loading the view, so nothing committed in between is missed) and refreshes
/// the view when reference events arrive. After a failure it waits (200 ms, doubling up to 30 s)
/// and follows again from where it was; it stops when the store is closed, or when the returned
/// handle is aborted.
pub fn follow(store: EventStore, view: Refresher, after: u64) -> JoinHandle<()> {
    tokio::spawn(following(store, view, after))
}

/// What [`follow`] runs, for a caller that runs it beside other work in one task.
pub async fn following(store: EventStore, view: Refresher, after: u64) {
    let mut after = after;
    let mut delay = Duration::from_millis(200);
    loop {
        let from = after;
        let result = follow_from(&store, &view, &mut after).await;
        if after > from {
            delay = Duration::from_millis(200);
        }
        match result {
            Ok(()) | Err(StoreError::Closed) => {
                tracing::debug!("reference follower stopped: the store is closed");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, code = error.code(), retry_in_ms = delay.as_millis() as u64, "reference follower failed");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_RETRY_DELAY);
            }
        }
    }
}

/// Follows until an error; `after` advances past every event the view has applied.
async fn follow_from(
    store: &EventStore,
    view: &Refresher,
    after: &mut u64,
) -> Result<(), StoreError> {
    let mut events =
        std::pin::pin!(store.subscribe_all(*after, Filter::categories(reference::CATEGORIES)));
    while let Some(event) = events.try_next().await? {
        if event.position <= *after {
            // Already applied by an earlier refresh (one refresh takes a whole burst).
            continue;
        }
        // A refresh reads up to the head committed when it starts, at least this one.
        let applied_up_to = store.head().max(event.position);
        view.refresh(store).await?;
        *after = applied_up_to;
        tracing::info!(
            position = applied_up_to,
            tariff_codes = view.view().tariff_code_count(),
            "reference data refreshed"
        );
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::StoreArgs;

    const TARIFF: &str = "hs_code,description,duty_rate,specific_rate,specific_unit,vat_rate,valid_from,valid_to\n\
        8471300000,Portable computers,8,,,10,2020-01-01,\n";

    #[tokio::test]
    async fn the_follower_refreshes_the_view_when_reference_data_arrives() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreArgs::in_dir(dir.path()).open().await.unwrap();
        let after = store.head_position().await.unwrap();
        let view = ReferenceView::load(&store).await.unwrap();
        let follower = follow(store.clone(), Refresher::new(view.clone()), after);
        assert_eq!(view.tariff_code_count(), 0);

        let path = dir.path().join("tariff.csv");
        std::fs::write(&path, TARIFF).unwrap();
        import_files(&store, &[path], false).await.unwrap();

        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while view.tariff_code_count() == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the view was not refreshed"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(view.tariff_code_count(), 1);
        follower.abort();
        store.close().await;
    }

    #[tokio::test]
    async fn an_import_needs_files_or_the_sample() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreArgs::in_dir(dir.path()).open().await.unwrap();
        assert!(matches!(
            import_files(&store, &[], false).await,
            Err(FileImportError::NothingToImport)
        ));
        let missing = dir.path().join("missing.csv");
        assert!(matches!(
            import_files(&store, &[missing], false).await,
            Err(FileImportError::Read { .. })
        ));
        store.close().await;
    }
}
