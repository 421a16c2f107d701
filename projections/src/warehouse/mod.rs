//! The Customs Data Warehouse (`warehouse` read model): one fact per goods item of every
//! accepted declaration, with its dimensions (filing date, tariff line, origin, dispatch,
//! trader, declarant, office, transport mode, lane, regime, preference, audit outcome) and
//! measures (customs value, duty, VAT, additional tax, drawback, invoice value, net mass,
//! quantity), queried OLAP-style through [`cube`]. See docs/warehouse.md. The current facts are
//! also summed by month, HS heading, regime and lane (rollup.rs): what most roll-ups and
//! drill-downs read.
//!
//! Fed by [`WarehouseProjection`] from the declaration streams. A batch is folded set-based
//! like the declarations projection: the staged declarations and current facts it touches are
//! loaded in a few statements, its events folded in memory in log order, and the changes
//! written many rows per statement.

pub mod cube;
mod fact;
mod level;
mod rollup;
mod sql;

pub use cube::{
    Cell, Cube, CubeError, CubeQuery, CubeResult, Drill, Header, HeaderKind, MAX_GROUPS, Measure,
    Member, MemberFilter, Order, Top,
};
pub use fact::{Fact, MASS_SCALE, MONEY_SCALE, micros, scaled, unscaled};
pub use level::{AuditOutcomeCode, Dimension, Key, Level, MemberError, date_keys};

use std::collections::{HashMap, HashSet};

use domain::DomainEvent;
use domain::declaration::DeclarationEvent;
use eventstore::{Filter, RecordedEvent};
use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::AnyConnection;
use uuid::Uuid;

use crate::generations::Tables;
use crate::read_models::{Backend, ReadModels};
use crate::runner::{Projection, ProjectionError};
use crate::stored::stream_uuid;
use fact::Pending;
use rollup::{Deltas, ROLLUP};

/// The stream category this projection reads.
const CATEGORY: &str = "declaration";
/// Its tables (and the views queries read); the roll-up's is in [`rollup`].
const FACTS: &str = "warehouse_facts";
const PENDING: &str = "warehouse_pending";

/// The declaration events the warehouse reads; the others (rejections, inspections,
/// payments) do not change a fact.
const EVENT_TYPES: [&str; 8] = [
    "DeclarationFiled",
    "DeclarationAmended",
    "RiskAssessed",
    "DutiesAssessed",
    "DeclarationAccepted",
    "DeclarationRefused",
    "DeclarationWithdrawn",
    "DeclarationCorrected",
];

/// Builds the `warehouse` read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct WarehouseProjection;

