//! After filing: inspection, acceptance, refusal, withdrawal, payment and correction.

use super::fixtures::*;
use super::given;
use crate::declaration::*;
use crate::risk::Lane;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn inspect(kind: InspectionKind, result: InspectionResult, notes: &str) -> DeclarationCommand {
    DeclarationCommand::RecordInspection(RecordInspection {
        kind,
        result,
        notes: notes.into(),
        actor: officer(),
        at: at(30),
    })
}

fn accept() -> DeclarationCommand {
    DeclarationCommand::Accept(AcceptDeclaration {
        actor: officer(),
        at: at(40),
    })
}

fn refuse(reason: &str) -> DeclarationCommand {
    DeclarationCommand::Refuse(RefuseDeclaration {
        reason: reason.into(),
        actor: officer(),
        at: at(40),
    })
}

fn withdraw(reason: &str) -> DeclarationCommand {
    DeclarationCommand::Withdraw(WithdrawDeclaration {
        reason: reason.into(),
        actor: declarant(),
        at: at(20),
    })
}

fn pay(amount: Decimal, reference: &str) -> DeclarationCommand {
    DeclarationCommand::RecordPayment(RecordPayment {
        amount,
        reference: reference.into(),
        actor: declarant(),
        at: at(50),
    })
}

fn correct(additional_tax: Decimal, drawback: Decimal) -> DeclarationCommand {
    DeclarationCommand::Correct(CorrectDeclaration {
        additional_tax,
        drawback,
        reason: "undervaluation found in audit".into(),
        case_reference: Some("AUDIT-2026-17".into()),
        actor: officer(),
        at: at(60),
    })
}

#[test]
fn an_officer_records_a_documentary_review_of_a_yellow_declaration() {
    let state = given(filed(Lane::Yellow))
        .when(inspect(
            InspectionKind::Documentary,
            InspectionResult::Compliant,
            "invoice checked",
        ))
        .then([DeclarationEvent::InspectionRecorded(InspectionRecorded {
            declaration_id: id(),
            version: 1,
            kind: InspectionKind::Documentary,
            result: InspectionResult::Compliant,
            notes: "invoice checked".into(),
            at: at(30),
            actor: officer(),
        })]);
    assert_eq!(state.status, Status::Inspected);
}

#[test]
fn a_red_declaration_needs_a_physical_inspection() {
    given(filed(Lane::Red))
        .when(inspect(
            InspectionKind::Documentary,
            InspectionResult::Compliant,
            "",
        ))
        .then_err("PHYSICAL_INSPECTION_REQUIRED");
}

#[test]
fn discrepancies_must_be_described_in_the_notes() {
    given(filed(Lane::Red))
        .when(inspect(
            InspectionKind::Physical,
            InspectionResult::Discrepancies,
            "  ",
        ))
        .then_err("MISSING_FIELD");
}

#[test]
fn a_cleared_declaration_cannot_be_inspected() {
    let e = given(filed(Lane::Green))
        .when(inspect(
            InspectionKind::Physical,
            InspectionResult::Compliant,
            "",
        ))
        .then_err("INVALID_STATE");
    assert_eq!(e.state(), Some(Status::Accepted));
    assert_eq!(
        e.to_string(),
        "recordInspection is not possible while the declaration is accepted"
    );
}

#[test]
fn an_inspected_declaration_is_accepted_by_the_officer() {
    let state = given(inspected(Lane::Red, InspectionResult::Compliant))
        .when(accept())
        .then([DeclarationEvent::DeclarationAccepted(DeclarationAccepted {
            declaration_id: id(),
            version: 1,
            automatic: false,
            at: at(40),
            actor: officer(),
        })]);
    assert_eq!(state.status, Status::Accepted);
}

#[test]
fn a_declaration_awaiting_inspection_cannot_be_accepted_yet() {
    let e = given(filed(Lane::Yellow))
        .when(accept())
        .then_err("INVALID_STATE");
    assert_eq!(e.state(), Some(Status::AwaitingInspection));
}

#[test]
fn an_officer_refuses_a_declaration_with_a_reason() {
    let state = given(inspected(Lane::Red, InspectionResult::Discrepancies))
        .when(refuse("goods are prohibited"))
        .then([DeclarationEvent::DeclarationRefused(DeclarationRefused {
            declaration_id: id(),
            reason: "goods are prohibited".into(),
            at: at(40),
            actor: officer(),
        })]);
    assert_eq!(state.status, Status::Refused);
}

#[test]
fn a_refusal_needs_a_reason() {
    given(filed(Lane::Yellow))
        .when(refuse(""))
        .then_err("MISSING_FIELD");
}

#[test]
fn a_refused_declaration_cannot_be_accepted() {
    let mut history = filed(Lane::Yellow);
    history.push(DeclarationEvent::DeclarationRefused(DeclarationRefused {
        declaration_id: id(),
        reason: "no".into(),
        at: at(1),
        actor: officer(),
    }));
    let e = given(history).when(accept()).then_err("INVALID_STATE");
    assert_eq!(e.state(), Some(Status::Refused));
}

