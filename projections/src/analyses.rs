//! The `analyses` read model: one row per live saved analysis of the warehouse, for the
//! `analyses` list. One analysis, just saved, is read from its stream instead
//! (`commands::analysis::AnalysisService::get`).
//!
//! Fed by [`AnalysesProjection`] from every `analysis-<uuid>` stream, each event folded with
//! the domain's [`AnalysisState::evolve`]: a save writes the row, a deletion removes it. An
//! event that does not decode, names another analysis or skips a stream version stops the
//! projection instead of being skipped.

use domain::DomainEvent;
use domain::analysis::{Analysis, AnalysisEvent, AnalysisState};
use eventstore::{Filter, RecordedEvent};
use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use crate::generations::Tables;
use crate::read_models::{Backend, ReadModels};
use crate::runner::{Projection, ProjectionError};
use crate::stored::{format_time, parse_time, stream_uuid, to_i64};

/// The stream category this projection reads.
pub const CATEGORY: &str = "analysis";
/// Its table (and the view queries read).
const TABLE: &str = "analyses";
/// The most analyses [`AnalysesQuery::list`] answers.
pub const MAX_LISTED: u32 = 1000;

const COLUMNS: &str = "id, name, description, query, owner, saved_at, revision, version";

const UPSERT: &str = "INSERT INTO {table} (id, name, name_key, description, query, owner, \
    saved_at, revision, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, name_key = excluded.name_key, \
    description = excluded.description, query = excluded.query, owner = excluded.owner, \
    saved_at = excluded.saved_at, revision = excluded.revision, version = excluded.version";

/// Builds the `analyses` read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnalysesProjection;

impl Projection for AnalysesProjection {
    fn name(&self) -> &'static str {
        "analyses"
    }

    fn version(&self) -> u32 {
        1
    }

    fn filter(&self) -> Filter {
        Filter::categories([CATEGORY])
    }

    fn tables(&self) -> &'static [&'static str] {
        &[TABLE]
    }

    fn schema(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => include_str!("../schema/sqlite/analyses.sql"),
            Backend::Postgres => include_str!("../schema/postgres/analyses.sql"),
        }
    }

    fn apply<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        tables: &'a Tables,
        events: &'a [RecordedEvent],
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        async move {
            let table = tables.name(TABLE);
            for event in events {
                apply(tx, &table, event).await?;
            }
            Ok(())
        }
        .boxed()
    }
}

/// What a stored row holds besides the analysis: the stream version it was folded to.
struct Stored {
    analysis: Analysis,
    version: u64,
}

async fn apply(
    tx: &mut AnyConnection,
    table: &str,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let fail = |message: String| ProjectionError::handler(event, message);
    let id = stream_uuid(CATEGORY, &event.stream_id)
        .ok_or_else(|| fail(format!("{} is not analysis-<uuid>", event.stream_id)))?;
    let decoded = AnalysisEvent::decode(&event.event_type, event.schema_version, &event.payload)
        .map_err(|e| fail(e.to_string()))?;
    let named = match &decoded {
        AnalysisEvent::AnalysisSaved(e) => e.analysis_id,
        AnalysisEvent::AnalysisDeleted(e) => e.analysis_id,
    };
    if named != id {
        return Err(fail(format!("the event names analysis {named}, not {id}")));
    }
    let sql = format!("SELECT {COLUMNS} FROM {table} WHERE id = $1");
    let stored = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(decode_row)
        .transpose()
        .map_err(|e| fail(format!("stored row: {e}")))?;
    // A deleted analysis has no row; its next save starts it again at revision 1.
    let before = match stored {
        Some(Stored { analysis, version }) => {
            if event.stream_version != version + 1 {
                return Err(fail(format!(
                    "stream version {} does not follow the row's version {version}",
                    event.stream_version
                )));
            }
            AnalysisState::Saved(analysis)
        }
        None => AnalysisState::Absent,
    };
    match before.evolve(&decoded) {
        AnalysisState::Saved(analysis) => {
            sqlx::query(sqlx::AssertSqlSafe(UPSERT.replace("{table}", table)))
                .bind(id.to_string())
                .bind(analysis.name.clone())
                .bind(analysis.name.to_lowercase())
                .bind(analysis.description.clone())
                .bind(analysis.query.to_string())
                .bind(analysis.owner.clone())
                .bind(format_time(analysis.saved_at))
                .bind(i64::from(analysis.revision))
                .bind(to_i64(event.stream_version))
                .execute(&mut *tx)
                .await?;
        }
        AnalysisState::Absent | AnalysisState::Deleted => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE id = $1"
            )))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}

fn decode_row(row: &AnyRow) -> Result<Stored, String> {
    let text = |column: &str| -> Result<String, String> {
        row.try_get::<String, _>(column)
            .map_err(|e| format!("{column}: {e}"))
    };
    let number = |column: &str| -> Result<i64, String> {
        row.try_get::<i64, _>(column)
            .map_err(|e| format!("{column}: {e}"))
    };
    let id = text("id")?;
    let query = text("query")?;
    let revision = number("revision")?;
    let version = number("version")?;
    Ok(Stored {
        analysis: Analysis {
            id: Uuid::parse_str(&id).map_err(|e| format!("id {id:?}: {e}"))?,
            name: text("name")?,
            description: row
                .try_get::<Option<String>, _>("description")
                .map_err(|e| format!("description: {e}"))?,
            query: serde_json::from_str(&query).map_err(|e| format!("query: {e}"))?,
            owner: text("owner")?,
            saved_at: parse_time(&text("saved_at")?)?,
            revision: u32::try_from(revision)
                .map_err(|_| format!("revision {revision} is out of range"))?,
        },
        version: u64::try_from(version)
            .map_err(|_| format!("version {version} is out of range"))?,
    })
}

/// A list could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("read-model database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored analysis row is unreadable: {0}")]
    Corrupt(String),
}

/// The queries of the `analyses` read model.
#[derive(Debug, Clone)]
pub struct AnalysesQuery {
    models: ReadModels,
}

impl AnalysesQuery {
    pub fn new(models: ReadModels) -> Self {
        Self { models }
    }

    /// The saved analyses by name (case ignored), at most [`MAX_LISTED`].
    pub async fn list(&self) -> Result<Vec<Analysis>, QueryError> {
        let sql = format!("SELECT {COLUMNS} FROM {TABLE} ORDER BY name_key, id LIMIT {MAX_LISTED}");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.models.pool())
            .await?;
        rows.iter()
            .map(|row| decode_row(row).map(|stored| stored.analysis))
            .collect::<Result<_, _>>()
            .map_err(QueryError::Corrupt)
    }
}
