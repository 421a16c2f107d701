//! Filing: validation, rejection, assessment, lane and automatic acceptance in one decision.

use super::fixtures::*;
use super::given;
use crate::codes::{Actor, Lrn, PartyId};
use crate::declaration::*;
use crate::event::DomainEvent;
use crate::risk::{Lane, RANDOM_RULE_ID, RandomInspection};
use rust_decimal_macros::dec;

#[test]
fn a_valid_filing_in_the_green_lane_is_filed_assessed_and_accepted_at_once() {
    let (events, state) = given([]).when(file(raw_filing())).then_types(&[
        "DeclarationFiled",
        "RiskAssessed",
        "DutiesAssessed",
        "DeclarationAccepted",
    ]);
    let DeclarationEvent::DeclarationAccepted(accepted) = &events[3] else {
        unreachable!()
    };
    assert!(accepted.automatic);
    assert_eq!(accepted.actor, Actor::system());
    assert_eq!(state.status, Status::Accepted);
    assert_eq!(state.lane, Some(Lane::Green));
    assert_eq!(state.version, 1);
    assert_eq!(state.id, Some(id()));
}

#[test]
fn the_duties_assessed_record_every_amount_and_rate_used() {
    let (events, state) = given([]).when(file(raw_filing())).then_types(&[
        "DeclarationFiled",
        "RiskAssessed",
        "DutiesAssessed",
        "DeclarationAccepted",
    ]);
    let DeclarationEvent::DutiesAssessed(duties) = &events[2] else {
        unreachable!()
    };
    let a = &duties.assessment;
    assert_eq!(a.exchange_rate.as_ref().unwrap().rate, dec!(1350));
    assert_eq!(a.items[0].freight, dec!(66.66));
    assert_eq!(a.items[1].freight, dec!(33.34));
    assert_eq!(a.items[0].customs_value, dec!(1444486));
    assert_eq!(
        a.items[0].preference.as_ref().unwrap().agreement.as_str(),
        "FCN1"
    );
    assert_eq!(a.items[0].duty, dec!(0));
    assert_eq!(a.items[1].duty, dec!(57780));
    assert_eq!(a.totals.customs_value, dec!(2166749));
    assert_eq!(a.totals.taxes, dec!(280220));
    assert_eq!(state.balance(), dec!(280220));
}

#[test]
fn a_filing_in_the_yellow_lane_awaits_an_officer() {
    let (events, state) = given([])
        .when(file(raw_filing_for(Lane::Yellow)))
        .then_types(&["DeclarationFiled", "RiskAssessed", "DutiesAssessed"]);
    let DeclarationEvent::RiskAssessed(risk) = &events[1] else {
        unreachable!()
    };
    assert_eq!(risk.outcome.lane, Lane::Yellow);
    assert_eq!(risk.outcome.rule_set_version, 3);
    assert_eq!(risk.outcome.fired[0].rule_id, "ORIGIN-VN");
    assert_eq!(state.status, Status::AwaitingInspection);
}

#[test]
fn a_filing_in_the_red_lane_awaits_a_physical_inspection() {
    let (_, state) = given([])
        .when(file(raw_filing_for(Lane::Red)))
        .then_types(&["DeclarationFiled", "RiskAssessed", "DutiesAssessed"]);
    assert_eq!(state.status, Status::AwaitingInspection);
    assert_eq!(state.lane, Some(Lane::Red));
}

#[test]
fn random_inspection_routes_a_selected_declaration_and_records_the_seed() {
    let DeclarationCommand::File(mut command) = file(raw_filing()) else {
        unreachable!()
    };
    command.context.rules = rules(Some(RandomInspection {
        ratio: dec!(1),
        lane: Lane::Yellow,
    }));
    command.context.seed = 77;
    let (events, state) = given([])
        .when(DeclarationCommand::File(command))
        .then_types(&["DeclarationFiled", "RiskAssessed", "DutiesAssessed"]);
    let DeclarationEvent::RiskAssessed(risk) = &events[1] else {
        unreachable!()
    };
    assert_eq!(risk.outcome.seed, 77);
    assert_eq!(risk.outcome.fired[0].rule_id, RANDOM_RULE_ID);
    assert!(risk.outcome.random.as_ref().unwrap().selected);
    assert_eq!(state.status, Status::AwaitingInspection);
}

#[test]
fn an_invalid_filing_is_rejected_with_every_error_recorded() {
    let mut filing = raw_filing();
    filing.header.invoice_currency = Some("XXY".into());
    filing.items[0].origin_country = Some("ZZ".into());
    filing.items[1].net_mass = Some("7".into());
    let errors = vec![
        ValidationError::new(
            ValidationCode::InvalidCurrency,
            "header.invoiceCurrency",
            "\"XXY\" is not an ISO 4217 currency code",
        ),
        ValidationError::new(
            ValidationCode::InvalidCountry,
            "items[0].originCountry",
            "\"ZZ\" is not an ISO 3166-1 alpha-2 country code",
        ),
        ValidationError::new(
            ValidationCode::NetMassExceedsGross,
            "items[1].netMass",
            "net mass 7 kg exceeds gross mass 6 kg",
        ),
    ];
    let state = given([])
        .when(file(filing.clone()))
        .then([DeclarationEvent::DeclarationRejected(DeclarationRejected {
            declaration_id: id(),
            filing,
            errors,
            filing_date: filing_date(),
            at: at(0),
            actor: declarant(),
        })]);
    assert_eq!(state.status, Status::Rejected);
    assert_eq!(state.rejections, 1);
}

