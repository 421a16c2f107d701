//! `decide`: what a command means for a declaration in its current state.

use super::commands::{
    AcceptDeclaration, AmendDeclaration, AssessmentContext, CorrectDeclaration, DeclarationCommand,
    FileDeclaration, RecordInspection, RecordPayment, RefuseDeclaration, WithdrawDeclaration,
};
use super::data::DeclarationData;
use super::declaration_id;
use super::error::DeclarationError;
use super::events::*;
use super::state::{Declaration, Status};
use super::validation::{ValidationContext, validate};
use super::validation_error::ValidationError;
use crate::codes::{Actor, Lrn, PartyId};
use crate::duty::assess;
use crate::risk::{Lane, assess_risk};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

/// The longest free text (reasons, notes) accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;

/// The longest payment or case reference accepted, in characters.
pub const MAX_REFERENCE_CHARS: usize = 100;

/// Decides the events a command produces, or why it is refused.
pub fn decide(
    state: &Declaration,
    command: DeclarationCommand,
) -> Result<Vec<DeclarationEvent>, DeclarationError> {
    let name = command.name();
    let invalid_state = || DeclarationError::InvalidState {
        command: name,
        state: state.status,
    };
    let id = state.id.unwrap_or_default();
    match command {
        DeclarationCommand::File(c) => file(state, c),
        DeclarationCommand::Amend(c) if state.status.is_lodged_and_open() => amend(state, id, c),
        DeclarationCommand::Withdraw(WithdrawDeclaration { reason, actor, at })
            if state.status.is_lodged_and_open() =>
        {
            let reason = required_text("reason", reason, MAX_TEXT_CHARS)?;
            Ok(vec![DeclarationEvent::DeclarationWithdrawn(
                DeclarationWithdrawn {
                    declaration_id: id,
                    reason,
                    at,
                    actor,
                },
            )])
        }
        DeclarationCommand::RecordInspection(c) if state.status.is_lodged_and_open() => {
            inspect(state, id, c)
        }
        DeclarationCommand::Accept(AcceptDeclaration { actor, at })
            if state.status == Status::Inspected =>
        {
            Ok(vec![DeclarationEvent::DeclarationAccepted(
                DeclarationAccepted {
                    declaration_id: id,
                    version: state.version,
                    automatic: false,
                    at,
                    actor,
                },
            )])
        }
        DeclarationCommand::Refuse(RefuseDeclaration { reason, actor, at })
            if state.status.is_lodged_and_open() =>
        {
            let reason = required_text("reason", reason, MAX_TEXT_CHARS)?;
            Ok(vec![DeclarationEvent::DeclarationRefused(
                DeclarationRefused {
                    declaration_id: id,
                    reason,
                    at,
                    actor,
                },
            )])
        }
        DeclarationCommand::RecordPayment(c)
            if state.status.is_lodged_and_open() || state.status == Status::Accepted =>
        {
            pay(state, id, c)
        }
        DeclarationCommand::Correct(c) if state.status == Status::Accepted => correct(state, id, c),
        _ => Err(invalid_state()),
    }
}

fn file(
    state: &Declaration,
    c: FileDeclaration,
) -> Result<Vec<DeclarationEvent>, DeclarationError> {
    if !matches!(state.status, Status::New | Status::Rejected) {
        return Err(DeclarationError::DuplicateLrn {
            declaration_id: state.id.unwrap_or(c.declaration_id),
        });
    }
    let h = &c.filing.header;
    if let (Some(Ok(declarant)), Some(Ok(lrn))) = (
        h.declarant.as_deref().map(PartyId::parse),
        h.lrn.as_deref().map(Lrn::parse),
    ) {
        let derived = declaration_id(&declarant, &lrn);
        if derived != c.declaration_id {
            return Err(DeclarationError::IdMismatch {
                given: c.declaration_id,
                derived,
            });
        }
    }
    let id = c.declaration_id;
    let outcome = validate_and_assess(&c.filing, c.filing_date, id, 1, &c.context, &c.actor, c.at);
    Ok(match outcome {
        Ok((data, mut assessed)) => {
            let filed = DeclarationFiled {
                declaration_id: id,
                version: 1,
                data,
                at: c.at,
                actor: c.actor,
            };
            assessed.insert(0, DeclarationEvent::DeclarationFiled(filed));
            assessed
        }
        Err(errors) => vec![DeclarationEvent::DeclarationRejected(DeclarationRejected {
            declaration_id: id,
            filing: c.filing,
            errors,
            filing_date: c.filing_date,
            at: c.at,
            actor: c.actor,
        })],
    })
}

