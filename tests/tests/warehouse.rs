//! The `warehouse` read model on every backend: declarations decided by the real domain,
//! appended to a real store, projected by the runner, and read back through cube queries. The
//! expected amounts come from the `declarations` read model, a separate projection of the same
//! events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "declarations_projection/fixture.rs"]
#[allow(dead_code)]
mod fixture;
#[path = "declarations_projection/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::sync::Arc;

use aduana_tests::{TestDb, on_every_backend};
use domain::Decimal;
use domain::declaration::{CorrectDeclaration, DeclarationCommand, InspectionResult};
use domain::risk::Lane;
use projections::warehouse::{
    Cube, CubeError, CubeQuery, Drill, HeaderKind, Level, Measure, MemberFilter, Top,
};
use projections::{Runner, WarehouseProjection};
use uuid::Uuid;

use fixture::*;
use harness::Harness;

on_every_backend! {
    the_cube_counts_accepted_items_once_and_follows_corrections => totals;
    a_drill_down_opens_one_chapter_into_its_headings => drill;
    bad_cube_queries_are_refused_with_their_code_and_field => bad_queries;
}

struct Warehouse {
    runner: Runner,
    cube: Cube,
}

impl Warehouse {
    async fn new(h: &Harness) -> Self {
        let runner = Runner::new(
            h.store.clone(),
            h.models.clone(),
            Arc::new(WarehouseProjection),
        );
        runner.prepare().await.unwrap();
        Self {
            runner,
            cube: Cube::new(h.models.clone()),
        }
    }

    async fn catch_up(&self) {
        self.runner.catch_up().await.unwrap();
    }

    async fn total(&self, query: CubeQuery) -> Vec<Option<Decimal>> {
        let result = self.cube.run(&query).await.unwrap();
        result.grand_total().map(<[_]>::to_vec).unwrap_or_default()
    }
}

/// Two green declarations (filed in March and April), one yellow left waiting.
async fn three_filings(h: &mut Harness) -> (Uuid, Uuid, Uuid) {
    let a = h
        .file_on(
            filing("ACME", "A-1", "030", &items_for(Lane::Green)),
            date("2026-03-05"),
            at(0),
        )
        .await;
    let b = h
        .file_on(
            filing("ACME", "B-1", "040", &items_for(Lane::Green)),
            date("2026-04-10"),
            at(1),
        )
        .await;
    let c = h
        .file_on(
            filing("ACME", "C-1", "030", &items_for(Lane::Yellow)),
            date("2026-04-10"),
            at(2),
        )
        .await;
    (a, b, c)
}

async fn totals(db: TestDb) {
    let mut h = Harness::new(db).await;
    let w = Warehouse::new(&h).await;
    let (a, b, c) = three_filings(&mut h).await;
    h.catch_up().await;
    w.catch_up().await;
    let (ra, rb) = (h.get(a).await, h.get(b).await);
    let measures = vec![
        Measure::CustomsValue,
        Measure::Duty,
        Measure::Items,
        Measure::AdditionalTax,
    ];
    let by_month = CubeQuery {
        rows: vec![Level::Month],
        columns: vec![Level::HsChapter],
        ..CubeQuery::new(measures.clone())
    };
    let result = w.cube.run(&by_month).await.unwrap();
    // The yellow declaration is not cleared: only A's and B's two items each.
    let cv = ra.customs_value.unwrap() + rb.customs_value.unwrap();
    let duty = ra.duty.unwrap() + rb.duty.unwrap();
    assert_eq!(
        result.grand_total().unwrap(),
        &[
            Some(cv),
            Some(duty),
            Some(Decimal::from(4)),
            Some(Decimal::ZERO)
        ]
    );
    let months: Vec<_> = result
        .rows
        .iter()
        .filter(|r| r.kind == HeaderKind::Member)
        .map(|r| r.members[0].code.clone().unwrap())
        .collect();
    assert_eq!(months, ["2026-03", "2026-04"]);
    let march = result
        .rows
        .iter()
        .position(|r| r.members.first().and_then(|m| m.code.as_deref()) == Some("2026-03"))
        .unwrap();
    let total_column = result.columns.len() - 1;
    assert_eq!(
        result.cell(march, total_column).unwrap()[0],
        ra.customs_value
    );

    // Accepted after inspection: now counted, once.
    h.inspect(c, InspectionResult::Compliant, at(3)).await;
    h.accept(c, at(4)).await;
    // A post-clearance correction of A.
    h.execute(
        a,
        DeclarationCommand::Correct(CorrectDeclaration {
            additional_tax: dec("1000"),
            drawback: dec("0"),
            reason: "undervalued".to_owned(),
            case_reference: Some("AUD-1".to_owned()),
            actor: officer(),
            at: at(10),
        }),
    )
    .await;
    h.catch_up().await;
    w.catch_up().await;
    let rc = h.get(c).await;
    let now = w.total(CubeQuery::new(measures.clone())).await;
    assert_eq!(
        now,
        [
            Some(cv + rc.customs_value.unwrap()),
            Some(duty + rc.duty.unwrap()),
            Some(Decimal::from(6)),
            Some(dec("1000")),
        ]
    );
    // The audit outcome slices the corrected declaration's items.
    let audited = w
        .total(CubeQuery {
            filters: vec![MemberFilter {
                level: Some(Level::AuditOutcome),
                members: vec!["additionalTax".to_owned()],
                ..MemberFilter::default()
            }],
            ..CubeQuery::new(vec![Measure::Items, Measure::AdditionalTax])
        })
        .await;
    assert_eq!(audited, [Some(Decimal::from(2)), Some(dec("1000"))]);
    // As of before the correction and C's acceptance: A and B as they were.
    let before = w
        .total(CubeQuery {
            as_of: Some(at(3)),
            ..CubeQuery::new(measures)
        })
        .await;
    assert_eq!(
        before,
        [
            Some(cv),
            Some(duty),
            Some(Decimal::from(4)),
            Some(Decimal::ZERO)
        ]
    );
    // A rebuild from position 0 answers the same.
    w.runner.rebuild().await.unwrap();
    let rebuilt = w
        .total(CubeQuery::new(vec![Measure::CustomsValue, Measure::Items]))
        .await;
    assert_eq!(rebuilt[1], Some(Decimal::from(6)));
    h.finish().await;
}

