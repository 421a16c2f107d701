//! `aduana bench warehouse`: the Customs Data Warehouse against the targets of issue 7
//! (docs/benchmarks.md). Three measurements on one database:
//!
//! 1. **Queries.** The serving generation of the warehouse is filled with N synthetic facts
//!    (default 1,000,000), written straight into the fact table by the projection's own insert
//!    code: deciding, appending and projecting the ~340,000 declarations (1.3 million events)
//!    behind a million items would take longer than everything else together, and the queries
//!    do not care where a row came from. Then the cube queries run through [`Cube`], each
//!    timed over several runs.
//! 2. **Catch-up.** Demo declarations are decided by the real domain (filed, assessed, the
//!    green ones accepted) and appended to the event store; the warehouse is rebuilt from
//!    position 0 (which replaces the synthetic generation) and the events it read per second
//!    are reported.
//!
//! Distributions of the synthetic facts (integer draws from a seeded ChaCha8 stream):
//! filing dates over the three years 2024–2026, weekends thinner; tariff lines from
//! `reference/tariff.csv` (97 chapters, 1,230 headings), chapters skewed as an importing
//! economy's are (85 and 84 about a tenth of the items each); 249 countries of origin and
//! 20,000 traders Zipf-distributed; 40 offices, 400 declarants; lanes 85 % green,
//! 10 % yellow, 5 % red; 1.5 % of declarations corrected after clearance (a second revision).

mod synthetic;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use clap::Args;
use domain::DomainEvent;
use domain::codes::{Actor, Lrn, PartyId};
use domain::declaration::{
    AssessmentContext, Declaration, DeclarationCommand, FileDeclaration, decide, declaration_id,
};
use domain::duty::AssessmentPolicy;
use domain::reference::ReferenceSnapshot;
use domain::risk::{Lane, RandomInspection, RuleSet};
use eventstore::{EventMetadata, EventStore, ExpectedVersion, NewEvent, StoreError};
use futures::{StreamExt, TryStreamExt};
use projections::warehouse::{
    self, Cube, CubeError, CubeQuery, CubeResult, Drill, Level, Measure, Top,
};
use projections::{ProjectionError, ReadModels, Runner, Tables, WarehouseProjection};
use serde::Serialize;
use uuid::Uuid;

use crate::StoreArgs;
use crate::demo::{Catalog, DemoConfig, Generator, today_in_korea};
use synthetic::Synthetic;

/// The targets of issue 7 on a million facts.
const ROLLUP_TARGET_MS: f64 = 1000.0;
const DRILL_TARGET_MS: f64 = 200.0;
const CATCH_UP_TARGET: f64 = 20_000.0;
/// Facts per transaction while filling.
const FILL_CHUNK: usize = 20_000;
/// Declarations decided and appended together while generating events, and appends in flight.
const EVENT_CHUNK: usize = 2_000;
const APPENDS_IN_FLIGHT: usize = 16;

#[derive(Debug, Args)]
pub struct WarehouseArgs {
    /// Synthetic fact rows to fill the warehouse with (0: skip the queries).
    #[arg(long, default_value_t = 1_000_000)]
    pub facts: u64,
    /// Demo declarations appended as events for the catch-up (0: skip it).
    #[arg(long, default_value_t = 50_000)]
    pub declarations: u64,
    /// Timed runs of each query, after one untimed warm-up run.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum WarehouseBenchError {
    #[error("cannot open the database: {0}")]
    Open(String),
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cube query {name}: {source}")]
    Cube {
        name: &'static str,
        source: CubeError,
    },
    #[error("the demo declarations cannot be generated: {0}")]
    Generate(String),
    #[error(
        "the warehouse already serves {found} facts, not the {wanted} asked for: run on a fresh \
         database"
    )]
    NotFresh { found: u64, wanted: u64 },
}

#[derive(Debug, Serialize)]
pub struct WarehouseReport {
    pub bench: &'static str,
    pub backend: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fill: Option<FillReport>,
    pub queries: Vec<QueryReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<CatchUpReport>,
}

