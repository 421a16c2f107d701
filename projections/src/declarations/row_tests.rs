//! The row fold's refusals: what does not fit the row is an error, never ignored. (The
//! lifecycle itself is specified through the store on every backend in
//! `tests/tests/declarations_projection.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use domain::codes::Actor;
use domain::declaration::{
    DeclarationEvent, DeclarationRejected, DeclarationWithdrawn, RawFiling, RawHeader, Status,
};
use uuid::Uuid;

use super::{Recorded, evolve};

fn id() -> Uuid {
    Uuid::from_u128(7)
}

fn rejection(declarant: Option<&str>) -> DeclarationEvent {
    DeclarationEvent::DeclarationRejected(DeclarationRejected {
        declaration_id: id(),
        filing: RawFiling {
            header: RawHeader {
                declarant: declarant.map(str::to_owned),
                lrn: Some(" LRN-1 ".to_owned()),
                customs_office: Some("not an office".to_owned()),
                ..RawHeader::default()
            },
            items: Vec::new(),
        },
        errors: Vec::new(),
        filing_date: chrono::NaiveDate::from_ymd_opt(2026, 3, 5).unwrap(),
        at: Utc.with_ymd_and_hms(2026, 3, 5, 9, 0, 0).unwrap(),
        actor: Actor::parse("declarant/x@ACME").unwrap(),
    })
}

fn withdrawal(declaration_id: Uuid) -> DeclarationEvent {
    DeclarationEvent::DeclarationWithdrawn(DeclarationWithdrawn {
        declaration_id,
        reason: "r".to_owned(),
        at: Utc.with_ymd_and_hms(2026, 3, 5, 10, 0, 0).unwrap(),
        actor: Actor::parse("declarant/x@ACME").unwrap(),
    })
}

fn at(stream_version: u64) -> Recorded {
    Recorded {
        id: id(),
        stream_version,
        position: 10 + stream_version,
    }
}

#[test]
fn a_rejected_filing_keeps_what_can_be_read() {
    let (row, _) = evolve(None, &rejection(Some("  ACME ")), at(1)).unwrap();
    assert_eq!(row.status, Status::Rejected);
    assert_eq!(row.declarant.as_deref(), Some("ACME"));
    assert_eq!(row.lrn.as_deref(), Some("LRN-1"));
    assert_eq!(row.office, None, "an invalid office is left out");
    assert_eq!((row.version, row.last_event_position), (1, 11));
    let (row, _) = evolve(None, &rejection(Some("   ")), at(1)).unwrap();
    assert_eq!(
        row.declarant, None,
        "a blank declarant names no organisation"
    );
    let long = "A".repeat(201);
    let (row, _) = evolve(None, &rejection(Some(&long)), at(1)).unwrap();
    assert_eq!(row.declarant, None, "no organisation has so long a name");
}

#[test]
fn an_event_before_any_filing_is_refused() {
    let error = evolve(None, &withdrawal(id()), at(1)).unwrap_err();
    assert!(error.contains("no filing"), "{error}");
}

#[test]
fn a_skipped_or_repeated_stream_version_is_refused() {
    let (row, _) = evolve(None, &rejection(Some("ACME")), at(1)).unwrap();
    for version in [1, 3] {
        let error = evolve(Some(row.clone()), &withdrawal(id()), at(version)).unwrap_err();
        assert!(error.contains("does not follow"), "{error}");
    }
    let (next, _) = evolve(Some(row), &withdrawal(id()), at(2)).unwrap();
    assert_eq!((next.status, next.version), (Status::Withdrawn, 2));
}

#[test]
fn an_event_about_another_declaration_is_refused() {
    let (row, _) = evolve(None, &rejection(Some("ACME")), at(1)).unwrap();
    let error = evolve(Some(row), &withdrawal(Uuid::from_u128(8)), at(2)).unwrap_err();
    assert!(error.contains("not"), "{error}");
}

#[test]
fn a_second_filing_on_a_lodged_declaration_is_refused() {
    let (mut row, _) = evolve(None, &rejection(Some("ACME")), at(1)).unwrap();
    // Filing again after a rejection is allowed …
    assert!(evolve(Some(row.clone()), &rejection(Some("ACME")), at(2)).is_ok());
    // … but not once the declaration is lodged.
    row.status = Status::AwaitingInspection;
    let error = evolve(Some(row), &rejection(Some("ACME")), at(2)).unwrap_err();
    assert!(error.contains("already lodged"), "{error}");
}
