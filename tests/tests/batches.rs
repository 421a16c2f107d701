//! Batches through the batch service on every backend: the KCS sample train file goes through
//! with every row accounted for, and its totals match the file; a batch cut off mid-way and
//! sent again files every declaration exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use aduana_tests::{TestDb, on_every_backend};
use bytes::Bytes;
use commands::batch::{BatchService, BatchSettings, Upload};
use commands::declaration::{Caller, DeclarationService, Role};
use commands::reference::{self, ReferenceView};
use domain::Decimal;
use domain::batch::{BatchFormat, BatchStatus, ItemOutcome, ItemResult};
use domain::codes::Actor;
use eventstore::{EventStore, Filter};
use futures::{StreamExt, TryStreamExt};
use uuid::Uuid;

on_every_backend! {
    the_kcs_train_file_goes_through_with_every_row_accounted_for => kcs_train_file;
    a_batch_cut_off_and_sent_again_files_every_declaration_once => cut_off_and_resumed;
}

const TRAIN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/kcs-synthetic/train.csv"
);

fn admin() -> Caller {
    Caller {
        role: Role::Admin,
        organisation: None,
        actor: Actor::parse("admin/loader").unwrap(),
    }
}

async fn service(store: &EventStore) -> BatchService {
    let events = reference::sample_events().unwrap();
    reference::import(store, events, "admin/test")
        .await
        .unwrap();
    let view = ReferenceView::load(store).await.unwrap();
    let declarations = DeclarationService::new(store.clone(), view);
    BatchService::new(store.clone(), declarations, BatchSettings::default())
}

/// The body in chunks of 64 KiB, as a network would deliver it.
fn chunks(body: &[u8]) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
    let chunks: Vec<_> = body
        .chunks(64 << 10)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(chunks)
}

async fn all_results(service: &BatchService, id: Uuid) -> Vec<ItemResult> {
    service
        .results(id)
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .flatten()
        .collect()
}

/// Filings recorded per declaration stream (`DeclarationFiled` events).
async fn filed_per_stream(store: &EventStore) -> BTreeMap<String, usize> {
    let mut events = std::pin::pin!(store.read_all(
        0,
        Filter::categories(["declaration"]).with_event_types(["DeclarationFiled"]),
        usize::MAX
    ));
    let mut filed = BTreeMap::new();
    while let Some(event) = events.next().await {
        *filed
            .entry(event.unwrap().stream_id.to_string())
            .or_insert(0) += 1;
    }
    filed
}

