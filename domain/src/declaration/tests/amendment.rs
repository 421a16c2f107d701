//! Amendment before acceptance: a new version, re-validated and re-assessed; the old one stays.

use super::fixtures::*;
use super::given;
use crate::declaration::*;
use crate::event::DomainEvent;
use crate::risk::Lane;

fn amend(filing: RawFiling) -> DeclarationCommand {
    DeclarationCommand::Amend(AmendDeclaration {
        filing,
        reason: "corrected origin".into(),
        context: context(),
        actor: declarant(),
        at: at(10),
    })
}

#[test]
fn an_amendment_that_clears_the_risk_is_reassessed_and_accepted() {
    let history = filed(Lane::Yellow);
    let (events, state) = given(history.clone())
        .when(amend(raw_filing()))
        .then_types(&[
            "DeclarationAmended",
            "RiskAssessed",
            "DutiesAssessed",
            "DeclarationAccepted",
        ]);
    let DeclarationEvent::DeclarationAmended(amended) = &events[0] else {
        unreachable!()
    };
    assert_eq!(amended.version, 2);
    assert_eq!(amended.reason, "corrected origin");
    assert!(events[1..].iter().all(|e| match e {
        DeclarationEvent::RiskAssessed(r) => r.version == 2,
        DeclarationEvent::DutiesAssessed(d) => d.version == 2,
        DeclarationEvent::DeclarationAccepted(a) => a.version == 2 && a.automatic,
        _ => false,
    }));
    assert_eq!(
        (state.status, state.version, state.lane),
        (Status::Accepted, 2, Some(Lane::Green))
    );
    // The first version stays in the history.
    let DeclarationEvent::DeclarationFiled(first) = &history[0] else {
        unreachable!()
    };
    assert_eq!(first.data.items[1].origin_country.as_str(), "VN");
}

#[test]
fn an_amended_declaration_in_a_risk_lane_awaits_a_new_inspection() {
    let (_, state) = given(inspected(Lane::Red, InspectionResult::Discrepancies))
        .when(amend(raw_filing_for(Lane::Yellow)))
        .then_types(&["DeclarationAmended", "RiskAssessed", "DutiesAssessed"]);
    assert_eq!(state.status, Status::AwaitingInspection);
    assert_eq!(
        state.last_inspection, None,
        "the earlier inspection was of the earlier version"
    );
    assert_eq!(state.version, 2);
}

#[test]
fn an_amendment_keeps_the_original_filing_date() {
    let (events, _) = given(filed(Lane::Yellow))
        .when(amend(raw_filing_for(Lane::Yellow)))
        .then_types(&["DeclarationAmended", "RiskAssessed", "DutiesAssessed"]);
    let DeclarationEvent::DeclarationAmended(amended) = &events[0] else {
        unreachable!()
    };
    assert_eq!(amended.data.header.filing_date, filing_date());
}

#[test]
fn an_invalid_amendment_is_refused_with_every_error_and_changes_nothing() {
    let mut filing = raw_filing();
    filing.items[0].hs_code = Some("1234".into());
    filing.items[1].unit = Some("XYZ".into());
    let e = given(filed(Lane::Yellow))
        .when(amend(filing))
        .then_err("VALIDATION_FAILED");
    let DeclarationError::InvalidAmendment(errors) = e else {
        unreachable!()
    };
    let codes: Vec<_> = errors
        .iter()
        .map(|e| (e.code.as_str(), e.path.as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            ("INVALID_HS_CODE", "items[0].hsCode"),
            ("INVALID_UNIT", "items[1].unit")
        ]
    );
}

#[test]
fn an_amendment_cannot_change_the_lrn() {
    let mut filing = raw_filing();
    filing.header.lrn = Some("IMP-2026-0002".into());
    given(filed(Lane::Yellow))
        .when(amend(filing))
        .then_err("AMENDMENT_CHANGES_IDENTITY");
}

#[test]
fn an_amendment_needs_a_reason() {
    let DeclarationCommand::Amend(mut command) = amend(raw_filing()) else {
        unreachable!()
    };
    command.reason = String::new();
    given(filed(Lane::Yellow))
        .when(DeclarationCommand::Amend(command))
        .then_err("MISSING_FIELD");
}

#[test]
fn an_accepted_declaration_cannot_be_amended() {
    let e = given(filed(Lane::Green))
        .when(amend(raw_filing()))
        .then_err("INVALID_STATE");
    assert_eq!(e.state(), Some(Status::Accepted));
}

#[test]
fn a_rejected_filing_is_filed_again_not_amended() {
    let mut bad = raw_filing();
    bad.items.clear();
    let history = given([]).when(file(bad)).result.unwrap();
    assert_eq!(history[0].event_type(), "DeclarationRejected");
    let e = given(history)
        .when(amend(raw_filing()))
        .then_err("INVALID_STATE");
    assert_eq!(e.state(), Some(Status::Rejected));
}
