//! The KCS sample train file in the warehouse, on every backend: loaded through the batch
//! channel as an admin loads historical data, the declarations the system did not clear
//! automatically inspected and accepted by an officer, the warehouse projected, and its cube's
//! customs value totals and item counts by month, by office, by HS chapter and by month ×
//! office × chapter compared with those computed from the CSV itself (the item price
//! truncated to the won, which is the customs value of a CIF filing in won; the rows the batch
//! rejected taken out using its results).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use aduana_tests::{TestDb, on_every_backend};
use bytes::Bytes;
use commands::batch::{BatchService, BatchSettings, Upload};
use commands::declaration::{Caller, DeclarationService, Role};
use commands::reference::{self, ReferenceView};
use domain::Decimal;
use domain::batch::{BatchFormat, BatchStatus, ItemOutcome, ItemResult};
use domain::codes::Actor;
use domain::declaration::{InspectionKind, InspectionResult, Status};
use eventstore::{EventStore, Filter};
use futures::{StreamExt, TryStreamExt};
use projections::warehouse::{Cube, CubeQuery, CubeResult, HeaderKind, Level, Measure};
use projections::{ReadModels, Runner, WarehouseProjection};
use uuid::Uuid;

on_every_backend! {
    the_kcs_train_file_is_counted_in_the_warehouse_as_the_file_counts_it => kcs_in_the_warehouse;
}

const TRAIN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/kcs-synthetic/train.csv"
);

/// (month, office, chapter) → (customs value, items).
type Totals = BTreeMap<(String, String, String), (Decimal, u64)>;

fn caller(role: Role, actor: &str) -> Caller {
    Caller {
        role,
        organisation: None,
        actor: Actor::parse(actor).unwrap(),
    }
}

async fn services(store: &EventStore) -> (BatchService, DeclarationService) {
    let events = reference::sample_events().unwrap();
    reference::import(store, events, "admin/test")
        .await
        .unwrap();
    let view = ReferenceView::load(store).await.unwrap();
    let declarations = DeclarationService::new(store.clone(), view);
    let batches = BatchService::new(
        store.clone(),
        declarations.clone(),
        BatchSettings::default(),
    );
    (batches, declarations)
}

/// The file's totals, without the rows (numbered from 1) in `left_out`.
fn file_totals(body: &[u8], left_out: &BTreeSet<u64>) -> Totals {
    let mut rows = csv::Reader::from_reader(body);
    let headers = rows.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (date, office, hs, price) = (
        column("Date"),
        column("Office ID"),
        column("HS6 Code"),
        column("Item Price"),
    );
    let mut totals = Totals::new();
    for (i, row) in rows.records().enumerate() {
        if left_out.contains(&(i as u64 + 1)) {
            continue;
        }
        let row = row.unwrap();
        let key = (
            row[date][..7].to_owned(),
            row[office].to_owned(),
            row[hs][..2].to_owned(),
        );
        let value: Decimal = row[price].parse().unwrap();
        let entry = totals.entry(key).or_default();
        entry.0 += value.trunc();
        entry.1 += 1;
    }
    totals
}

/// The totals rolled up to the key parts `keep` picks.
fn rolled_up(
    totals: &Totals,
    keep: impl Fn(&(String, String, String)) -> Vec<String>,
) -> BTreeMap<Vec<String>, (Decimal, u64)> {
    let mut out: BTreeMap<Vec<String>, (Decimal, u64)> = BTreeMap::new();
    for (key, (value, items)) in totals {
        let entry = out.entry(keep(key)).or_default();
        entry.0 += *value;
        entry.1 += items;
    }
    out
}

/// The cube's member cells (rows × columns at their finest levels) as totals.
fn cube_cells(result: &CubeResult) -> BTreeMap<Vec<String>, (Decimal, u64)> {
    let codes = |h: &projections::warehouse::Header| -> Vec<String> {
        h.members.iter().map(|m| m.code.clone().unwrap()).collect()
    };
    let mut out = BTreeMap::new();
    for cell in &result.cells {
        let (row, column) = (&result.rows[cell.row], &result.columns[cell.column]);
        let leaf = |kind: HeaderKind, levels: usize| {
            kind == HeaderKind::Member || (levels == 0 && kind == HeaderKind::Total)
        };
        if !leaf(row.kind, result.rows_levels.len())
            || !leaf(column.kind, result.column_levels.len())
        {
            continue;
        }
        let mut key = codes(row);
        key.extend(codes(column));
        let value = cell.values[0].unwrap();
        let items = cell.values[1].unwrap();
        out.insert(key, (value, u64::try_from(items.mantissa()).unwrap()));
    }
    out
}