#[test]
fn the_declarant_withdraws_before_acceptance() {
    let state = given(filed(Lane::Yellow))
        .when(withdraw("wrong consignment"))
        .then([DeclarationEvent::DeclarationWithdrawn(
            DeclarationWithdrawn {
                declaration_id: id(),
                reason: "wrong consignment".into(),
                at: at(20),
                actor: declarant(),
            },
        )]);
    assert_eq!(state.status, Status::Withdrawn);
}

#[test]
fn an_accepted_declaration_cannot_be_withdrawn() {
    let e = given(filed(Lane::Green))
        .when(withdraw("too late"))
        .then_err("INVALID_STATE");
    assert_eq!(e.state(), Some(Status::Accepted));
}

#[test]
fn a_withdrawn_declaration_takes_no_more_commands() {
    let mut history = filed(Lane::Yellow);
    history.push(DeclarationEvent::DeclarationWithdrawn(
        DeclarationWithdrawn {
            declaration_id: id(),
            reason: "x".into(),
            at: at(1),
            actor: declarant(),
        },
    ));
    for command in [
        withdraw("again"),
        accept(),
        refuse("r"),
        pay(dec!(10), "P1"),
        correct(dec!(10), dec!(0)),
    ] {
        assert_eq!(
            given(history.clone())
                .when(command)
                .then_err("INVALID_STATE")
                .state(),
            Some(Status::Withdrawn)
        );
    }
}

#[test]
fn commands_before_filing_name_the_new_state() {
    for command in [
        accept(),
        withdraw("x"),
        refuse("x"),
        pay(dec!(10), "P1"),
        correct(dec!(10), dec!(0)),
    ] {
        assert_eq!(
            given([]).when(command).then_err("INVALID_STATE").state(),
            Some(Status::New)
        );
    }
}

#[test]
fn a_payment_is_recorded_after_assessment_and_reduces_the_balance() {
    let state = given(filed(Lane::Yellow))
        .when(pay(dec!(100000), "BANK-1"))
        .then([DeclarationEvent::PaymentRecorded(PaymentRecorded {
            declaration_id: id(),
            amount: dec!(100000),
            currency: crate::codes::CurrencyCode::krw(),
            reference: "BANK-1".into(),
            at: at(50),
            actor: declarant(),
        })]);
    assert_eq!(state.paid, dec!(100000));
    assert_eq!(state.balance(), dec!(280220) - dec!(100000));
    assert_eq!(
        state.status,
        Status::AwaitingInspection,
        "payment does not move the lifecycle"
    );
}

#[test]
fn a_payment_is_also_recorded_after_clearance() {
    let (_, state) = given(filed(Lane::Green))
        .when(pay(dec!(280220), "BANK-1"))
        .then_types(&["PaymentRecorded"]);
    assert_eq!(state.balance(), Decimal::ZERO);
}

#[test]
fn a_payment_reference_is_recorded_once() {
    let mut history = filed(Lane::Green);
    history.extend(
        given(filed(Lane::Green))
            .when(pay(dec!(10), "BANK-1"))
            .result
            .unwrap(),
    );
    given(history)
        .when(pay(dec!(10), "BANK-1"))
        .then_err("DUPLICATE_PAYMENT_REFERENCE");
}

#[test]
fn a_payment_must_be_positive_whole_won() {
    given(filed(Lane::Green))
        .when(pay(dec!(0), "B"))
        .then_err("INVALID_AMOUNT");
    given(filed(Lane::Green))
        .when(pay(dec!(-5), "B"))
        .then_err("INVALID_AMOUNT");
    given(filed(Lane::Green))
        .when(pay(dec!(10.5), "B"))
        .then_err("INVALID_AMOUNT");
    given(filed(Lane::Green))
        .when(pay(dec!(10), " "))
        .then_err("MISSING_FIELD");
}

#[test]
fn a_cleared_declaration_is_corrected_after_audit() {
    let state = given(cleared()).when(correct(dec!(50000), dec!(0))).then([
        DeclarationEvent::DeclarationCorrected(DeclarationCorrected {
            declaration_id: id(),
            additional_tax: dec!(50000),
            drawback: dec!(0),
            currency: crate::codes::CurrencyCode::krw(),
            reason: "undervaluation found in audit".into(),
            case_reference: Some("AUDIT-2026-17".into()),
            at: at(60),
            actor: officer(),
        }),
    ]);
    assert_eq!(state.status, Status::Accepted);
    assert_eq!(state.additional_tax, dec!(50000));
}

#[test]
fn a_drawback_lowers_the_balance() {
    let (_, state) = given(cleared())
        .when(correct(dec!(0), dec!(1000)))
        .then_types(&["DeclarationCorrected"]);
    assert_eq!(state.drawback, dec!(1000));
    assert_eq!(
        state.balance(),
        state.assessment.as_ref().unwrap().totals.taxes - dec!(1000)
    );
}

#[test]
fn a_correction_before_clearance_is_refused() {
    let e = given(filed(Lane::Red))
        .when(correct(dec!(10), dec!(0)))
        .then_err("INVALID_STATE");
    assert_eq!(e.state(), Some(Status::AwaitingInspection));
}

#[test]
fn a_correction_must_change_something_and_never_be_negative() {
    given(cleared())
        .when(correct(dec!(0), dec!(0)))
        .then_err("EMPTY_CORRECTION");
    given(cleared())
        .when(correct(dec!(-1), dec!(0)))
        .then_err("INVALID_AMOUNT");
}
