//! Each lifecycle step shows in the row.

use aduana_tests::TestDb;
use domain::declaration::{
    AmendDeclaration, DeclarationCommand, DeclarationEvent, InspectionResult, RefuseDeclaration,
    Status, WithdrawDeclaration,
};
use domain::risk::Lane;
use projections::declarations::{DeclarationFilter, TariffCodePrefix};

use super::fixture::*;
use super::harness::Harness;

pub async fn green_filing(db: TestDb) {
    let mut h = Harness::new(db).await;
    let id = h
        .file(
            filing("BROKER1", "G-1", "30", &items_for(Lane::Green)),
            at(0),
        )
        .await;
    h.catch_up().await;
    let row = h.get(id).await;
    assert_eq!(row.status, Status::Accepted);
    assert_eq!(row.lane, Some(Lane::Green));
    assert_eq!(row.version, 4, "filed, lane, duties, accepted");
    assert_eq!(row.declarant.as_deref(), Some("BROKER1"));
    assert_eq!(row.lrn.as_deref(), Some("G-1"));
    assert_eq!(row.declaration_type.as_deref(), Some("import"));
    assert_eq!(row.importer.as_deref(), Some("IMP42"));
    assert_eq!(row.exporter, None);
    assert_eq!(row.office.as_deref(), Some("30"));
    assert_eq!(row.transport_mode.as_deref(), Some("4"));
    assert_eq!(row.filing_date, Some(date("2026-03-05")));
    assert_eq!(row.invoice_currency.as_deref(), Some("USD"));
    assert_eq!(row.invoice_amount, Some(dec("200.00")));
    assert_eq!(row.tax_currency.as_deref(), Some("KRW"));
    assert_eq!(row.item_count, 2);
    assert_eq!(row.error_count, 0);
    assert_eq!((row.filed_at, row.updated_at), (at(0), at(0)));
    assert_eq!(
        row.last_event_position,
        h.store.head_position().await.unwrap()
    );
    // 2 × (100 + 5 freight + 0.5 insurance) USD at 1350: 142,425 won each; 8% and 0% duty.
    assert_eq!(row.customs_value, Some(dec("284850")));
    assert_eq!(row.duty, Some(dec("11390")));
    h.assert_agrees_with_domain(id).await;

    h.pay(id, "40000", "BANK-1", at(5)).await;
    h.catch_up().await;
    let paid = h.get(id).await;
    assert_eq!(paid.amount_paid, dec("40000"));
    assert_eq!(paid.updated_at, at(5));
    assert_eq!(paid.filed_at, at(0), "the list order does not move");
    h.assert_agrees_with_domain(id).await;
    h.finish().await;
}

pub async fn yellow_accepted(db: TestDb) {
    let mut h = Harness::new(db).await;
    let id = h
        .file(
            filing("BROKER1", "Y-1", "30", &items_for(Lane::Yellow)),
            at(0),
        )
        .await;
    h.catch_up().await;
    assert_eq!(h.get(id).await.status, Status::AwaitingInspection);
    assert_eq!(h.get(id).await.lane, Some(Lane::Yellow));
    h.assert_agrees_with_domain(id).await;

    h.inspect(id, InspectionResult::Compliant, at(30)).await;
    h.catch_up().await;
    assert_eq!(h.get(id).await.status, Status::Inspected);
    h.assert_agrees_with_domain(id).await;

    h.accept(id, at(40)).await;
    h.catch_up().await;
    let row = h.get(id).await;
    assert_eq!(
        (row.status, row.version, row.updated_at),
        (Status::Accepted, 5, at(40))
    );
    h.assert_agrees_with_domain(id).await;
    h.finish().await;
}

pub async fn red_refused(db: TestDb) {
    let mut h = Harness::new(db).await;
    let id = h
        .file(filing("BROKER1", "R-1", "30", &items_for(Lane::Red)), at(0))
        .await;
    h.catch_up().await;
    assert_eq!(h.get(id).await.lane, Some(Lane::Red));
    h.inspect(id, InspectionResult::Discrepancies, at(30)).await;
    let refuse = DeclarationCommand::Refuse(RefuseDeclaration {
        reason: "undeclared goods".to_owned(),
        actor: officer(),
        at: at(45),
    });
    h.execute(id, refuse).await;
    h.catch_up().await;
    assert_eq!(h.get(id).await.status, Status::Refused);
    h.assert_agrees_with_domain(id).await;
    h.finish().await;
}

