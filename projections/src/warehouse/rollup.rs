//! The roll-up table `warehouse_rollup`: the current facts summed by month, HS heading, regime
//! and lane, written by the projection in the same transaction as the facts it sums.
//!
//! Why: a cube query groups at its finest grain with one `GROUP BY` over the facts, and on a
//! row store that costs a pass over every current fact, about 1 s of CPU per million facts on
//! SQLite (it sorts to group) and 0.3–0.6 s on PostgreSQL (docs/benchmarks.md). The usual
//! questions (months, quarters and years by HS section, chapter or heading, and drill-downs
//! along those hierarchies, imports or exports, the lane mix) need only these four dimensions,
//! and the table holds at most one row per month, heading, regime and lane (some 1,200
//! headings: tens of thousands of rows a year, in practice fewer: most headings are imported
//! on the green lane), so they read thousands of rows instead of millions. Queries with any
//! other level or filter, or as of a past instant, read the facts ([`covers`]).
//!
//! A fact is added when it becomes current (acceptance, the next revision of a correction) and
//! subtracted when a correction closes it; a fact opened and closed within one batch never
//! reaches the table. The sums are exact 64-bit integers like the facts' (a sum beyond 2^63
//! fails the batch on PostgreSQL; SQLite would turn it into a float, which the cube then
//! refuses to read as corrupt rather than round).

use std::collections::BTreeMap;

use sqlx::AnyConnection;

use super::fact::Fact;
use super::level::Level;
use super::sql::Marks;
use crate::generations::Tables;

pub(crate) const ROLLUP: &str = "warehouse_rollup";

/// The columns of `warehouse_rollup` as [`Deltas::write`] binds them: the key, the coarser
/// levels it determines, the eight stored measures and the count of facts.
const COLUMNS: &str = "month, hs_heading, regime, lane, quarter, year, hs_section, hs_chapter, \
    customs_value, duty, vat, additional_tax, drawback, invoice_value, net_mass, quantity, items";
const SUMMED: [&str; 9] = [
    "customs_value",
    "duty",
    "vat",
    "additional_tax",
    "drawback",
    "invoice_value",
    "net_mass",
    "quantity",
    "items",
];
const ARITY: usize = 17;
/// Rows per upsert: 17 parameters each.
const ROWS_PER_UPSERT: usize = 400;

/// Whether the roll-up table holds `level`: the date levels from month up, the tariff levels
/// from heading up, the regime and the lane.
pub(crate) fn covers(level: Level) -> bool {
    use Level::*;
    matches!(
        level,
        Month | Quarter | Year | HsSection | HsChapter | HsHeading | Regime | Lane
    )
}

/// One row's change: its coarser levels and what to add to each sum.
struct Delta {
    quarter: i64,
    year: i64,
    section: i64,
    chapter: String,
    sums: [i128; 9],
}

/// What a batch adds to (and takes from) the roll-up, by (month, heading, regime, lane).
#[derive(Default)]
pub(crate) struct Deltas(BTreeMap<(i64, String, String, String), Delta>);

impl Deltas {
    /// Adds `fact` to its row (`sign` 1) or takes it away (`sign` -1).
    pub(crate) fn add(&mut self, fact: &Fact, sign: i128) {
        let key = (
            fact.dates[2],
            fact.hs_heading().to_owned(),
            fact.regime.clone(),
            fact.lane.clone(),
        );
        let delta = self.0.entry(key).or_insert_with(|| Delta {
            quarter: fact.dates[3],
            year: fact.dates[4],
            section: fact.hs_section(),
            chapter: fact.hs_chapter().to_owned(),
            sums: [0; 9],
        });
        let values = [
            fact.customs_value,
            fact.duty,
            fact.vat,
            fact.additional_tax,
            fact.drawback,
            fact.invoice_value,
            fact.net_mass,
            fact.quantity,
            1,
        ];
        for (sum, value) in delta.sums.iter_mut().zip(values) {
            *sum += sign * i128::from(value);
        }
    }

    /// Adds the current facts among `facts` (those not closed already).
    pub(crate) fn add_current(&mut self, facts: &[Fact]) {
        for fact in facts.iter().filter(|f| f.valid_to.is_none()) {
            self.add(fact, 1);
        }
    }

    /// Adds the deltas to the roll-up table of `tables`, many rows per statement.
    pub(crate) async fn write(
        &self,
        tx: &mut AnyConnection,
        tables: &Tables,
    ) -> Result<(), sqlx::Error> {
        let table = tables.name(ROLLUP);
        let updates: Vec<String> = SUMMED
            .iter()
            .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
            .collect();
        let rows: Vec<_> = self.0.iter().collect();
        for chunk in rows.chunks(ROWS_PER_UPSERT) {
            let sql = format!(
                "INSERT INTO {table} ({COLUMNS}) VALUES {} \
                 ON CONFLICT (month, hs_heading, regime, lane) DO UPDATE SET {}",
                Marks::of(tx).values(chunk.len(), ARITY),
                updates.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for ((month, heading, regime, lane), delta) in chunk {
                query = query
                    .bind(*month)
                    .bind(heading.clone())
                    .bind(regime.clone())
                    .bind(lane.clone())
                    .bind(delta.quarter)
                    .bind(delta.year)
                    .bind(delta.section)
                    .bind(delta.chapter.clone());
                for sum in delta.sums {
                    let sum = i64::try_from(sum).map_err(|_| {
                        sqlx::Error::Encode(
                            format!("a roll-up delta of {month} {heading} exceeds 64 bits").into(),
                        )
                    })?;
                    query = query.bind(sum);
                }
            }
            query.execute(&mut *tx).await?;
        }
        Ok(())
    }
}
