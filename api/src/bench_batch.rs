//! `aduana bench batch-cpu`: where a batch item's CPU goes before the store sees it. Demo
//! declarations are generated in memory, then parsed (the NDJSON parser), validated, and decided
//! (validation again, risk lane, duty assessment: the domain's `decide`), and their events
//! serialized; each phase is timed over all declarations on one thread. The store's share is
//! measured by `bench append`, the whole path by `batch submit` against a server
//! (docs/benchmarks.md).

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use commands::batch::parse::NdjsonParser;
use domain::DomainEvent;
use domain::codes::{Actor, Lrn, PartyId};
use domain::declaration::{
    AssessmentContext, Declaration, DeclarationCommand, FileDeclaration, ValidationContext, decide,
    declaration_id, validate,
};
use domain::duty::AssessmentPolicy;
use domain::reference::ReferenceSnapshot;
use domain::risk::{Lane, RandomInspection, RuleSet};
use serde::Serialize;

use crate::demo::{Catalog, DemoConfig, Generator, today_in_korea};

/// Per-phase cost of a batch item, in microseconds per declaration (one thread).
#[derive(Debug, Serialize)]
pub struct CpuSplit {
    pub declarations: u64,
    pub items_per_declaration: u16,
    pub ndjson_bytes: usize,
    pub parse_us: f64,
    pub validate_us: f64,
    /// Validation, risk and assessment together (what a filing runs).
    pub decide_us: f64,
    pub serialize_events_us: f64,
    /// The sum of parse, decide and serialize: the CPU a declaration needs before its append.
    pub total_us: f64,
    /// Declarations per second one core could prepare.
    pub per_core_per_second: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum CpuSplitError {
    #[error("the sample reference data cannot be read: {0}")]
    Reference(String),
    #[error("a generated declaration was not accepted: {0}")]
    Invalid(String),
}

fn micros_per(elapsed: std::time::Duration, n: u64) -> f64 {
    elapsed.as_secs_f64() * 1e6 / n.max(1) as f64
}

/// Runs the split over `declarations` demo declarations of `items` items each.
pub fn cpu_split(declarations: u64, items: u16, seed: u64) -> Result<CpuSplit, CpuSplitError> {
    let date = today_in_korea();
    let catalog = Catalog::sample(date).map_err(|e| CpuSplitError::Reference(e.to_string()))?;
    let config = DemoConfig {
        declarations,
        seed,
        invalid_rate: 0.0,
        declarant: "DEMO".to_owned(),
        items: Some(items),
        filing_date: date,
    };
    let mut body = Vec::new();
    for generated in Generator::new(&catalog, config) {
        generated
            .write_json(&mut body)
            .map_err(|e| CpuSplitError::Invalid(e.to_string()))?;
        body.push(b'\n');
    }
    let events = commands::reference::sample_events()
        .map_err(|rows| CpuSplitError::Reference(format!("{} bad rows", rows.len())))?;
    let reference = Arc::new(ReferenceSnapshot::from_events(&events));
    let random = RandomInspection {
        ratio: domain::Decimal::new(5, 2),
        lane: Lane::Yellow,
    };
    let rules = Arc::new(
        RuleSet::new(1, Vec::new(), Some(random))
            .map_err(|e| CpuSplitError::Reference(e.to_string()))?,
    );
    let policy = AssessmentPolicy::korea();

    let started = Instant::now();
    let mut parser = NdjsonParser::default();
    let mut parsed = Vec::with_capacity(declarations as usize);
    for chunk in body.chunks(64 << 10) {
        parser.push(chunk, &mut parsed);
    }
    parser.finish(&mut parsed);
    let parse = started.elapsed();
    let filings: Vec<_> = parsed
        .into_iter()
        .map(|p| p.parsed.map(|f| f.filing))
        .collect::<Result<_, _>>()
        .map_err(|e| CpuSplitError::Invalid(e.message))?;

    let started = Instant::now();
    for filing in &filings {
        let ctx = ValidationContext {
            reference: &reference,
            policy: &policy,
            filing_date: date,
        };
        validate(filing, ctx).map_err(|e| CpuSplitError::Invalid(format!("{e:?}")))?;
    }
    let validate_time = started.elapsed();

    let actor =
        Actor::parse("declarant/bench@DEMO").map_err(|e| CpuSplitError::Invalid(e.to_string()))?;
    let started = Instant::now();
    let mut decided = Vec::with_capacity(filings.len());
    for (n, filing) in filings.into_iter().enumerate() {
        let id = match (
            filing.header.declarant.as_deref().map(PartyId::parse),
            filing.header.lrn.as_deref().map(Lrn::parse),
        ) {
            (Some(Ok(d)), Some(Ok(l))) => declaration_id(&d, &l),
            _ => return Err(CpuSplitError::Invalid("no declarant or LRN".into())),
        };
        let command = DeclarationCommand::File(FileDeclaration {
            declaration_id: id,
            filing,
            filing_date: date,
            context: AssessmentContext {
                reference: Arc::clone(&reference),
                policy,
                rules: Arc::clone(&rules),
                trader_fraud_findings: 0,
                seed: n as u64,
            },
            actor: actor.clone(),
            at: Utc::now(),
        });
        let events = decide(&Declaration::default(), command)
            .map_err(|e| CpuSplitError::Invalid(e.to_string()))?;
        decided.push(events);
    }
    let decide_time = started.elapsed();

    let started = Instant::now();
    let mut bytes = 0usize;
    for events in &decided {
        for event in events {
            let payload = event
                .payload()
                .map_err(|e| CpuSplitError::Invalid(e.to_string()))?;
            bytes += payload.to_string().len();
        }
    }
    let serialize = started.elapsed();
    std::hint::black_box(bytes);

    let parse_us = micros_per(parse, declarations);
    let decide_us = micros_per(decide_time, declarations);
    let serialize_events_us = micros_per(serialize, declarations);
    let total_us = parse_us + decide_us + serialize_events_us;
    Ok(CpuSplit {
        declarations,
        items_per_declaration: items,
        ndjson_bytes: body.len(),
        parse_us,
        validate_us: micros_per(validate_time, declarations),
        decide_us,
        serialize_events_us,
        total_us,
        per_core_per_second: 1e6 / total_us,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_split_measures_every_phase_of_valid_declarations() {
        let split = cpu_split(50, 3, 7).unwrap();
        assert_eq!(split.declarations, 50);
        assert!(split.parse_us > 0.0 && split.decide_us > 0.0 && split.serialize_events_us > 0.0);
        assert!(split.decide_us >= split.validate_us * 0.5, "{split:?}");
    }
}