fn amend(
    state: &Declaration,
    id: Uuid,
    c: AmendDeclaration,
) -> Result<Vec<DeclarationEvent>, DeclarationError> {
    let reason = required_text("reason", c.reason, MAX_TEXT_CHARS)?;
    let Some(current) = &state.data else {
        return Err(DeclarationError::InvalidState {
            command: "amendDeclaration",
            state: state.status,
        });
    };
    let version = state.version + 1;
    let filing_date = current.header.filing_date;
    let (data, assessed) = validate_and_assess(
        &c.filing,
        filing_date,
        id,
        version,
        &c.context,
        &c.actor,
        c.at,
    )
    .map_err(DeclarationError::InvalidAmendment)?;
    let (old, new) = (&current.header, &data.header);
    if old.declarant != new.declarant {
        return Err(DeclarationError::IdentityChanged("declarant"));
    }
    if old.lrn != new.lrn {
        return Err(DeclarationError::IdentityChanged("LRN"));
    }
    if old.declaration_type != new.declaration_type {
        return Err(DeclarationError::IdentityChanged("declaration type"));
    }
    let amended = DeclarationAmended {
        declaration_id: id,
        version,
        data,
        reason,
        at: c.at,
        actor: c.actor,
    };
    Ok(
        std::iter::once(DeclarationEvent::DeclarationAmended(amended))
            .chain(assessed)
            .collect(),
    )
}

/// Validates a filing, assesses its duties and assigns its lane: the events that follow
/// `DeclarationFiled`/`DeclarationAmended` (plus automatic acceptance in the green lane).
fn validate_and_assess(
    filing: &super::filing::RawFiling,
    filing_date: chrono::NaiveDate,
    id: Uuid,
    version: u32,
    ctx: &AssessmentContext,
    actor: &Actor,
    at: DateTime<Utc>,
) -> Result<(DeclarationData, Vec<DeclarationEvent>), Vec<ValidationError>> {
    let vctx = ValidationContext {
        reference: &ctx.reference,
        policy: &ctx.policy,
        filing_date,
    };
    let data = validate(filing, vctx)?;
    // Validation checks what assessment needs; should they ever disagree, the filing is still
    // rejected with the assessment's errors rather than half-assessed.
    let assessment = assess(&data.assessment_input(), &ctx.reference, &ctx.policy)
        .map_err(|errors| errors.iter().map(ValidationError::from).collect::<Vec<_>>())?;
    let subject = data.risk_subject(
        id,
        assessment.totals.customs_value,
        ctx.trader_fraud_findings,
    );
    let outcome = assess_risk(&ctx.rules, &subject, ctx.seed);
    let lane = outcome.lane;
    let mut events = vec![
        DeclarationEvent::RiskAssessed(RiskAssessed {
            declaration_id: id,
            version,
            outcome,
            at,
            actor: actor.clone(),
        }),
        DeclarationEvent::DutiesAssessed(DutiesAssessed {
            declaration_id: id,
            version,
            assessment,
            at,
            actor: actor.clone(),
        }),
    ];
    if lane == Lane::Green {
        events.push(DeclarationEvent::DeclarationAccepted(DeclarationAccepted {
            declaration_id: id,
            version,
            automatic: true,
            at,
            actor: Actor::system(),
        }));
    }
    Ok((data, events))
}