#[test]
fn a_rejected_filing_can_be_filed_again_under_the_same_lrn() {
    let mut bad = raw_filing();
    bad.items.clear();
    let rejected = given([]).when(file(bad));
    let history = match rejected.result {
        Ok(events) => events,
        Err(e) => panic!("{e}"),
    };
    let (_, state) = given(history).when(file(raw_filing())).then_types(&[
        "DeclarationFiled",
        "RiskAssessed",
        "DutiesAssessed",
        "DeclarationAccepted",
    ]);
    assert_eq!(
        (state.status, state.rejections, state.version),
        (Status::Accepted, 1, 1)
    );
}

#[test]
fn filing_again_on_a_lodged_declaration_is_a_duplicate_lrn() {
    given(filed(Lane::Yellow))
        .when(file(raw_filing()))
        .then_err("DUPLICATE_LRN");
    given(filed(Lane::Green))
        .when(file(raw_filing()))
        .then_err("DUPLICATE_LRN");
}

#[test]
fn a_filing_sent_to_a_stream_not_derived_from_its_declarant_and_lrn_is_refused() {
    let DeclarationCommand::File(mut command) = file(raw_filing()) else {
        unreachable!()
    };
    command.declaration_id = declaration_id(
        &PartyId::parse("OTHER").unwrap(),
        &Lrn::parse("IMP-2026-0001").unwrap(),
    );
    given([])
        .when(DeclarationCommand::File(command))
        .then_err("DECLARATION_ID_MISMATCH");
}

#[test]
fn the_declaration_id_is_a_stable_uuid_v5_of_declarant_and_lrn() {
    let broker = PartyId::parse("BROKER1").unwrap();
    let lrn = Lrn::parse("IMP-2026-0001").unwrap();
    assert_eq!(declaration_id(&broker, &lrn), id());
    assert_eq!(id().get_version_num(), 5);
    assert_eq!(id().to_string(), PINNED_ID);
    assert_ne!(
        declaration_id(&PartyId::parse("BROKER2").unwrap(), &lrn),
        id()
    );
}

/// Recomputed with Python: uuid.uuid5(UUID("8d65a3e6-08ee-4365-a4c9-777eeab796b8"), "BROKER1\nIMP-2026-0001").
const PINNED_ID: &str = "ed099b2b-abe2-59c4-b56b-050cae5c03c5";

#[test]
fn filing_events_round_trip_through_their_stored_form() {
    for event in filed(Lane::Red) {
        let payload = event.payload().unwrap().to_string();
        assert_eq!(
            DeclarationEvent::decode(event.event_type(), event.schema_version(), &payload).unwrap(),
            event
        );
        assert_eq!(event.schema_version(), 1);
    }
    let DeclarationEvent::DutiesAssessed(duties) = &filed(Lane::Red)[2] else {
        unreachable!()
    };
    let json = serde_json::to_value(duties).unwrap();
    assert_eq!(
        json["assessment"]["totals"]["customsValue"], "2166749",
        "decimals are strings"
    );
    assert_eq!(json["declarationId"], id().to_string());
}

#[test]
fn the_event_catalogue_is_stable() {
    assert_eq!(
        DeclarationEvent::EVENT_TYPES,
        [
            "DeclarationFiled",
            "DeclarationRejected",
            "RiskAssessed",
            "DutiesAssessed",
            "DeclarationAmended",
            "DeclarationWithdrawn",
            "InspectionRecorded",
            "DeclarationAccepted",
            "DeclarationRefused",
            "PaymentRecorded",
            "DeclarationCorrected",
        ]
    );
}

#[test]
fn an_export_declaration_is_assessed_without_taxes() {
    let mut filing = raw_filing();
    filing.header.declaration_type = Some("export".into());
    filing.header.importer = None;
    filing.header.exporter = Some("EXP7".into());
    filing.items[0].preference_claim = None;
    let (events, state) = given([]).when(file(filing)).then_types(&[
        "DeclarationFiled",
        "RiskAssessed",
        "DutiesAssessed",
        "DeclarationAccepted",
    ]);
    let DeclarationEvent::DutiesAssessed(duties) = &events[2] else {
        unreachable!()
    };
    assert_eq!(duties.assessment.totals.customs_value, dec!(2166749));
    assert_eq!(duties.assessment.totals.taxes, dec!(0));
    assert_eq!(state.balance(), dec!(0));
}