async fn kcs_train_file(db: TestDb) {
    let store = db.open().await;
    let service = service(&store).await;
    let body = std::fs::read(TRAIN).expect("../shared/data/kcs-synthetic/train.csv");
    let mut rows = csv::Reader::from_reader(body.as_slice());
    let headers = rows.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (id_col, month_col, office_col, hs_col, price_col) = (
        column("Declaration ID"),
        column("Date"),
        column("Office ID"),
        column("HS6 Code"),
        column("Item Price"),
    );
    // What the file says: per row its LRN, and value totals by month, office and chapter.
    let mut expected_value: BTreeMap<(String, String, String), Decimal> = BTreeMap::new();
    let mut lrns = Vec::new();
    for row in rows.records() {
        let row = row.unwrap();
        lrns.push(row[id_col].to_owned());
        let key = (
            row[month_col][..7].to_owned(),
            row[office_col].to_owned(),
            row[hs_col][..2].to_owned(),
        );
        let value: Decimal = row[price_col].parse().unwrap();
        *expected_value.entry(key).or_default() += value.trunc();
    }

    let id = Uuid::now_v7();
    let upload = Upload {
        batch_id: id,
        format: BatchFormat::KcsCsv,
        content_length: Some(body.len() as u64),
        body: chunks(&body),
    };
    let batch = service.submit(&admin(), upload).await.unwrap();
    assert_eq!(batch.status, BatchStatus::Completed);
    assert_eq!(
        batch.totals.items,
        lrns.len() as u64,
        "one declaration per row"
    );

    let results = all_results(&service, id).await;
    assert_eq!(results.len(), lrns.len());
    for (i, (result, lrn)) in results.iter().zip(&lrns).enumerate() {
        assert_eq!(result.item, i as u64 + 1);
        assert_eq!(result.line, i as u64 + 2, "row {i} is line {}", i + 2);
        assert_eq!(result.lrn.as_deref(), Some(lrn.as_str()));
    }
    let rejected: Vec<_> = results
        .iter()
        .filter(|r| matches!(r.outcome, ItemOutcome::Rejected { .. }))
        .collect();
    assert_eq!(batch.totals.rejected, rejected.len() as u64);
    // The reference data covers the file: only claims the README names as not valid (and rows
    // with nothing to declare) are refused.
    assert!(
        rejected.len() < lrns.len() / 100,
        "{} rejected, e.g. {:?}",
        rejected.len(),
        rejected.first()
    );

    // Totals of the accepted declarations, from their events, match the file's.
    let accepted: BTreeSet<Uuid> = results
        .iter()
        .filter_map(|r| match r.outcome {
            ItemOutcome::Accepted { declaration_id, .. } => Some(declaration_id),
            ItemOutcome::Rejected { .. } => None,
        })
        .collect();
    let mut expected_accepted = expected_value.clone();
    let mut actual: BTreeMap<(String, String, String), Decimal> = BTreeMap::new();
    let mut events = std::pin::pin!(store.read_all(
        0,
        Filter::categories(["declaration"]).with_event_types(["DeclarationFiled"]),
        usize::MAX
    ));
    while let Some(event) = events.try_next().await.unwrap() {
        let payload: serde_json::Value = serde_json::from_str(&event.payload).unwrap();
        let id: Uuid = payload["declarationId"].as_str().unwrap().parse().unwrap();
        assert!(accepted.contains(&id));
        let data = &payload["data"];
        let header = &data["header"];
        let month = header["filingDate"].as_str().unwrap()[..7].to_owned();
        let office = header["customsOffice"].as_str().unwrap().to_owned();
        for item in data["items"].as_array().unwrap() {
            let chapter = item["hsCode"].as_str().unwrap()[..2].to_owned();
            let value: Decimal = item["invoiceValue"].as_str().unwrap().parse().unwrap();
            *actual
                .entry((month.clone(), office.clone(), chapter))
                .or_default() += value;
        }
    }
    // Take the rejected rows out of the file's totals, then compare exactly.
    let mut file = csv::Reader::from_reader(body.as_slice());
    let rejected_rows: BTreeSet<u64> = rejected.iter().map(|r| r.item).collect();
    for (i, row) in file.records().enumerate() {
        if rejected_rows.contains(&(i as u64 + 1)) {
            let row = row.unwrap();
            let key = (
                row[month_col][..7].to_owned(),
                row[office_col].to_owned(),
                row[hs_col][..2].to_owned(),
            );
            let value: Decimal = row[price_col].parse().unwrap();
            *expected_accepted.get_mut(&key).unwrap() -= value.trunc();
        }
    }
    expected_accepted.retain(|_, v| !v.is_zero());
    actual.retain(|_, v| !v.is_zero());
    assert_eq!(actual, expected_accepted);
    assert_eq!(filed_per_stream(&store).await.len(), accepted.len());
}

async fn cut_off_and_resumed(db: TestDb) {
    let store = db.open().await;
    let service = service(&store).await;
    let body = std::fs::read(TRAIN).unwrap();
    // The header and the first 600 rows.
    let end = body
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(600)
        .unwrap()
        .0
        + 1;
    let body = &body[..end];
    let id = Uuid::now_v7();
    let half = body.len() / 2;
    let broken = futures::stream::iter(vec![
        Ok(Bytes::copy_from_slice(&body[..half])),
        Err(std::io::Error::other("connection reset by peer")),
    ]);
    let upload = Upload {
        batch_id: id,
        format: BatchFormat::KcsCsv,
        content_length: None,
        body: broken,
    };
    let failure = service.submit(&admin(), upload).await.unwrap_err();
    assert_eq!(failure.error.code(), "BODY_INCOMPLETE");
    let interrupted = failure.batch.unwrap();
    assert_eq!(interrupted.status, BatchStatus::Interrupted);
    assert!(interrupted.totals.items > 0 && interrupted.totals.items < 600);

    let upload = Upload {
        batch_id: id,
        format: BatchFormat::KcsCsv,
        content_length: None,
        body: chunks(body),
    };
    let batch = service.submit(&admin(), upload).await.unwrap();
    assert_eq!(batch.status, BatchStatus::Completed);
    assert_eq!(batch.totals.items, 600);
    let results = all_results(&service, id).await;
    let numbers: Vec<u64> = results.iter().map(|r| r.item).collect();
    assert_eq!(numbers, (1..=600).collect::<Vec<_>>());
    let filed = filed_per_stream(&store).await;
    assert_eq!(filed.len() as u64, batch.totals.accepted);
    assert!(
        filed.values().all(|&n| n == 1),
        "exactly one filing per LRN"
    );
}