/// Inspects and accepts, as an officer, every filed declaration not cleared automatically.
async fn clear_the_rest(store: &EventStore, declarations: &DeclarationService, filed: &[Uuid]) {
    let mut accepted = BTreeSet::new();
    let mut events = std::pin::pin!(store.read_all(
        0,
        Filter::categories(["declaration"]).with_event_types(["DeclarationAccepted"]),
        usize::MAX
    ));
    while let Some(event) = events.try_next().await.unwrap() {
        let payload: serde_json::Value = serde_json::from_str(&event.payload).unwrap();
        accepted.insert(
            payload["declarationId"]
                .as_str()
                .unwrap()
                .parse::<Uuid>()
                .unwrap(),
        );
    }
    let officer = caller(Role::Officer, "officer/K123");
    let waiting: Vec<Uuid> = filed
        .iter()
        .filter(|id| !accepted.contains(id))
        .copied()
        .collect();
    let cleared = futures::stream::iter(waiting.iter().map(|&id| {
        let officer = officer.clone();
        async move {
            declarations
                .record_inspection(
                    &officer,
                    id,
                    InspectionKind::Physical,
                    InspectionResult::Compliant,
                    String::new(),
                )
                .await
                .unwrap();
            let outcome = declarations.accept(&officer, id).await.unwrap();
            assert_eq!(outcome.state.status, Status::Accepted);
        }
    }))
    .buffer_unordered(4)
    .count()
    .await;
    eprintln!(
        "{} of {} declarations cleared automatically, {cleared} by an officer",
        filed.len() - waiting.len(),
        filed.len()
    );
}

async fn kcs_in_the_warehouse(db: TestDb) {
    let started = Instant::now();
    let store = db.open().await;
    let models = ReadModels::open(&db.url).await.unwrap();
    let (batches, declarations) = services(&store).await;
    let body = std::fs::read(TRAIN).expect("../shared/data/kcs-synthetic/train.csv");
    let chunks: Vec<Result<Bytes, std::io::Error>> = body
        .chunks(64 << 10)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let batch_id = Uuid::now_v7();
    let batch = batches
        .submit(
            &caller(Role::Admin, "admin/loader"),
            Upload {
                batch_id,
                format: BatchFormat::KcsCsv,
                content_length: Some(body.len() as u64),
                body: futures::stream::iter(chunks),
            },
        )
        .await
        .unwrap();
    assert_eq!(batch.status, BatchStatus::Completed);
    let results: Vec<ItemResult> = batches
        .results(batch_id)
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    let loaded = started.elapsed();
    let mut rejected = BTreeSet::new();
    let mut filed = Vec::new();
    for result in &results {
        match result.outcome {
            ItemOutcome::Accepted { declaration_id, .. } => filed.push(declaration_id),
            ItemOutcome::Rejected { .. } => {
                rejected.insert(result.item);
            }
        }
    }
    let expected = file_totals(&body, &rejected);
    let rows_counted: u64 = expected.values().map(|v| v.1).sum();
    assert_eq!(rows_counted, filed.len() as u64, "one declaration per row");

    clear_the_rest(&store, &declarations, &filed).await;
    let cleared = started.elapsed();
    let runner = Runner::new(store.clone(), models.clone(), Arc::new(WarehouseProjection));
    runner.prepare().await.unwrap();
    runner.catch_up().await.unwrap();
    let projected = started.elapsed();

    let cube = Cube::new(models.clone());
    let ask = |rows: Vec<Level>, columns: Vec<Level>| {
        let cube = cube.clone();
        async move {
            let query = CubeQuery {
                rows,
                columns,
                ..CubeQuery::new(vec![Measure::CustomsValue, Measure::Items])
            };
            cube.run(&query).await.unwrap()
        }
    };
    let by_month = ask(vec![Level::Month], vec![]).await;
    assert_eq!(
        cube_cells(&by_month),
        rolled_up(&expected, |k| vec![k.0.clone()]),
        "by month"
    );
    let total = rolled_up(&expected, |_| Vec::new())[&Vec::new()];
    assert_eq!(
        by_month.grand_total().unwrap(),
        [Some(total.0), Some(Decimal::from(total.1))],
        "grand total"
    );
    let by_office = ask(vec![Level::Office], vec![]).await;
    assert_eq!(
        cube_cells(&by_office),
        rolled_up(&expected, |k| vec![k.1.clone()]),
        "by office"
    );
    let by_chapter = ask(vec![Level::HsChapter], vec![]).await;
    assert_eq!(
        cube_cells(&by_chapter),
        rolled_up(&expected, |k| vec![k.2.clone()]),
        "by HS chapter"
    );
    let all_three = ask(vec![Level::Month, Level::Office], vec![Level::HsChapter]).await;
    assert_eq!(
        cube_cells(&all_three),
        rolled_up(&expected, |k| vec![k.0.clone(), k.1.clone(), k.2.clone()]),
        "by month × office × chapter"
    );
    eprintln!(
        "{:?}: {} rows ({} rejected) loaded in {loaded:.1?}, cleared by {cleared:.1?}, \
         projected by {projected:.1?}, checked by {:.1?}",
        db.backend,
        results.len(),
        rejected.len(),
        started.elapsed()
    );
    models.close().await;
    db.finish(store).await;
}
