//! The warehouse against an independent oracle, on every backend. Random small histories of
//! declarations go through the real command service (filings on dates across 2020-2026 with
//! random items, lanes as the risk rules assign them, amendments, inspections, acceptances,
//! refusals, withdrawals, post-clearance corrections), the warehouse projection catches up
//! (also at random points in between, and sometimes rebuilds), and random cube queries
//! (measures including the derived ones, row and column levels, member and range filters,
//! drill-down, top-N, order, subtotals, as-of instants) must answer exactly, cell by cell,
//! what plain folds over the events read back from the store give.
//!
//! The case count is fixed and the seed too (`ADUANA_ORACLE_SEED` picks another seed,
//! `ADUANA_ORACLE_CASES` another count, for longer hunts); nothing is written to disk. A failure prints the query (as JSON), the history's summary and the cells
//! that differ.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "warehouse_oracle/expected.rs"]
mod expected;
#[path = "warehouse_oracle/fold.rs"]
mod fold;
#[path = "warehouse_oracle/history.rs"]
mod history;

use std::collections::BTreeSet;
use std::sync::Arc;

use aduana_tests::{Backend, TestDb, on_every_backend};
use chrono::DateTime;
use projections::warehouse::{Cube, CubeQuery, Drill, Level, Measure, MemberFilter, Order, Top};
use projections::{ReadModels, Runner, WarehouseProjection};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

use expected::{Pivot, expected};
use fold::Oracle;
use history::History;

on_every_backend! {
    random_cube_queries_answer_what_a_fold_of_the_events_gives => oracle;
}

/// Histories per backend; each is asked several queries.
const CASES: u32 = 20;
const DEFAULT_SEED: u64 = 0x0a0d_2026_0007;

/// The levels a drill-down can open.
const DRILLABLE: [Level; 9] = [
    Level::Year,
    Level::Quarter,
    Level::Month,
    Level::Week,
    Level::HsSection,
    Level::HsChapter,
    Level::HsHeading,
    Level::HsSubheading,
    Level::OriginRegion,
];

/// A query whose members are picked, when it runs, among those the history produced.
#[derive(Debug, Clone)]
struct QuerySpec {
    measures: Vec<usize>,
    rows: Vec<usize>,
    column: Option<usize>,
    filters: Vec<FilterSpec>,
    drill: Option<(usize, Index)>,
    top: Option<(u32, usize)>,
    order: (Option<usize>, bool),
    subtotals: bool,
    as_of: Option<Index>,
}

#[derive(Debug, Clone)]
struct FilterSpec {
    level: usize,
    members: Vec<Index>,
    from: Option<Index>,
    to: Option<Index>,
}

fn level() -> impl Strategy<Value = usize> {
    0..Level::ALL.len()
}

fn measure() -> impl Strategy<Value = usize> {
    0..Measure::ALL.len()
}

fn filter() -> impl Strategy<Value = FilterSpec> {
    (
        level(),
        prop::collection::vec(any::<Index>(), 0..3),
        prop::option::of(any::<Index>()),
        prop::option::of(any::<Index>()),
        any::<Index>(),
    )
        .prop_map(|(level, members, from, to, fallback)| FilterSpec {
            level,
            // A filter names members, a range or both.
            from: if members.is_empty() && to.is_none() {
                Some(from.unwrap_or(fallback))
            } else {
                from
            },
            members,
            to,
        })
}

fn query() -> impl Strategy<Value = QuerySpec> {
    (
        prop::collection::vec(measure(), 1..5),
        prop::collection::vec(level(), 0..3),
        prop::option::of(level()),
        prop::collection::vec(filter(), 0..2),
        prop::option::weighted(0.3, (0..DRILLABLE.len(), any::<Index>())),
        prop::option::weighted(0.3, (1u32..4, measure())),
        (prop::option::weighted(0.3, measure()), any::<bool>()),
        prop::bool::weighted(0.7),
        prop::option::weighted(0.4, any::<Index>()),
    )
        .prop_map(
            |(measures, rows, column, filters, drill, top, order, subtotals, as_of)| QuerySpec {
                measures,
                rows,
                column,
                filters,
                drill,
                top,
                order,
                subtotals,
                as_of,
            },
        )
}

