//! Filters, pages and scopes.

use std::collections::BTreeSet;

use aduana_tests::TestDb;
use chrono::{DateTime, NaiveDate, Utc};
use domain::declaration::{InspectionResult, Status};
use domain::risk::Lane;
use projections::declarations::{DeclarationFilter, PageRequest, QueryError, TariffCodePrefix};
use uuid::Uuid;

use super::fixture::*;
use super::harness::{Harness, in_list_order};

struct Filed {
    id: Uuid,
    declarant: &'static str,
    office: &'static str,
    lane: Lane,
    status: Status,
    filing_date: NaiveDate,
    codes: Vec<&'static str>,
    at: DateTime<Utc>,
}

pub async fn filters(db: TestDb) {
    let mut h = Harness::new(db).await;
    let plan: [(&str, &str, Lane, &str, i64); 7] = [
        ("BROKER1", "30", Lane::Green, "2026-03-02", 0),
        ("BROKER1", "30", Lane::Yellow, "2026-03-03", 1),
        ("BROKER1", "40", Lane::Red, "2026-03-04", 2),
        ("TRADER2", "30", Lane::Green, "2026-03-04", 3),
        ("TRADER2", "40", Lane::Yellow, "2026-03-05", 3),
        ("TRADER2", "40", Lane::Green, "2026-03-06", 5),
        ("BROKER1", "40", Lane::Yellow, "2026-03-06", 6),
    ];
    let mut filed = Vec::new();
    for (n, (declarant, office, lane, day, minute)) in plan.into_iter().enumerate() {
        let items = items_for(lane);
        let id = h
            .file_on(
                filing(declarant, &format!("F-{n}"), office, &items),
                date(day),
                at(minute),
            )
            .await;
        filed.push(Filed {
            id,
            declarant,
            office,
            lane,
            status: if lane == Lane::Green {
                Status::Accepted
            } else {
                Status::AwaitingInspection
            },
            filing_date: date(day),
            codes: items.iter().map(|(code, _)| *code).collect(),
            at: at(minute),
        });
    }
    // One yellow declaration inspected, so statuses differ within a lane.
    h.inspect(filed[1].id, InspectionResult::Compliant, at(20))
        .await;
    filed[1].status = Status::Inspected;
    h.catch_up().await;

    let expect = |keep: &dyn Fn(&Filed) -> bool| {
        in_list_order(
            filed
                .iter()
                .filter(|f| keep(f))
                .map(|f| (f.at, f.id))
                .collect(),
        )
    };
    let none = DeclarationFilter::default();
    assert_eq!(h.ids(&all(), none.clone()).await, expect(&|_| true));
    for status in [
        Status::Accepted,
        Status::AwaitingInspection,
        Status::Inspected,
    ] {
        let filter = DeclarationFilter {
            status: Some(status),
            ..none.clone()
        };
        assert_eq!(h.ids(&all(), filter).await, expect(&|f| f.status == status));
    }
    for lane in [Lane::Green, Lane::Yellow, Lane::Red] {
        let filter = DeclarationFilter {
            lane: Some(lane),
            ..none.clone()
        };
        assert_eq!(h.ids(&all(), filter).await, expect(&|f| f.lane == lane));
    }
    let filter = DeclarationFilter {
        declarant: Some("TRADER2".to_owned()),
        ..none.clone()
    };
    assert_eq!(
        h.ids(&all(), filter).await,
        expect(&|f| f.declarant == "TRADER2")
    );
    let filter = DeclarationFilter {
        office: Some("40".to_owned()),
        ..none.clone()
    };
    assert_eq!(h.ids(&all(), filter).await, expect(&|f| f.office == "40"));
    let (from, to) = (date("2026-03-03"), date("2026-03-05"));
    let filter = DeclarationFilter {
        filing_date_from: Some(from),
        filing_date_to: Some(to),
        ..none.clone()
    };
    assert_eq!(
        h.ids(&all(), filter).await,
        expect(&|f| (from..=to).contains(&f.filing_date))
    );
    let filter = DeclarationFilter {
        filing_date_from: Some(date("2026-03-06")),
        ..none.clone()
    };
    assert_eq!(
        h.ids(&all(), filter).await,
        expect(&|f| f.filing_date >= date("2026-03-06"))
    );
    for prefix in ["8", "84", "8471", "847141", SHIRTS, "93", "0201", "1"] {
        let filter = DeclarationFilter {
            tariff_code_prefix: Some(TariffCodePrefix::parse(prefix).unwrap()),
            ..none.clone()
        };
        assert_eq!(
            h.ids(&all(), filter).await,
            expect(&|f| f.codes.iter().any(|c| c.starts_with(prefix))),
            "prefix {prefix}"
        );
    }
    // Filters combine; two items matching one prefix still list the declaration once.
    let filter = DeclarationFilter {
        declarant: Some("BROKER1".to_owned()),
        office: Some("40".to_owned()),
        lane: Some(Lane::Yellow),
        tariff_code_prefix: Some(TariffCodePrefix::parse("8471").unwrap()),
        ..none.clone()
    };
    assert_eq!(h.ids(&all(), filter).await, vec![filed[6].id]);
    let filter = DeclarationFilter {
        tariff_code_prefix: Some(TariffCodePrefix::parse("847").unwrap()),
        ..none.clone()
    };
    let ids = h.ids(&all(), filter).await;
    assert_eq!(ids.len(), ids.iter().collect::<BTreeSet<_>>().len());
    h.finish().await;
}

