//! The rebuilt read model equals the live one; events that do not fit stop the projection.

use std::time::Duration;

use aduana_tests::TestDb;
use domain::DomainEvent;
use domain::declaration::{
    AmendDeclaration, Declaration, DeclarationCommand, FileDeclaration, InspectionResult,
    RefuseDeclaration, Status, WithdrawDeclaration, decide,
};
use domain::risk::Lane;
use eventstore::{ExpectedVersion, NewEvent, StreamId};
use futures::FutureExt;
use projections::{ProjectionError, State};
use uuid::Uuid;

use super::fixture::*;
use super::harness::Harness;

pub async fn rebuild(db: TestDb) {
    let mut h = Harness::new(db).await;
    // The live runner follows the log while the declarations go through their lifecycles.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = {
        let runner = h.runner.clone();
        tokio::spawn(async move { runner.run(stopped.map(|_| ())).await })
    };
    let mut ids = Vec::new();
    for n in 0..12 {
        let lane = [Lane::Green, Lane::Yellow, Lane::Red][n % 3];
        let declarant = ["ORGA", "ORGB"][n % 2];
        let id = h
            .file(
                filing(declarant, &format!("L-{n}"), "30", &items_for(lane)),
                at(n as i64),
            )
            .await;
        ids.push((id, lane));
    }
    for (n, (id, lane)) in ids.iter().enumerate() {
        let when = at(100 + n as i64);
        match (lane, n % 4) {
            (Lane::Green, _) => h.pay(*id, "1000", "P1", when).await,
            (_, 0) => {
                h.inspect(*id, InspectionResult::Compliant, when).await;
                h.accept(*id, when).await;
                h.pay(*id, "2500", "P2", when).await;
            }
            (_, 1) => {
                let amend = DeclarationCommand::Amend(AmendDeclaration {
                    filing: filing("ORGB", &format!("L-{n}"), "40", &[(SHIRTS, "VN")]),
                    reason: "fewer goods".to_owned(),
                    context: context(),
                    actor: declarant_actor("ORGB"),
                    at: when,
                });
                h.execute(*id, amend).await;
            }
            (_, 2) => {
                let withdraw = DeclarationCommand::Withdraw(WithdrawDeclaration {
                    reason: "cancelled".to_owned(),
                    actor: declarant_actor("ORGA"),
                    at: when,
                });
                h.execute(*id, withdraw).await;
            }
            _ => {
                h.inspect(*id, InspectionResult::Discrepancies, when).await;
                let refuse = DeclarationCommand::Refuse(RefuseDeclaration {
                    reason: "no".to_owned(),
                    actor: officer(),
                    at: when,
                });
                h.execute(*id, refuse).await;
            }
        }
    }
    let mut bad = filing("ORGA", "L-bad", "30", &items_for(Lane::Green));
    bad.header.incoterm = s("XYZ");
    h.file(bad, at(200)).await;

    let head = h.store.head_position().await.unwrap();
    let mut status = h.runner.status();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let current = status.borrow_and_update().clone();
            if current.position >= head && current.state == State::Live {
                break;
            }
            status.changed().await.unwrap();
        }
    })
    .await
    .expect("the live projection reaches the head");
    stop.send(()).unwrap();
    task.await.unwrap();

    let live = h.snapshot().await;
    assert_eq!(live.len(), 13);
    for (id, _) in &ids {
        h.assert_agrees_with_domain(*id).await;
    }
    // A rebuild fills a new generation from position 0 and switches to it: the same model.
    let rebuilt = h.runner.rebuild().await.unwrap();
    assert_eq!(rebuilt.generation, 2);
    assert_eq!(h.snapshot().await, live);
    h.finish().await;
}

/// Appends raw events to a declaration stream, behind the domain's back.
async fn append_raw(h: &Harness, id: Uuid, events: Vec<NewEvent>) -> u64 {
    let stream = StreamId::parse(format!("declaration-{id}")).unwrap();
    let result = h
        .store
        .append(&stream, ExpectedVersion::Any, events)
        .await
        .unwrap();
    *result.positions.last().unwrap()
}

pub async fn undecodable(db: TestDb) {
    let mut h = Harness::new(db).await;
    let id = h
        .file(filing("ORGA", "U-1", "30", &items_for(Lane::Yellow)), at(0))
        .await;
    h.catch_up().await;
    let checkpoint = h.runner.checkpoint().await.unwrap();
    let teleported = NewEvent::new(
        "DeclarationTeleported",
        serde_json::json!({ "declarationId": id }),
    );
    let position = append_raw(&h, id, vec![teleported]).await;
    let error = h.runner.catch_up().await.unwrap_err();
    assert!(
        matches!(&error, ProjectionError::Handler { position: p, message, .. }
            if *p == position && message.contains("DeclarationTeleported")),
        "{error}"
    );
    assert_eq!(h.runner.checkpoint().await.unwrap(), checkpoint);
    assert_eq!(h.get(id).await.status, Status::AwaitingInspection);
    h.finish().await;
}

pub async fn broken_payload(db: TestDb) {
    let mut h = Harness::new(db).await;
    h.file(filing("ORGA", "U-1", "30", &items_for(Lane::Green)), at(0))
        .await;
    h.catch_up().await;
    let id = id_of("ORGA", "U-2");
    let broken = NewEvent::new(
        "DeclarationFiled",
        serde_json::json!({ "declarationId": id }),
    );
    let position = append_raw(&h, id, vec![broken]).await;
    let error = h.runner.catch_up().await.unwrap_err();
    assert!(
        matches!(&error, ProjectionError::Handler { position: p, message, .. }
            if *p == position && message.contains("does not match its schema")),
        "{error}"
    );
    assert_eq!(h.runner.checkpoint().await.unwrap(), position - 1);
    assert_eq!(h.query.get(&all(), id).await.unwrap(), None);
    h.finish().await;
}

pub async fn orphan_event(db: TestDb) {
    let h = Harness::new(db).await;
    // Decide a filing, but append only what follows DeclarationFiled.
    let id = id_of("ORGA", "O-1");
    let events = decide(
        &Declaration::default(),
        DeclarationCommand::File(FileDeclaration {
            declaration_id: id,
            filing: filing("ORGA", "O-1", "30", &items_for(Lane::Green)),
            filing_date: date("2026-03-05"),
            context: context(),
            actor: declarant_actor("ORGA"),
            at: at(0),
        }),
    )
    .unwrap();
    let risk = &events[1];
    let position = append_raw(
        &h,
        id,
        vec![NewEvent::new(risk.event_type(), risk.payload().unwrap())],
    )
    .await;
    let error = h.runner.catch_up().await.unwrap_err();
    assert!(
        matches!(&error, ProjectionError::Handler { position: p, .. } if *p == position),
        "{error}"
    );
    assert!(matches!(
        h.runner.status().borrow().state,
        State::Failed { .. }
    ));
    assert_eq!(h.query.get(&all(), id).await.unwrap(), None);
    h.finish().await;
}
