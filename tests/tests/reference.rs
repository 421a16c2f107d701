//! Reference data through the store on every backend: importing the shipped sample,
//! re-importing (nothing duplicated), publishing a change, and the write side's view.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aduana_tests::{TestDb, on_every_backend};
use chrono::NaiveDate;
use commands::reference::{self, ReferenceFiles, ReferenceView};
use domain::codes::{CurrencyCode, HsCode};

on_every_backend! {
    the_sample_imports_once_and_a_second_import_writes_nothing => sample_once;
    a_new_rate_is_added_and_the_view_follows => new_rate;
    an_old_value_published_again_after_a_correction_is_in_force_again => republish;
    risk_rules_are_published_from_json => risk_rules;
}

async fn sample_once(db: TestDb) {
    let store = db.open().await;
    let events = reference::sample_events().unwrap();
    let total = events.len();
    let first = reference::import(&store, events, "admin/test")
        .await
        .unwrap();
    assert_eq!(
        (first.records, first.written, first.already_present),
        (total, total, 0)
    );
    let head = store.head_position().await.unwrap();
    assert_eq!(head, total as u64);

    let again = reference::import(&store, reference::sample_events().unwrap(), "admin/other")
        .await
        .unwrap();
    assert_eq!((again.written, again.already_present), (0, total));
    assert_eq!(
        store.head_position().await.unwrap(),
        head,
        "nothing written twice"
    );

    let view = ReferenceView::load(&store).await.unwrap();
    assert!(view.tariff_code_count() >= 5_000);
    let snapshot = view.snapshot();
    let day = NaiveDate::from_ymd_opt(2021, 2, 1).unwrap();
    assert!(
        snapshot
            .tariff_line(&HsCode::parse("8471300000").unwrap(), day)
            .is_some()
    );
    assert!(
        snapshot
            .exchange_rate(CurrencyCode::parse("USD").unwrap(), day)
            .is_some()
    );
    db.finish(store).await;
}

async fn new_rate(db: TestDb) {
    let store = db.open().await;
    let rates = |rate: &str| {
        let mut files = ReferenceFiles::new();
        files.add(
            "rates.csv",
            &format!("currency,rate,valid_from,valid_to\nUSD,1380.5,2026-11-22,2026-11-28\nUSD,{rate},2026-11-29,2026-12-05\n"),
        );
        files.events().unwrap()
    };
    reference::import(&store, rates("1390"), "admin/test")
        .await
        .unwrap();
    let view = ReferenceView::load(&store).await.unwrap();
    let usd = CurrencyCode::parse("USD").unwrap();
    let dec1 = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    assert_eq!(
        view.snapshot()
            .exchange_rate(usd, dec1)
            .unwrap()
            .rate
            .to_string(),
        "1390"
    );

    // A correction of one week's rate: only that record is new.
    let report = reference::import(&store, rates("1391.25"), "admin/test")
        .await
        .unwrap();
    assert_eq!((report.written, report.already_present), (1, 1));
    view.refresh(&store).await.unwrap();
    assert_eq!(
        view.snapshot()
            .exchange_rate(usd, dec1)
            .unwrap()
            .rate
            .to_string(),
        "1391.25"
    );
    db.finish(store).await;
}

fn rate_file(rate: &str) -> Vec<domain::reference::ReferenceEvent> {
    let mut files = ReferenceFiles::new();
    files.add(
        "rates.csv",
        &format!("currency,rate,valid_from,valid_to\nUSD,{rate},2026-11-29,2026-12-05\n"),
    );
    files.events().unwrap()
}

async fn republish(db: TestDb) {
    let store = db.open().await;
    let usd = CurrencyCode::parse("USD").unwrap();
    let dec1 = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    let view = ReferenceView::load(&store).await.unwrap();
    for (rate, written) in [("1390", 1), ("1391.25", 1), ("1390", 1), ("1390", 0)] {
        let report = reference::import(&store, rate_file(rate), "admin/test")
            .await
            .unwrap();
        assert_eq!(report.written, written, "publishing {rate}");
        view.refresh(&store).await.unwrap();
        assert_eq!(
            view.snapshot()
                .exchange_rate(usd, dec1)
                .unwrap()
                .rate
                .to_string(),
            rate
        );
    }
    db.finish(store).await;
}

async fn risk_rules(db: TestDb) {
    let store = db.open().await;
    let json = r#"{"riskRules":{"version":3,"rules":[{"id":"CH93","lane":"red","condition":{"kind":"tariffChapters","chapters":["93"]}}],"randomInspection":{"ratio":"0.02","lane":"yellow"}}}"#;
    let mut files = ReferenceFiles::new();
    files.add("rules.json", json);
    let events = files.events().unwrap();
    assert_eq!(events.len(), 1);
    reference::import(&store, events, "admin/test")
        .await
        .unwrap();
    let view = ReferenceView::load(&store).await.unwrap();
    let rules = view
        .snapshot()
        .risk_rules()
        .cloned()
        .expect("published rules in force");
    assert_eq!(rules.version(), 3);
    assert_eq!(rules.rules().len(), 1);
    db.finish(store).await;
}
