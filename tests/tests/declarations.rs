//! Declarations through the command service on every backend: filing with the sample reference
//! data, retransmission, rejection, access by role and organisation, concurrent officers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use aduana_tests::{TestDb, on_every_backend};
use commands::declaration::{Caller, CommandError, DeclarationService, Role};
use commands::reference::{self, ReferenceFiles, ReferenceView};
use domain::codes::Actor;
use domain::declaration::{
    InspectionKind, InspectionResult, RawFiling, RawHeader, RawItem, Status,
};
use domain::reference::ReferenceEvent;
use domain::risk::{Lane, RiskCondition, RiskRule, RiskRulesPublished, RuleSet};
use eventstore::EventStore;

on_every_backend! {
    a_valid_filing_gets_its_lane_and_duties_at_once => valid_filing;
    a_retransmitted_filing_is_answered_from_its_events_and_writes_nothing => retransmission;
    an_invalid_filing_is_recorded_with_every_error => invalid_filing;
    declarants_act_only_for_their_own_organisation => organisation_isolation;
    a_rejected_filing_sent_again_is_decided_again_but_recorded_only_when_the_outcome_changes => rejected_retransmission;
    officers_work_the_yellow_lane_and_only_one_of_two_racing_acceptances_wins => racing_officers;
}

fn caller(role: Role, org: Option<&str>, name: &str) -> Caller {
    Caller {
        role,
        organisation: org.map(str::to_owned),
        actor: Actor::parse(name).unwrap(),
    }
}

fn declarant(org: &str) -> Caller {
    caller(Role::Declarant, Some(org), &format!("declarant/{org}"))
}

fn officer(name: &str) -> Caller {
    caller(Role::Officer, None, &format!("officer/{name}"))
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

/// Two laptop lines, CIF in dollars, from Vietnam unless changed.
fn filing(declarant: &str, lrn: &str, origin: &str) -> RawFiling {
    let item = |value: &str| RawItem {
        hs_code: s("8471300000"),
        description: s("Portable computers"),
        origin_country: s(origin),
        preference_claim: None,
        quantity: s("10"),
        unit: s("H87"),
        net_mass: s("25.5"),
        gross_mass: s("30"),
        invoice_value: s(value),
    };
    RawFiling {
        header: RawHeader {
            declaration_type: s("import"),
            lrn: s(lrn),
            declarant: s(declarant),
            importer: s("IMP42"),
            exporter: None,
            customs_office: s("30"),
            transport_mode: s("40"),
            dispatch_country: s(origin),
            incoterm: s("CIF"),
            invoice_currency: s("USD"),
            invoice_amount: s("1500.00"),
            freight: None,
            insurance: None,
        },
        items: vec![item("1000.00"), item("500.00")],
    }
}

/// Imports the sample reference data and rules sending Vietnamese goods to the yellow lane
/// (no random inspection, so lanes are predictable).
async fn service(store: &EventStore) -> DeclarationService {
    let mut events = reference::sample_events().unwrap();
    let rules = RuleSet::new(
        7,
        vec![RiskRule {
            id: "ORIGIN-VN".into(),
            lane: Lane::Yellow,
            condition: RiskCondition::Origins {
                countries: BTreeSet::from([domain::codes::CountryCode::parse("VN").unwrap()]),
            },
        }],
        None,
    )
    .unwrap();
    events.push(ReferenceEvent::RiskRulesPublished(RiskRulesPublished(
        rules,
    )));
    reference::import(store, events, "admin/test")
        .await
        .unwrap();
    DeclarationService::new(store.clone(), ReferenceView::load(store).await.unwrap())
}

async fn valid_filing(db: TestDb) {
    let store = db.open().await;
    let service = service(&store).await;
    let outcome = service
        .file(&declarant("ACME"), filing("ACME", "LRN-1", "US"))
        .await
        .unwrap();
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(outcome.state.lane, Some(Lane::Green));
    assert_eq!(
        outcome.state.status,
        Status::Accepted,
        "green is accepted automatically"
    );
    let assessment = outcome.state.assessment.as_ref().expect("duties assessed");
    assert!(assessment.totals.taxes > domain::Decimal::ZERO);
    assert_eq!(
        outcome.id,
        domain::declaration::declaration_id(
            &domain::codes::PartyId::parse("ACME").unwrap(),
            &domain::codes::Lrn::parse("LRN-1").unwrap(),
        )
    );
    // Every event records the actor.
    let history = service.get(&declarant("ACME"), outcome.id).await.unwrap();
    assert_eq!(history.stream_version, outcome.stream_version);
    db.finish(store).await;
}

async fn retransmission(db: TestDb) {
    let store = db.open().await;
    let service = service(&store).await;
    let first = service
        .file(&declarant("ACME"), filing("ACME", "LRN-2", "US"))
        .await
        .unwrap();
    let head = store.head_position().await.unwrap();
    let again = service
        .file(&declarant("ACME"), filing("ACME", "LRN-2", "US"))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.id, again.stream_version),
        (first.id, first.stream_version)
    );
    assert_eq!(
        store.head_position().await.unwrap(),
        head,
        "nothing written twice"
    );

    let mut changed = filing("ACME", "LRN-2", "US");
    changed.items[0].quantity = s("11");
    let err = service.file(&declarant("ACME"), changed).await.unwrap_err();
    assert_eq!(err.code(), "DUPLICATE_LRN");
    db.finish(store).await;
}