#[derive(Debug, Serialize)]
pub struct FillReport {
    /// Fact rows written (both revisions of corrected items count).
    pub rows: u64,
    /// Current facts the cube counts (rows less the closed revisions).
    pub current_facts: u64,
    /// Whether the facts were already there from an earlier run (nothing written).
    pub reused: bool,
    pub seconds: f64,
    pub rows_per_s: f64,
}

#[derive(Debug, Serialize)]
pub struct QueryReport {
    pub name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ms: Option<f64>,
    /// The untimed warm-up run (cold caches on a fresh fill).
    pub first_ms: f64,
    pub min_ms: f64,
    pub median_ms: f64,
    pub max_ms: f64,
    /// Rows × columns of the answer, subtotals included.
    pub rows: usize,
    pub columns: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub met: Option<bool>,
    /// Whether the answer is the one read from the facts (the query before it), cell for cell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_as_from_facts: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct CatchUpReport {
    pub declarations: u64,
    /// Whether the events were already in the store (nothing appended).
    pub reused: bool,
    pub append_seconds: f64,
    pub log_events: u64,
    /// The events the warehouse reads (its filter), all applied by the rebuild.
    pub projected_events: u64,
    pub facts: u64,
    pub seconds: f64,
    pub events_per_s: f64,
    pub target_events_per_s: f64,
    pub met: bool,
}

/// Runs the bench on the database of `args.store`.
pub async fn run(args: &WarehouseArgs) -> Result<WarehouseReport, WarehouseBenchError> {
    let store = args
        .store
        .open()
        .await
        .map_err(|e| WarehouseBenchError::Open(format!("{e:#}")))?;
    let models = ReadModels::open(args.store.database_url().expose()).await?;
    let runner = Runner::new(store.clone(), models.clone(), Arc::new(WarehouseProjection));
    let serving = runner.prepare().await?;
    let cube = Cube::new(models.clone());
    let mut report = WarehouseReport {
        bench: "warehouse",
        backend: store.backend_name(),
        fill: None,
        queries: Vec::new(),
        catch_up: None,
    };
    if args.facts > 0 {
        let fill = fill(&models, &cube, &serving.tables(), args.facts, args.seed).await?;
        report.fill = Some(fill);
        let mut from_facts = None;
        for (name, target_ms, query) in queries() {
            let (mut timed, answer) = time_query(&cube, name, target_ms, &query, args.runs).await?;
            if name.ends_with("FromFacts") {
                from_facts = Some(answer);
            } else if let Some(facts) = from_facts.take() {
                timed.same_as_from_facts = Some(same_answer(&answer, &facts));
            }
            report.queries.push(timed);
        }
    }
    if args.declarations > 0 {
        report.catch_up =
            Some(catch_up(&store, &runner, &cube, args.declarations, args.seed).await?);
    }
    models.close().await;
    store.close().await;
    Ok(report)
}

/// The queries timed, with their targets.
fn queries() -> Vec<(&'static str, Option<f64>, CubeQuery)> {
    let measures = vec![Measure::CustomsValue, Measure::Duty, Measure::Items];
    let rollup = CubeQuery {
        rows: vec![Level::Month],
        columns: vec![Level::HsChapter],
        ..CubeQuery::new(measures.clone())
    };
    let drill = CubeQuery {
        rows: vec![Level::HsChapter],
        columns: vec![Level::Month],
        drill: Some(Drill {
            level: Level::HsChapter,
            member: "84".to_owned(),
        }),
        ..CubeQuery::new(measures.clone())
    };
    let top_origins = CubeQuery {
        rows: vec![Level::Origin],
        columns: vec![Level::Year],
        top: Some(Top {
            n: 10,
            by: Measure::CustomsValue,
        }),
        ..CubeQuery::new(measures.clone())
    };
    // As of a day after the last acceptance: the same answer, read from the facts (a query
    // as of an instant never reads the roll-up), for comparison.
    let from_facts = |query: &CubeQuery| CubeQuery {
        as_of: Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).single(),
        ..query.clone()
    };
    vec![
        ("rollupMonthByChapterFromFacts", None, from_facts(&rollup)),
        ("rollupMonthByChapter", Some(ROLLUP_TARGET_MS), rollup),
        ("drillChapter84ByMonthFromFacts", None, from_facts(&drill)),
        ("drillChapter84ByMonth", Some(DRILL_TARGET_MS), drill),
        ("top10OriginsByYear", None, top_origins),
    ]
}