pub async fn paging(db: TestDb) {
    let mut h = Harness::new(db).await;
    let mut filed = Vec::new();
    for n in 0..23 {
        let declarant = if n % 3 == 0 { "TRADER2" } else { "BROKER1" };
        // Three filings per minute: ties broken by id.
        let when = at(n / 3);
        let lane = if n % 4 == 0 {
            Lane::Yellow
        } else {
            Lane::Green
        };
        let id = h
            .file(
                filing(declarant, &format!("P-{n}"), "30", &items_for(lane)),
                when,
            )
            .await;
        filed.push((declarant, when, id));
    }
    h.catch_up().await;
    let expected = in_list_order(filed.iter().map(|(_, at, id)| (*at, *id)).collect());
    for first in [1, 4, 5, 23, 100] {
        let ids: Vec<Uuid> = h
            .list_all(&all(), &DeclarationFilter::default(), first)
            .await
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, expected, "pages of {first}");
    }
    let broker: Vec<Uuid> = in_list_order(
        filed
            .iter()
            .filter(|(d, _, _)| *d == "BROKER1")
            .map(|(_, at, id)| (*at, *id))
            .collect(),
    );
    assert_eq!(
        h.ids(&org("BROKER1"), DeclarationFilter::default()).await,
        broker
    );

    // Changes between pages neither repeat nor skip rows: new filings are newer (they sort
    // before the pages already read) and updates do not move a row.
    let request = |after| PageRequest { first: 6, after };
    let none = DeclarationFilter::default();
    let first_page = h.query.list(&all(), &none, &request(None)).await.unwrap();
    let mut seen: Vec<Uuid> = first_page.rows.iter().map(|r| r.id).collect();
    let mut cursor = first_page.end_cursor;
    let mut extra = 0;
    loop {
        h.file(
            filing(
                "BROKER1",
                &format!("LATE-{extra}"),
                "30",
                &items_for(Lane::Green),
            ),
            at(60 + extra),
        )
        .await;
        let yellow = filed[4 * extra as usize].2;
        h.inspect(yellow, InspectionResult::Compliant, at(70 + extra))
            .await;
        extra += 1;
        h.catch_up().await;
        let page = h.query.list(&all(), &none, &request(cursor)).await.unwrap();
        seen.extend(page.rows.iter().map(|r| r.id));
        cursor = page.end_cursor;
        if !page.has_next_page {
            break;
        }
    }
    assert_eq!(seen, expected);
    let last = h.query.list(&all(), &none, &request(cursor)).await.unwrap();
    assert!(last.rows.is_empty() && !last.has_next_page && last.end_cursor.is_none());
    h.finish().await;
}

pub async fn bad_requests(db: TestDb) {
    let mut h = Harness::new(db).await;
    h.file(
        filing("BROKER1", "B-1", "30", &items_for(Lane::Green)),
        at(0),
    )
    .await;
    h.catch_up().await;
    let none = DeclarationFilter::default();
    for first in [0, 101] {
        let error = h
            .query
            .list(&all(), &none, &PageRequest { first, after: None })
            .await
            .unwrap_err();
        assert!(
            matches!(error, QueryError::InvalidPageSize(n) if n == first),
            "{error}"
        );
    }
    for after in [
        "",
        "not base64!",
        "Zm9v",
        "MjAyNi0wMy0wNVQwOTowMDowMC4wMDAwMDBafHh5eg",
    ] {
        let error = h
            .query
            .list(
                &all(),
                &none,
                &PageRequest {
                    first: 10,
                    after: Some(after.to_owned()),
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(error, QueryError::InvalidCursor),
            "{after}: {error}"
        );
    }
    for prefix in ["", "84a", "84713000001", "８４"] {
        assert!(matches!(
            TariffCodePrefix::parse(prefix),
            Err(QueryError::InvalidTariffCodePrefix(_))
        ));
    }
    h.finish().await;
}

pub async fn scopes(db: TestDb) {
    let mut h = Harness::new(db).await;
    let a1 = h
        .file(filing("ORGA", "A-1", "30", &items_for(Lane::Green)), at(0))
        .await;
    let a2 = h
        .file(filing("ORGA", "A-2", "30", &items_for(Lane::Yellow)), at(1))
        .await;
    let b1 = h
        .file(filing("ORGB", "B-1", "30", &items_for(Lane::Green)), at(2))
        .await;
    let mut rejected = filing("ORGB", "B-2", "30", &items_for(Lane::Green));
    rejected.items.clear();
    let b2 = h.file(rejected, at(3)).await;
    h.catch_up().await;

    let none = DeclarationFilter::default();
    assert_eq!(h.ids(&org("ORGA"), none.clone()).await, vec![a2, a1]);
    assert_eq!(h.ids(&org("ORGB"), none.clone()).await, vec![b2, b1]);
    assert_eq!(h.ids(&all(), none.clone()).await, vec![b2, b1, a2, a1]);
    let theirs = DeclarationFilter {
        declarant: Some("ORGB".to_owned()),
        ..none.clone()
    };
    assert!(h.ids(&org("ORGA"), theirs.clone()).await.is_empty());
    assert_eq!(h.ids(&all(), theirs).await, vec![b2, b1]);
    for other in [b1, b2] {
        assert_eq!(h.query.get(&org("ORGA"), other).await.unwrap(), None);
        assert!(h.query.items(&org("ORGA"), other).await.unwrap().is_empty());
        assert!(h.query.get(&org("ORGB"), other).await.unwrap().is_some());
    }
    assert_eq!(h.query.items(&org("ORGB"), b1).await.unwrap().len(), 2);
    // A name that is a prefix, or differs in case, is another organisation.
    for stranger in ["ORG", "orga", "ORGA "] {
        assert!(h.ids(&org(stranger), none.clone()).await.is_empty());
        assert_eq!(h.query.get(&org(stranger), a1).await.unwrap(), None);
    }
    h.finish().await;
}
