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

use std::collections::{HashMap, HashSet};

use domain::DomainEvent;
use domain::declaration::DeclarationEvent;
use eventstore::{Filter, RecordedEvent};
use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::AnyConnection;
use uuid::Uuid;

use crate::generations::Tables;
use crate::read_models::Backend;
use crate::runner::{Projection, ProjectionError};
use crate::stored::stream_uuid;
use row::{ItemsChange, Recorded};
use sql::WriteError;

/// The stream category this projection reads.
pub const CATEGORY: &str = "declaration";
/// Its tables (and the views queries read).
const DECLARATIONS: &str = "declarations";
const ITEMS: &str = "declaration_items";

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

    fn tables(&self) -> &'static [&'static str] {
        &[DECLARATIONS, ITEMS]
    }

    fn schema(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => include_str!("../../schema/sqlite/declarations.sql"),
            Backend::Postgres => include_str!("../../schema/postgres/declarations.sql"),
        }
    }

    fn apply<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        tables: &'a Tables,
        events: &'a [RecordedEvent],
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        apply(tx, tables, events).boxed()
    }
}

/// A declaration as a batch folds it: the stored row and lines (or none yet), and whether the
/// batch changed them.
#[derive(Default)]
struct Folded {
    row: Option<DeclarationRow>,
    items: Vec<ItemRow>,
    items_changed: bool,
    /// Whether the table held it before this batch (only then are there lines to delete).
    stored: bool,
}

/// Applies a batch set-based: decodes every event, loads the declarations it touches in a
/// few statements, folds the events in memory in log order, and writes each changed row and
/// item list once, many per statement. The first event that does not fit fails the whole
/// batch with its position.
#[tracing::instrument(level = "debug", skip_all, fields(events = events.len()))]
async fn apply(
    tx: &mut AnyConnection,
    tables: &Tables,
    events: &[RecordedEvent],
) -> Result<(), ProjectionError> {
    let mut decoded = Vec::with_capacity(events.len());
    for event in events {
        let fail = |message: String| ProjectionError::handler(event, message);
        let id = stream_uuid(CATEGORY, &event.stream_id)
            .ok_or_else(|| fail(format!("{} is not declaration-<uuid>", event.stream_id)))?;
        let payload =
            DeclarationEvent::decode(&event.event_type, event.schema_version, &event.payload)
                .map_err(|e| fail(e.to_string()))?;
        decoded.push((event, id, payload));
    }
    // The declarations in first-touched order (the order rows are written in).
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    for (_, id, _) in &decoded {
        if seen.insert(*id) {
            order.push(*id);
        }
    }
    let write = |error: WriteError, event: &RecordedEvent| match error {
        WriteError::Database(e) => ProjectionError::Database(e),
        WriteError::Invalid(message) => ProjectionError::handler(event, message),
    };
    let mut folded: HashMap<Uuid, Folded> = sql::load_many(tx, tables, &order)
        .await
        .map_err(|e| write(e, decoded[0].0))?
        .into_iter()
        .map(|(id, (row, items))| {
            let stored = Folded {
                row: Some(row),
                items,
                items_changed: false,
                stored: true,
            };
            (id, stored)
        })
        .collect();
    for (event, id, payload) in &decoded {
        let fail = |message: String| ProjectionError::handler(event, message);
        let declaration = folded.entry(*id).or_default();
        let recorded = Recorded {
            id: *id,
            stream_version: event.stream_version,
            position: event.position,
        };
        let (row, change) = row::evolve(declaration.row.take(), payload, recorded).map_err(fail)?;
        row::change_items(&mut declaration.items, &change).map_err(fail)?;
        declaration.items_changed |= !matches!(change, ItemsChange::Keep);
        declaration.row = Some(row);
    }
    let rows: Vec<&DeclarationRow> = order
        .iter()
        .filter_map(|id| folded.get(id)?.row.as_ref())
        .collect();
    sql::upsert_many(tx, tables, &rows).await?;
    let changed: Vec<(Uuid, &Folded)> = order
        .iter()
        .filter_map(|id| Some((*id, folded.get(id)?)))
        .filter(|(_, declaration)| declaration.items_changed)
        .collect();
    let stale: Vec<Uuid> = changed
        .iter()
        .filter(|(_, declaration)| declaration.stored)
        .map(|(id, _)| *id)
        .collect();
    let items: Vec<(Uuid, &[ItemRow])> = changed
        .iter()
        .map(|(id, declaration)| (*id, declaration.items.as_slice()))
        .collect();
    sql::replace_items(tx, tables, &stale, &items).await?;
    Ok(())
}