/// Whether two answers agree, cell for cell (everything but their `as_of`).
fn same_answer(a: &CubeResult, b: &CubeResult) -> bool {
    (&a.rows, &a.columns, &a.cells) == (&b.rows, &b.columns, &b.cells)
}

async fn time_query(
    cube: &Cube,
    name: &'static str,
    target_ms: Option<f64>,
    query: &CubeQuery,
    runs: u32,
) -> Result<(QueryReport, CubeResult), WarehouseBenchError> {
    let once = || async {
        let started = Instant::now();
        let result = cube
            .run(query)
            .await
            .map_err(|source| WarehouseBenchError::Cube { name, source })?;
        Ok::<_, WarehouseBenchError>((started.elapsed(), result))
    };
    let (first, result) = once().await?;
    let mut times = Vec::new();
    for _ in 0..runs {
        times.push(once().await?.0);
    }
    times.sort_unstable();
    let median = times[times.len() / 2];
    let report = QueryReport {
        name,
        target_ms,
        first_ms: ms(first),
        min_ms: ms(times[0]),
        median_ms: ms(median),
        max_ms: ms(times[times.len() - 1]),
        rows: result.rows.len(),
        columns: result.columns.len(),
        met: target_ms.map(|t| ms(median) < t),
        same_as_from_facts: None,
    };
    Ok((report, result))
}

/// The current facts the cube counts.
async fn current_facts(cube: &Cube) -> Result<u64, WarehouseBenchError> {
    let name = "count";
    let result = cube
        .run(&CubeQuery::new(vec![Measure::Items]))
        .await
        .map_err(|source| WarehouseBenchError::Cube { name, source })?;
    let count = result
        .grand_total()
        .and_then(|values| values.first().copied().flatten())
        .map_or(0, |n| u64::try_from(n.mantissa()).unwrap_or_default());
    Ok(count)
}

