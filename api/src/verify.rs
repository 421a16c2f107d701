//! `aduana verify`: walks the hash chains and reports, as JSON, the first broken link.

use std::io::Write;

use eventstore::{EventStore, StoreError, StreamId, VerifyReport};

/// Exit code when a link is broken (1 is left for "could not verify").
pub const EXIT_BROKEN: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the report: {0}")]
    Output(#[from] std::io::Error),
}

/// Verifies one stream (`Some(id)`) or the whole log, writes the report as one JSON line to
/// `out`, and returns the process exit code: 0 when every link holds, [`EXIT_BROKEN`] otherwise.
pub async fn run(
    store: &EventStore,
    stream: Option<&str>,
    out: &mut impl Write,
) -> Result<u8, VerifyError> {
    let report = verify(store, stream).await?;
    serde_json::to_writer(&mut *out, &report).map_err(std::io::Error::from)?;
    writeln!(out)?;
    match &report.broken {
        None => {
            tracing::info!(
                streams = report.streams_checked,
                events = report.events_checked,
                "every link holds"
            );
            Ok(0)
        }
        Some(broken) => {
            tracing::error!(
                stream = %broken.stream_id,
                version = broken.stream_version,
                reason = %broken.reason,
                "broken hash chain"
            );
            Ok(EXIT_BROKEN)
        }
    }
}

async fn verify(store: &EventStore, stream: Option<&str>) -> Result<VerifyReport, StoreError> {
    match stream {
        Some(id) => store.verify_stream(&StreamId::parse(id)?).await,
        None => store.verify_all().await,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use eventstore::{ExpectedVersion, NewEvent};
    use sqlx::Connection;

    use super::*;
    use crate::config::StoreArgs;

    async fn store_with_events(args: &StoreArgs) -> EventStore {
        let store = args.open().await.unwrap();
        let stream = StreamId::parse("declaration-1").unwrap();
        for version in 0..3 {
            let event = NewEvent::new("ItemDeclared", serde_json::json!({ "line": version }));
            store
                .append(&stream, ExpectedVersion::Exact(version), vec![event])
                .await
                .unwrap();
        }
        store
    }

    async fn run_to_json(store: &EventStore, stream: Option<&str>) -> (u8, serde_json::Value) {
        let mut out = Vec::new();
        let code = run(store, stream, &mut out).await.unwrap();
        (code, serde_json::from_slice(&out).unwrap())
    }

    #[tokio::test]
    async fn an_intact_log_is_reported_with_exit_code_zero() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_events(&StoreArgs::in_dir(dir.path())).await;

        let (code, report) = run_to_json(&store, None).await;
        assert_eq!(code, 0);
        assert_eq!(
            report,
            serde_json::json!({ "streamsChecked": 1, "eventsChecked": 3, "broken": null })
        );
        let (code, _) = run_to_json(&store, Some("declaration-1")).await;
        assert_eq!(code, 0);
    }

    #[tokio::test]
    async fn a_changed_event_is_reported_with_exit_code_two() {
        let dir = tempfile::tempdir().unwrap();
        let args = StoreArgs::in_dir(dir.path());
        let store = store_with_events(&args).await;
        let mut conn = sqlx::SqliteConnection::connect(args.database_url().expose())
            .await
            .unwrap();
        sqlx::raw_sql(
            "DROP TRIGGER events_are_not_updated; \
             UPDATE events SET payload = '{\"line\":99}' WHERE stream_version = 2;",
        )
        .execute(&mut conn)
        .await
        .unwrap();

        let (code, report) = run_to_json(&store, Some("declaration-1")).await;
        assert_eq!(code, EXIT_BROKEN);
        assert_eq!(report["broken"]["streamVersion"], 2);
        let (code, _) = run_to_json(&store, None).await;
        assert_eq!(code, EXIT_BROKEN);
    }

    #[tokio::test]
    async fn an_invalid_stream_id_is_an_error_not_a_report() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreArgs::in_dir(dir.path()).open().await.unwrap();
        let error = run(&store, Some("Not A Stream"), &mut Vec::new())
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            VerifyError::Store(StoreError::InvalidStreamId { .. })
        ));
    }
}