fn inspect(
    state: &Declaration,
    id: Uuid,
    c: RecordInspection,
) -> Result<Vec<DeclarationEvent>, DeclarationError> {
    if state.lane == Some(Lane::Red) && c.kind == InspectionKind::Documentary {
        return Err(DeclarationError::PhysicalInspectionRequired);
    }
    let notes = if c.result == InspectionResult::Discrepancies {
        required_text("notes", c.notes, MAX_TEXT_CHARS)?
    } else {
        bounded_text("notes", c.notes, MAX_TEXT_CHARS)?
    };
    Ok(vec![DeclarationEvent::InspectionRecorded(
        InspectionRecorded {
            declaration_id: id,
            version: state.version,
            kind: c.kind,
            result: c.result,
            notes,
            at: c.at,
            actor: c.actor,
        },
    )])
}

fn pay(
    state: &Declaration,
    id: Uuid,
    c: RecordPayment,
) -> Result<Vec<DeclarationEvent>, DeclarationError> {
    let Some(assessment) = &state.assessment else {
        return Err(DeclarationError::InvalidState {
            command: "recordPayment",
            state: state.status,
        });
    };
    let currency = assessment.policy.national_currency;
    if c.amount <= Decimal::ZERO || c.amount.scale() > currency.minor_units() {
        return Err(DeclarationError::InvalidAmount {
            field: "amount",
            rule: "positive, within the currency's minor units",
            value: c.amount,
        });
    }
    let reference = required_text("reference", c.reference, MAX_REFERENCE_CHARS)?;
    if state.payment_references.contains(&reference) {
        return Err(DeclarationError::DuplicatePaymentReference(reference));
    }
    Ok(vec![DeclarationEvent::PaymentRecorded(PaymentRecorded {
        declaration_id: id,
        amount: c.amount,
        currency,
        reference,
        at: c.at,
        actor: c.actor,
    })])
}

fn correct(
    state: &Declaration,
    id: Uuid,
    c: CorrectDeclaration,
) -> Result<Vec<DeclarationEvent>, DeclarationError> {
    let Some(assessment) = &state.assessment else {
        return Err(DeclarationError::InvalidState {
            command: "correctDeclaration",
            state: state.status,
        });
    };
    let currency = assessment.policy.national_currency;
    for (field, value) in [
        ("additionalTax", c.additional_tax),
        ("drawback", c.drawback),
    ] {
        if value < Decimal::ZERO || value.scale() > currency.minor_units() {
            return Err(DeclarationError::InvalidAmount {
                field,
                rule: "non-negative, within the currency's minor units",
                value,
            });
        }
    }
    if c.additional_tax.is_zero() && c.drawback.is_zero() {
        return Err(DeclarationError::EmptyCorrection);
    }
    let reason = required_text("reason", c.reason, MAX_TEXT_CHARS)?;
    let case_reference = match c.case_reference {
        Some(r) if !r.trim().is_empty() => {
            Some(bounded_text("caseReference", r, MAX_REFERENCE_CHARS)?)
        }
        _ => None,
    };
    Ok(vec![DeclarationEvent::DeclarationCorrected(
        DeclarationCorrected {
            declaration_id: id,
            additional_tax: c.additional_tax,
            drawback: c.drawback,
            currency,
            reason,
            case_reference,
            at: c.at,
            actor: c.actor,
        },
    )])
}

fn required_text(
    field: &'static str,
    text: String,
    max: usize,
) -> Result<String, DeclarationError> {
    if text.trim().is_empty() {
        return Err(DeclarationError::MissingField(field));
    }
    bounded_text(field, text, max)
}

fn bounded_text(field: &'static str, text: String, max: usize) -> Result<String, DeclarationError> {
    if text.chars().count() > max {
        return Err(DeclarationError::FieldTooLong(field, max));
    }
    Ok(text)
}