/// A valid member of each level that the histories never produce.
fn absent(level: Level) -> &'static str {
    use Level::*;
    match level {
        Day => "2019-06-30",
        Week => "2019-W26",
        Month => "2019-06",
        Quarter => "2019-Q2",
        Year => "2019",
        HsSection => "XIV",
        HsChapter => "71",
        HsHeading => "7113",
        HsSubheading => "711319",
        HsLine => "7113190000",
        Origin | Dispatch => "FR",
        OriginRegion => "AN",
        Trader | Declarant => "NOBODY",
        Office => "99",
        TransportMode => "7",
        Lane | Regime | Preference | AuditOutcome => "none-such",
    }
}

/// The members a query may name at `level`: those of the facts, and one that is absent.
fn members(level: Level, facts: &[fold::Fact]) -> Vec<String> {
    let mut all: BTreeSet<String> = facts.iter().map(|f| f.codes[&level].clone()).collect();
    match level {
        Level::Lane => all.extend(["green", "yellow", "red"].map(str::to_owned)),
        Level::Regime => all.extend(["import", "export"].map(str::to_owned)),
        Level::AuditOutcome => all.extend(
            [
                "none",
                "additionalTax",
                "drawback",
                "additionalTaxAndDrawback",
            ]
            .map(str::to_owned),
        ),
        Level::Preference => {
            all.insert("none".to_owned());
        }
        _ => {
            all.insert(absent(level).to_owned());
        }
    }
    let mut all: Vec<String> = all.into_iter().collect();
    all.sort_by_key(|code| expected::slot(level, code));
    all
}

impl QuerySpec {
    fn resolve(&self, oracle: &Oracle) -> CubeQuery {
        let facts = oracle.facts(None);
        let pick = |level: Level, index: &Index| -> String {
            let all = members(level, &facts);
            index.get(&all).clone()
        };
        let mut measures: Vec<Measure> = Vec::new();
        for &m in &self.measures {
            if !measures.contains(&Measure::ALL[m]) {
                measures.push(Measure::ALL[m]);
            }
        }
        let mut rows: Vec<Level> = Vec::new();
        for &l in &self.rows {
            if !rows.contains(&Level::ALL[l]) {
                rows.push(Level::ALL[l]);
            }
        }
        let columns: Vec<Level> = self
            .column
            .map(|l| Level::ALL[l])
            .filter(|l| !rows.contains(l))
            .into_iter()
            .collect();
        let filters = self
            .filters
            .iter()
            .map(|f| {
                let level = Level::ALL[f.level];
                MemberFilter {
                    level: Some(level),
                    members: f.members.iter().map(|i| pick(level, i)).collect(),
                    from: f.from.as_ref().map(|i| pick(level, i)),
                    to: f.to.as_ref().map(|i| pick(level, i)),
                }
            })
            .collect();
        let drill = self.drill.as_ref().map(|(l, i)| {
            let level = DRILLABLE[*l];
            Drill {
                level,
                member: pick(level, i),
            }
        });
        // Top-N needs rows (a drill-down adds them when no axis shows its level).
        let top = self
            .top
            .filter(|_| !rows.is_empty() || drill.is_some())
            .map(|(n, by)| Top {
                n,
                by: Measure::ALL[by],
            });
        let mut instants = vec![i64::MIN / 2];
        for t in oracle.instants() {
            instants.extend([t - 1, t]);
        }
        CubeQuery {
            measures,
            rows,
            columns,
            filters,
            drill,
            top,
            order: Order {
                by: self.order.0.map(|m| Measure::ALL[m]),
                descending: self.order.1,
            },
            subtotals: self.subtotals,
            as_of: self
                .as_of
                .as_ref()
                .map(|i| DateTime::from_timestamp_micros(*i.get(&instants)).unwrap()),
        }
    }
}