async fn drill(db: TestDb) {
    let mut h = Harness::new(db).await;
    let w = Warehouse::new(&h).await;
    three_filings(&mut h).await;
    w.catch_up().await;
    let query = CubeQuery {
        rows: vec![Level::HsChapter],
        drill: Some(Drill {
            level: Level::HsChapter,
            member: "84".to_owned(),
        }),
        top: Some(Top {
            n: 1,
            by: Measure::CustomsValue,
        }),
        ..CubeQuery::new(vec![Measure::Items])
    };
    let result = w.cube.run(&query).await.unwrap();
    assert_eq!(result.rows_levels, [Level::HsHeading]);
    let codes: Vec<_> = result
        .rows
        .iter()
        .map(|r| (r.kind, r.members.first().and_then(|m| m.code.clone())))
        .collect();
    // Chapter 84 of the green filings: heading 8471 only (laptops and servers); top 1 of one
    // heading leaves no "others".
    assert_eq!(
        codes,
        [
            (HeaderKind::Member, Some("8471".to_owned())),
            (HeaderKind::Total, None)
        ]
    );
    assert_eq!(result.grand_total().unwrap(), [Some(Decimal::from(4))]);
    h.finish().await;
}

async fn bad_queries(db: TestDb) {
    let h = Harness::new(db).await;
    let w = Warehouse::new(&h).await;
    let refused = |query: CubeQuery| {
        let cube = w.cube.clone();
        async move {
            match cube.run(&query).await {
                Err(e @ CubeError::Invalid { .. }) => {
                    (e.code(), e.field().unwrap_or_default().to_owned())
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
    };
    let items = || CubeQuery::new(vec![Measure::Items]);
    assert_eq!(
        refused(CubeQuery::new(vec![])).await,
        ("NO_MEASURES", "measures".to_owned())
    );
    assert_eq!(
        refused(CubeQuery {
            filters: vec![MemberFilter {
                level: Some(Level::Month),
                members: vec!["2026-03".to_owned(), "March".to_owned()],
                ..MemberFilter::default()
            }],
            ..items()
        })
        .await,
        ("INVALID_MEMBER", "filters[0].members[1]".to_owned())
    );
    assert_eq!(
        refused(CubeQuery {
            filters: vec![MemberFilter {
                level: Some(Level::Lane),
                ..MemberFilter::default()
            }],
            ..items()
        })
        .await,
        ("EMPTY_FILTER", "filters[0]".to_owned())
    );
    assert_eq!(
        refused(CubeQuery {
            drill: Some(Drill {
                level: Level::HsLine,
                member: "8471300000".to_owned(),
            }),
            ..items()
        })
        .await,
        ("CANNOT_DRILL", "drill.level".to_owned())
    );
    assert_eq!(
        refused(CubeQuery {
            top: Some(Top {
                n: 5,
                by: Measure::Items,
            }),
            ..items()
        })
        .await,
        ("TOP_WITHOUT_ROWS", "top".to_owned())
    );
    assert_eq!(
        refused(CubeQuery {
            rows: vec![Level::Month],
            columns: vec![Level::Month],
            ..items()
        })
        .await,
        ("LEVEL_REPEATED", "columns[0]".to_owned())
    );
    // A member that looks like SQL is only ever a bound value.
    let none = w
        .total(CubeQuery {
            filters: vec![MemberFilter {
                level: Some(Level::Trader),
                members: vec!["x' OR '1'='1".to_owned()],
                ..MemberFilter::default()
            }],
            ..items()
        })
        .await;
    assert!(none.is_empty(), "{none:?}");
    h.finish().await;
}