impl Projection for WarehouseProjection {
    fn name(&self) -> &'static str {
        "warehouse"
    }

    /// 2: the roll-up table (`warehouse_rollup`), filled by a rebuild; 3: regime and lane in
    /// its key.
    fn version(&self) -> u32 {
        3
    }

    fn filter(&self) -> Filter {
        Filter {
            categories: vec![CATEGORY.to_owned()],
            event_types: EVENT_TYPES.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    fn tables(&self) -> &'static [&'static str] {
        &[FACTS, ROLLUP, PENDING]
    }

    fn schema(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => include_str!("../../schema/sqlite/warehouse.sql"),
            Backend::Postgres => include_str!("../../schema/postgres/warehouse.sql"),
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

/// Writes `facts` into the fact table of `tables`, and the current ones into its roll-up, in one
/// transaction, as the projection writes those of accepted declarations. For tools that load
/// synthetic facts without events (`aduana bench warehouse`): a million-fact warehouse is set up
/// in about half a minute this way, rather than by deciding and projecting 1.3 million events.
pub async fn load_facts(
    models: &ReadModels,
    tables: &Tables,
    facts: &[Fact],
) -> Result<(), ProjectionError> {
    let mut tx = models.begin_write().await?;
    sql::insert_facts(&mut tx, tables, facts).await?;
    let mut deltas = Deltas::default();
    deltas.add_current(facts);
    deltas.write(&mut tx, tables).await?;
    tx.commit().await?;
    Ok(())
}

/// Where a declaration's current facts are, as a batch folds it.
#[derive(Default)]
enum Current {
    /// Not accepted (as far as this batch knows).
    #[default]
    None,
    /// Stored before this batch.
    Stored(Vec<Fact>),
    /// Written by this batch: `new[range]`.
    New(std::ops::Range<usize>),
}

/// A declaration as a batch folds it.
#[derive(Default)]
struct Folded {
    pending: Option<Pending>,
    /// Whether the staging table held it before this batch.
    pending_stored: bool,
    pending_changed: bool,
    current: Current,
    /// The stored current revision closed by this batch: (revision, valid_to), and its facts
    /// (taken out of the roll-up).
    closed: Option<(u32, i64)>,
    retired: Vec<Fact>,
}

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
    let Some(first) = decoded.first().map(|d| d.0) else {
        return Ok(());
    };
    let database = |message: String| ProjectionError::handler(first, message);

    // What must be read before folding: the staging of declarations whose first event here is
    // not a filing, and the current facts of those corrected before any acceptance here.
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    let mut need_pending = Vec::new();
    let mut need_facts = Vec::new();
    let mut accepted_here = HashSet::new();
    for (_, id, payload) in &decoded {
        let first_here = seen.insert(*id);
        if first_here {
            order.push(*id);
            if !matches!(payload, DeclarationEvent::DeclarationFiled(_)) {
                need_pending.push(*id);
            }
        }
        match payload {
            DeclarationEvent::DeclarationAccepted(_) => {
                accepted_here.insert(*id);
            }
            DeclarationEvent::DeclarationCorrected(_) if !accepted_here.contains(id) => {
                need_facts.push(*id);
            }
            _ => {}
        }
    }
    need_facts.dedup();
    let mut stored_pending = sql::load_pending(tx, tables, &need_pending)
        .await
        .map_err(database)?;
    let mut stored_facts = sql::load_current(tx, tables, &need_facts)
        .await
        .map_err(database)?;

    let mut folded: HashMap<Uuid, Folded> = HashMap::with_capacity(order.len());
    let mut new_facts: Vec<Fact> = Vec::new();
    for (event, id, payload) in &decoded {
        let fail = |message: String| ProjectionError::handler(event, message);
        let declaration = folded.entry(*id).or_insert_with(|| {
            let pending = stored_pending.remove(id);
            Folded {
                pending_stored: pending.is_some(),
                pending,
                current: stored_facts
                    .remove(id)
                    .map_or(Current::None, Current::Stored),
                ..Folded::default()
            }
        });
        fold(declaration, &mut new_facts, *id, payload).map_err(fail)?;
    }

    let mut upsert = Vec::new();
    let mut delete = Vec::new();
    for id in &order {
        let Some(declaration) = folded.get(id) else {
            continue;
        };
        match &declaration.pending {
            Some(pending) if declaration.pending_changed => upsert.push((*id, pending)),
            None if declaration.pending_stored => delete.push(*id),
            _ => {}
        }
    }
    sql::write_pending(tx, tables, &upsert, &delete).await?;
    for id in &order {
        if let Some((revision, valid_to)) = folded.get(id).and_then(|d| d.closed) {
            sql::close_revision(tx, tables, *id, revision, valid_to).await?;
        }
    }
    sql::insert_facts(tx, tables, &new_facts).await?;
    let mut deltas = Deltas::default();
    deltas.add_current(&new_facts);
    for fact in folded.values().flat_map(|d| &d.retired) {
        deltas.add(fact, -1);
    }
    deltas.write(tx, tables).await?;
    Ok(())
}

/// Applies one event to a declaration; facts it writes go to `new_facts`.
fn fold(
    declaration: &mut Folded,
    new_facts: &mut Vec<Fact>,
    id: Uuid,
    event: &DeclarationEvent,
) -> Result<(), String> {
    use DeclarationEvent as E;
    fn pending(declaration: &mut Folded) -> Result<&mut Pending, String> {
        declaration.pending_changed = true;
        declaration
            .pending
            .as_mut()
            .ok_or_else(|| "no filed declaration is awaiting a decision".to_owned())
    }
    match event {
        E::DeclarationFiled(e) => {
            declaration.pending = Some(Pending::of(e.version, &e.data));
            declaration.pending_changed = true;
        }
        E::DeclarationAmended(e) => {
            pending(declaration)?;
            declaration.pending = Some(Pending::of(e.version, &e.data));
        }
        E::RiskAssessed(e) => {
            let staged = pending(declaration)?;
            if staged.version == e.version {
                staged.lane = Some(e.outcome.lane.to_string());
            }
        }
        E::DutiesAssessed(e) => {
            let staged = pending(declaration)?;
            if staged.version == e.version {
                staged.assessed(&e.assessment);
            }
        }
        E::DeclarationAccepted(e) => {
            let staged = pending(declaration)?;
            if staged.version != e.version {
                return Err(format!(
                    "version {} accepted, version {} is the latest filed",
                    e.version, staged.version
                ));
            }
            let facts = staged.accept(id, e.at)?;
            let start = new_facts.len();
            new_facts.extend(facts);
            declaration.current = Current::New(start..new_facts.len());
            declaration.pending = None;
        }
        E::DeclarationRefused(_) | E::DeclarationWithdrawn(_) => {
            pending(declaration)?;
            declaration.pending = None;
        }
        E::DeclarationCorrected(e) => {
            let at = fact::micros(e.at);
            let next = match &declaration.current {
                Current::None => return Err("corrected before it was accepted".to_owned()),
                Current::Stored(facts) => {
                    let next = fact::corrected(facts, e.additional_tax, e.drawback, e.at)?;
                    if let Some(first) = facts.first() {
                        declaration.closed = Some((first.revision, at));
                    }
                    declaration.retired = facts.clone();
                    next
                }
                Current::New(range) => {
                    let next = fact::corrected(
                        &new_facts[range.clone()],
                        e.additional_tax,
                        e.drawback,
                        e.at,
                    )?;
                    for fact in &mut new_facts[range.clone()] {
                        fact.valid_to = Some(at);
                    }
                    next
                }
            };
            let start = new_facts.len();
            new_facts.extend(next);
            declaration.current = Current::New(start..new_facts.len());
        }
        E::DeclarationRejected(_) | E::InspectionRecorded(_) | E::PaymentRecorded(_) => {}
    }
    Ok(())
}