async fn invalid_filing(db: TestDb) {
    let store = db.open().await;
    let service = service(&store).await;
    let mut bad = filing("ACME", "LRN-3", "US");
    bad.header.invoice_currency = s("XXY");
    bad.items[1].hs_code = s("9999999999");
    bad.items[0].net_mass = s("40");
    let outcome = service.file(&declarant("ACME"), bad).await.unwrap();
    assert_eq!(outcome.state.status, Status::Rejected);
    let paths: BTreeSet<&str> = outcome.errors.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains("header.invoiceCurrency"), "{paths:?}");
    assert!(paths.contains("items[1].hsCode"), "{paths:?}");
    assert!(paths.contains("items[0].netMass"), "{paths:?}");
    // The rejection is an event: the declarant reads it back.
    let read = service.get(&declarant("ACME"), outcome.id).await.unwrap();
    assert_eq!(read.errors.len(), outcome.errors.len());
    // Filing again, corrected, under the same LRN works.
    let fixed = service
        .file(&declarant("ACME"), filing("ACME", "LRN-3", "US"))
        .await
        .unwrap();
    assert_eq!(fixed.state.status, Status::Accepted);
    db.finish(store).await;
}

async fn organisation_isolation(db: TestDb) {
    let store = db.open().await;
    let service = service(&store).await;
    let err = service
        .file(&declarant("ACME"), filing("OTHER", "LRN-4", "US"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "FORBIDDEN");
    let err = service
        .file(&officer("K1"), filing("ACME", "LRN-4", "US"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "FORBIDDEN");

    let mine = service
        .file(&declarant("ACME"), filing("ACME", "LRN-4", "VN"))
        .await
        .unwrap();
    assert_eq!(mine.state.status, Status::AwaitingInspection);
    let theirs = declarant("RIVAL");
    assert!(matches!(
        service.get(&theirs, mine.id).await,
        Err(CommandError::NotFound(_))
    ));
    for result in [
        service.withdraw(&theirs, mine.id, "mine now".into()).await,
        service
            .amend(&theirs, mine.id, filing("ACME", "LRN-4", "VN"), "x".into())
            .await,
        service.accept(&theirs, mine.id).await,
    ] {
        assert_eq!(
            result.unwrap_err().code(),
            "NOT_FOUND",
            "another organisation learns nothing"
        );
    }
    // Declarants cannot do an officer's work on their own declaration either.
    assert_eq!(
        service
            .accept(&declarant("ACME"), mine.id)
            .await
            .unwrap_err()
            .code(),
        "FORBIDDEN"
    );
    // Officers see everything; the declarant can withdraw its own open declaration.
    assert!(service.get(&officer("K1"), mine.id).await.is_ok());
    let withdrawn = service
        .withdraw(&declarant("ACME"), mine.id, "wrong goods".into())
        .await
        .unwrap();
    assert_eq!(withdrawn.state.status, Status::Withdrawn);

    // A filing that leaves the declarant out is filed for the caller's organisation.
    let mut anonymous = filing("ACME", "LRN-6", "US");
    anonymous.header.declarant = None;
    let filed = service.file(&declarant("ACME"), anonymous).await.unwrap();
    assert_eq!(filed.state.status, Status::Accepted);
    let header = &filed.state.data.as_ref().unwrap().header;
    assert_eq!(header.declarant.to_string(), "ACME");
    db.finish(store).await;
}

async fn racing_officers(db: TestDb) {
    let store = db.open().await;
    let service = service(&store).await;
    let filed = service
        .file(&declarant("ACME"), filing("ACME", "LRN-5", "VN"))
        .await
        .unwrap();
    assert_eq!(filed.state.lane, Some(Lane::Yellow));
    let err = service.accept(&officer("K1"), filed.id).await.unwrap_err();
    assert_eq!(
        err.code(),
        "INVALID_STATE",
        "acceptance needs an inspection first"
    );
    service
        .record_inspection(
            &officer("K1"),
            filed.id,
            InspectionKind::Documentary,
            InspectionResult::Compliant,
            "documents match".into(),
        )
        .await
        .unwrap();

    let (k1, k2) = (officer("K1"), officer("K2"));
    let (a, b) = tokio::join!(service.accept(&k1, filed.id), service.accept(&k2, filed.id));
    let results = [a, b];
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "exactly one acceptance wins: {results:?}");
    let loser = results.into_iter().find_map(Result::err).unwrap();
    assert!(
        matches!(loser.code(), "CONFLICT" | "INVALID_STATE"),
        "{loser:?}"
    );
    let now = service.get(&officer("K3"), filed.id).await.unwrap();
    assert_eq!(now.state.status, Status::Accepted);
    db.finish(store).await;
}

async fn rejected_retransmission(db: TestDb) {
    let store = db.open().await;
    let service = service(&store).await;
    let mut unknown_code = filing("ACME", "LRN-7", "US");
    unknown_code.items[1].hs_code = s("0000000001");
    let first = service
        .file(&declarant("ACME"), unknown_code.clone())
        .await
        .unwrap();
    assert_eq!(first.state.status, Status::Rejected);
    let head = store.head_position().await.unwrap();

    // Sent again unchanged, still invalid: answered from the stored rejection.
    let again = service
        .file(&declarant("ACME"), unknown_code.clone())
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.errors, first.errors);
    assert_eq!(
        store.head_position().await.unwrap(),
        head,
        "nothing written twice"
    );

    // The tariff line is published; the same filing sent again is lodged.
    let mut files = ReferenceFiles::new();
    files.add(
        "tariff.csv",
        "hs_code,description,duty_rate,specific_rate,specific_unit,vat_rate,valid_from,valid_to\n\
         0000000001,Test goods,3,,,10,2020-01-01,\n",
    );
    reference::import(&store, files.events().unwrap(), "admin/test")
        .await
        .unwrap();
    service.reference().refresh(&store).await.unwrap();
    let lodged = service
        .file(&declarant("ACME"), unknown_code.clone())
        .await
        .unwrap();
    assert!(!lodged.replayed);
    assert_eq!(lodged.state.status, Status::Accepted);
    let after = store.head_position().await.unwrap();
    let replay = service
        .file(&declarant("ACME"), unknown_code)
        .await
        .unwrap();
    assert!(replay.replayed);
    assert_eq!(store.head_position().await.unwrap(), after);
    db.finish(store).await;
}