pub async fn amendment(db: TestDb) {
    let mut h = Harness::new(db).await;
    let id = h
        .file(
            filing("BROKER1", "A-1", "30", &items_for(Lane::Yellow)),
            at(0),
        )
        .await;
    h.pay(id, "10000", "BANK-1", at(10)).await;
    h.catch_up().await;
    let before = h.get(id).await;
    let prefix = |p: &str| DeclarationFilter {
        tariff_code_prefix: Some(TariffCodePrefix::parse(p).unwrap()),
        ..DeclarationFilter::default()
    };
    assert_eq!(h.ids(&all(), prefix("6109")).await, vec![id]);

    // Three items, none of them shirts from Vietnam: re-assessed green and accepted.
    let amended = filing(
        "BROKER1",
        "A-1",
        "40",
        &[(LAPTOPS, "JP"), (SERVERS, "CN"), (LAPTOPS, "KR")],
    );
    let amend = DeclarationCommand::Amend(AmendDeclaration {
        filing: amended,
        reason: "wrong goods declared".to_owned(),
        context: context(),
        actor: declarant_actor("BROKER1"),
        at: at(20),
    });
    h.execute(id, amend).await;
    h.catch_up().await;
    let row = h.get(id).await;
    assert_eq!(row.data_version, 2);
    assert_eq!(row.item_count, 3);
    assert_eq!(row.office.as_deref(), Some("40"));
    assert_eq!(row.lane, Some(Lane::Green));
    assert_eq!(row.status, Status::Accepted);
    assert_eq!(
        row.amount_paid,
        dec("10000"),
        "payments survive an amendment"
    );
    assert_eq!(
        row.filed_at, before.filed_at,
        "an amendment keeps the filing time"
    );
    assert_ne!(row.customs_value, before.customs_value);
    let codes: Vec<String> = h.items(id).await.into_iter().map(|i| i.hs_code).collect();
    assert_eq!(codes, [LAPTOPS, SERVERS, LAPTOPS]);
    assert!(
        h.ids(&all(), prefix("6109")).await.is_empty(),
        "old items are gone"
    );
    assert_eq!(h.ids(&all(), prefix("847141")).await, vec![id]);
    h.assert_agrees_with_domain(id).await;
    h.finish().await;
}

pub async fn withdrawn(db: TestDb) {
    let mut h = Harness::new(db).await;
    let id = h
        .file(filing("BROKER1", "W-1", "30", &items_for(Lane::Red)), at(0))
        .await;
    h.pay(id, "5000", "BANK-7", at(3)).await;
    let withdraw = DeclarationCommand::Withdraw(WithdrawDeclaration {
        reason: "sale cancelled".to_owned(),
        actor: declarant_actor("BROKER1"),
        at: at(8),
    });
    h.execute(id, withdraw).await;
    h.catch_up().await;
    let row = h.get(id).await;
    assert_eq!(row.status, Status::Withdrawn);
    assert_eq!(row.amount_paid, dec("5000"));
    assert_eq!(row.updated_at, at(8));
    h.assert_agrees_with_domain(id).await;
    h.finish().await;
}

pub async fn rejected(db: TestDb) {
    let mut h = Harness::new(db).await;
    let mut bad = filing("BROKER1", "X-1", "30", &items_for(Lane::Green));
    bad.header.invoice_currency = s("XXQ");
    bad.header.customs_office = None;
    bad.items[0].hs_code = s("12");
    let id = h.file(bad, at(0)).await;
    let [DeclarationEvent::DeclarationRejected(rejection)] = h.last.as_slice() else {
        panic!("expected a rejection, got {:?}", h.last);
    };
    assert!(rejection.errors.len() >= 3);
    let errors = rejection.errors.len() as u32;
    h.catch_up().await;
    let row = h.get(id).await;
    let (state, _) = &h.states[&id];
    assert_eq!(row.status, Status::Rejected);
    assert_eq!(row.error_count, errors, "every error counted");
    assert_eq!(row.declarant.as_deref(), Some("BROKER1"));
    assert_eq!(row.lrn.as_deref(), Some("X-1"));
    assert_eq!(
        (row.office.clone(), row.invoice_currency.clone()),
        (None, None)
    );
    assert_eq!(
        row.filing_date,
        Some(rejection.filing_date),
        "judged on its filing date"
    );
    assert_eq!(row.item_count, 2);
    assert_eq!(state.status, Status::Rejected);
    assert!(h.items(id).await.is_empty());
    let mine = h
        .ids(
            &org("BROKER1"),
            DeclarationFilter {
                status: Some(Status::Rejected),
                ..DeclarationFilter::default()
            },
        )
        .await;
    assert_eq!(mine, vec![id]);
    assert!(
        h.ids(&org("TRADER2"), DeclarationFilter::default())
            .await
            .is_empty()
    );

    // Filed again, correctly, under the same LRN: the same row, lodged.
    let again = h
        .file(
            filing("BROKER1", "X-1", "30", &items_for(Lane::Green)),
            at(9),
        )
        .await;
    assert_eq!(again, id);
    h.catch_up().await;
    let row = h.get(id).await;
    assert_eq!(
        (row.status, row.error_count, row.filed_at),
        (Status::Accepted, 0, at(9))
    );
    h.assert_agrees_with_domain(id).await;
    h.finish().await;
}
