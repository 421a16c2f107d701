//! The `declarations` read model: one row per declaration (status, lane, totals, payments) and
//! its current item lines, for the `declaration(id)` and `declarations(filter)` queries.
//!
//! Fed by [`DeclarationsProjection`] from every `declaration-<uuid>` stream. Each event is
//! decoded with the domain's [`DeclarationEvent`]; one that does not decode, or does not fit
//! the row (an event before any filing, a skipped stream version, an assessment of a line the
//! declaration lacks), stops the projection with a handler error instead of being skipped.
//! Rejected filings get a row too (status `rejected`, with the error count), so a declarant
//! sees them in its list.

mod query;
mod row;
mod sql;

pub use query::{
    DeclarationFilter, DeclarationsQuery, MAX_PAGE_SIZE, Page, PageRequest, QueryError, Scope,
    TariffCodePrefix,
};
pub use row::{DeclarationRow, ItemRow};

use domain::DomainEvent;
use domain::declaration::DeclarationEvent;
use eventstore::{Filter, RecordedEvent};
use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::AnyConnection;
use uuid::Uuid;

use crate::runner::{Projection, ProjectionError};
use row::Recorded;
use sql::WriteError;

/// The stream category this projection reads.
pub const CATEGORY: &str = "declaration";

/// Builds the `declarations` read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeclarationsProjection;

impl Projection for DeclarationsProjection {
    fn name(&self) -> &'static str {
        "declarations"
    }

    fn version(&self) -> u32 {
        1
    }

    fn filter(&self) -> Filter {
        Filter::categories([CATEGORY])
    }

    fn apply<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        event: &'a RecordedEvent,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        apply(tx, event).boxed()
    }

    fn reset<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        async move { Ok(sql::delete_all(tx).await?) }.boxed()
    }
}

#[tracing::instrument(level = "debug", skip_all, fields(stream = %event.stream_id, position = event.position))]
async fn apply(tx: &mut AnyConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
    let fail = |message: String| ProjectionError::handler(event, message);
    let id = stream_uuid(&event.stream_id)
        .ok_or_else(|| fail(format!("{} is not declaration-<uuid>", event.stream_id)))?;
    let decoded = DeclarationEvent::decode(&event.event_type, event.schema_version, &event.payload)
        .map_err(|e| fail(e.to_string()))?;
    let write = |error: WriteError| match error {
        WriteError::Database(e) => ProjectionError::Database(e),
        WriteError::Invalid(message) => fail(message),
    };
    let current = sql::load(tx, id).await.map_err(write)?;
    let recorded = Recorded {
        id,
        stream_version: event.stream_version,
        position: event.position,
    };
    let (row, items) = row::evolve(current, &decoded, recorded).map_err(fail)?;
    sql::upsert(tx, &row).await?;
    sql::write_items(tx, id, &items).await.map_err(write)?;
    Ok(())
}

/// The declaration id in a stream id `declaration-<uuid>`.
fn stream_uuid(stream_id: &str) -> Option<Uuid> {
    let rest = stream_id.strip_prefix(CATEGORY)?.strip_prefix('-')?;
    Uuid::parse_str(rest).ok()
}