fn cases() -> u32 {
    std::env::var("ADUANA_ORACLE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CASES)
}

fn seed() -> u64 {
    std::env::var("ADUANA_ORACLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

async fn oracle(db: TestDb) {
    // Each history gets a database of its own, of this backend.
    let backend = db.backend;
    let store = db.open().await;
    db.finish(store).await;
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 32,
        rng_seed: RngSeed::Fixed(seed()),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = (history::history(), prop::collection::vec(query(), 6..12));
    let handle = tokio::runtime::Handle::current();
    let tally = std::sync::Mutex::new(Tally::default());
    let outcome = tokio::task::block_in_place(|| {
        runner.run(&strategy, |(history, queries)| {
            handle.block_on(case(backend, history, queries, &tally))
        })
    });
    if let Err(e) = outcome {
        panic!("seed {}: {e}", seed());
    }
    // What the cases covered (shown with --nocapture).
    eprintln!("{backend:?}: {:?}", tally.lock().unwrap());
}

/// What the cases covered, summed.
#[derive(Debug, Default)]
struct Tally {
    histories: usize,
    filed: usize,
    rejected: usize,
    amended: usize,
    accepted: usize,
    corrections: usize,
    rebuilt: usize,
    queries: usize,
    refused: usize,
    empty: usize,
    cells: usize,
}

/// Runs one history and asks its queries; the first wrong answer fails the case.
async fn case(
    backend: Backend,
    history: History,
    queries: Vec<QuerySpec>,
    tally: &std::sync::Mutex<Tally>,
) -> Result<(), TestCaseError> {
    let db = TestDb::create(backend).await.unwrap();
    let store = db.open().await;
    let models = ReadModels::open(&db.url).await.unwrap();
    let runner = Runner::new(store.clone(), models.clone(), Arc::new(WarehouseProjection));
    runner.prepare().await.unwrap();
    let service = history::service(&store).await;
    let summary = history::run(&service, &history, &runner).await;
    runner.catch_up().await.unwrap();
    if history.rebuild {
        runner.rebuild().await.unwrap();
    }
    let oracle = Oracle::read(&store).await;
    let cube = Cube::new(models.clone());
    let mut failure = None;
    {
        let mut t = tally.lock().unwrap();
        t.histories += 1;
        t.filed += summary.filed;
        t.rejected += summary.rejected;
        t.amended += summary.amended;
        t.accepted += summary.accepted;
        t.corrections += summary.corrections;
        t.rebuilt += usize::from(history.rebuild);
    }
    for spec in &queries {
        let query = spec.resolve(&oracle);
        let facts = oracle.facts(query.as_of.map(|t| t.timestamp_micros()));
        let answer = check(&cube, &query, &facts).await;
        {
            let mut t = tally.lock().unwrap();
            t.queries += 1;
            match &answer {
                Ok(None) => t.refused += 1,
                Ok(Some(0)) => t.empty += 1,
                Ok(Some(cells)) => t.cells += cells,
                Err(_) => {}
            }
        }
        if let Err(difference) = answer {
            failure = Some(format!(
                "{summary:?} (rebuilt: {})\nquery: {}\n{difference}",
                history.rebuild,
                serde_json::to_string(&query).unwrap(),
            ));
            break;
        }
    }
    models.close().await;
    db.finish(store).await;
    match failure {
        Some(message) => Err(TestCaseError::fail(message)),
        None => Ok(()),
    }
}

/// Compares the cube's answer to the oracle's: the number of cells that agree (`None`: both
/// refused the query), or what differs.
async fn check(
    cube: &Cube,
    query: &CubeQuery,
    facts: &[fold::Fact],
) -> Result<Option<usize>, String> {
    let answer = cube.run(query).await;
    let want = match (expected(query, facts), answer) {
        (Err(code), Err(e)) if e.code() == code => return Ok(None),
        (Err(code), other) => return Err(format!("expected the refusal {code}, got {other:?}")),
        (Ok(_), Err(e)) => return Err(format!("refused: {} {e}", e.code())),
        (Ok(want), Ok(got)) => (want, Pivot::of(&got)),
    };
    let (want, got) = want;
    let mut differences = Vec::new();
    if want.rows_levels != got.rows_levels || want.column_levels != got.column_levels {
        differences.push(format!(
            "levels: expected {:?} × {:?}, got {:?} × {:?}",
            want.rows_levels, want.column_levels, got.rows_levels, got.column_levels
        ));
    }
    let keys: BTreeSet<_> = want.cells.keys().chain(got.cells.keys()).collect();
    for key in keys {
        let (w, g) = (want.cells.get(key), got.cells.get(key));
        if w != g {
            differences.push(format!(
                "cell {:?} × {:?}: expected {w:?}, got {g:?}",
                key.0, key.1
            ));
        }
    }
    if want.rows != got.rows {
        differences.push(format!(
            "rows: expected {:?}\n      got      {:?}",
            want.rows, got.rows
        ));
    }
    if want.columns != got.columns {
        differences.push(format!(
            "columns: expected {:?}\n         got      {:?}",
            want.columns, got.columns
        ));
    }
    if differences.is_empty() {
        Ok(Some(want.cells.len()))
    } else {
        differences.truncate(30);
        Err(differences.join("\n"))
    }
}