/// Fills the serving generation with `rows` synthetic facts, unless an earlier run did.
async fn fill(
    models: &ReadModels,
    cube: &Cube,
    tables: &Tables,
    rows: u64,
    seed: u64,
) -> Result<FillReport, WarehouseBenchError> {
    let found = current_facts(cube).await?;
    // Corrections close about 1.5 % of the rows; a refill would double them.
    if found > 0 {
        if found < rows * 9 / 10 || found > rows {
            return Err(WarehouseBenchError::NotFresh {
                found,
                wanted: rows,
            });
        }
        return Ok(FillReport {
            rows,
            current_facts: found,
            reused: true,
            seconds: 0.0,
            rows_per_s: 0.0,
        });
    }
    let started = Instant::now();
    let mut synthetic = Synthetic::new(seed);
    let mut written = 0u64;
    let mut chunk = Vec::with_capacity(FILL_CHUNK + 8);
    while written < rows {
        chunk.clear();
        while chunk.len() < FILL_CHUNK && written + (chunk.len() as u64) < rows {
            synthetic.declaration(&mut chunk);
        }
        let room = usize::try_from(rows - written).unwrap_or(usize::MAX);
        chunk.truncate(room);
        warehouse::load_facts(models, tables, &chunk).await?;
        written += chunk.len() as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(FillReport {
        rows: written,
        current_facts: current_facts(cube).await?,
        reused: false,
        seconds: round(seconds, 3),
        rows_per_s: round(written as f64 / seconds.max(1e-9), 1),
    })
}

/// Appends demo declarations' events (unless the store has events already), then rebuilds the
/// warehouse from position 0 and times it.
async fn catch_up(
    store: &EventStore,
    runner: &Runner,
    cube: &Cube,
    declarations: u64,
    seed: u64,
) -> Result<CatchUpReport, WarehouseBenchError> {
    let reused = store.head_position().await? > 0;
    let started = Instant::now();
    if !reused {
        append_declarations(store, declarations, seed).await?;
    }
    let append_seconds = started.elapsed().as_secs_f64();
    let log_events = store.head_position().await?;
    let started = Instant::now();
    runner.rebuild().await?;
    let seconds = started.elapsed().as_secs_f64();
    let filter = projections::Projection::filter(&WarehouseProjection);
    let projected = store
        .read_all(0, filter, usize::MAX)
        .try_fold(0u64, |n, _| async move { Ok(n + 1) })
        .await?;
    let events_per_s = projected as f64 / seconds.max(1e-9);
    Ok(CatchUpReport {
        declarations,
        reused,
        append_seconds: round(append_seconds, 3),
        log_events,
        projected_events: projected,
        facts: current_facts(cube).await?,
        seconds: round(seconds, 3),
        events_per_s: round(events_per_s, 1),
        target_events_per_s: CATCH_UP_TARGET,
        met: events_per_s >= CATCH_UP_TARGET,
    })
}

/// Decides `declarations` demo filings (5 % sent to the yellow lane at random, the rest
/// accepted at once) and appends each declaration's events to its stream.
async fn append_declarations(
    store: &EventStore,
    declarations: u64,
    seed: u64,
) -> Result<(), WarehouseBenchError> {
    let generate = |e: String| WarehouseBenchError::Generate(e);
    let date = today_in_korea();
    let catalog = Catalog::sample(date).map_err(|e| generate(e.to_string()))?;
    let config = DemoConfig {
        declarations,
        seed,
        invalid_rate: 0.0,
        declarant: "BENCH".to_owned(),
        items: None,
        filing_date: date,
    };
    let events = commands::reference::sample_events()
        .map_err(|rows| generate(format!("{} bad reference rows", rows.len())))?;
    let reference = Arc::new(ReferenceSnapshot::from_events(&events));
    let random = RandomInspection {
        ratio: domain::Decimal::new(5, 2),
        lane: Lane::Yellow,
    };
    let rules =
        Arc::new(RuleSet::new(1, Vec::new(), Some(random)).map_err(|e| generate(e.to_string()))?);
    let actor = Actor::parse("declarant/bench@BENCH").map_err(|e| generate(e.to_string()))?;
    let mut generator = Generator::new(&catalog, config).enumerate().peekable();
    while generator.peek().is_some() {
        let mut appends = Vec::with_capacity(EVENT_CHUNK);
        for (n, generated) in generator.by_ref().take(EVENT_CHUNK) {
            let filing = generated.filing;
            let id = match (
                filing.header.declarant.as_deref().map(PartyId::parse),
                filing.header.lrn.as_deref().map(Lrn::parse),
            ) {
                (Some(Ok(d)), Some(Ok(l))) => declaration_id(&d, &l),
                _ => return Err(generate("a filing without declarant or LRN".to_owned())),
            };
            let command = DeclarationCommand::File(FileDeclaration {
                declaration_id: id,
                filing,
                filing_date: date,
                context: AssessmentContext {
                    reference: Arc::clone(&reference),
                    policy: AssessmentPolicy::korea(),
                    rules: Arc::clone(&rules),
                    trader_fraud_findings: 0,
                    seed: seed ^ n as u64,
                },
                actor: actor.clone(),
                at: Utc::now(),
            });
            let decided = decide(&Declaration::default(), command)
                .map_err(|e| generate(format!("declaration {n}: {e}")))?;
            let metadata = EventMetadata {
                correlation_id: Some(Uuid::now_v7()),
                causation_id: None,
                actor: Some(actor.to_string()),
            };
            let mut batch = Vec::with_capacity(decided.len());
            for event in &decided {
                let payload = event.payload().map_err(|e| generate(e.to_string()))?;
                batch.push(
                    NewEvent::new(event.event_type(), payload)
                        .with_schema_version(event.schema_version())
                        .with_metadata(metadata.clone()),
                );
            }
            appends.push((commands::declaration::stream(id), batch));
        }
        futures::stream::iter(appends)
            .map(|(stream, batch)| async move {
                store
                    .append(&stream, ExpectedVersion::NoStream, batch)
                    .await
            })
            .buffer_unordered(APPENDS_IN_FLIGHT)
            .try_for_each(|_| async { Ok(()) })
            .await?;
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    round(d.as_secs_f64() * 1000.0, 3)
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}
