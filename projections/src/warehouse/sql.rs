//! Reading and writing the warehouse tables: portable SQL with parameters named per backend
//! ([`Marks`]), every value bound as text or a 64-bit integer, many rows per statement.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use super::fact::{Fact, Pending};
use super::{FACTS, PENDING};
use crate::generations::Tables;
pub(crate) use crate::stored::Marks;

/// The columns of `warehouse_facts` as [`insert_facts`] binds them and [`decode_fact`] reads.
pub(crate) const FACT_COLUMNS: &str = "declaration_id, line, revision, valid_from, valid_to, \
    day, week, month, quarter, year, hs_section, hs_chapter, hs_heading, hs_subheading, hs_line, \
    origin, origin_region, dispatch, trader, declarant, office, transport_mode, lane, regime, \
    preference, audit_outcome, customs_value, duty, vat, additional_tax, drawback, \
    invoice_value, net_mass, quantity";
const FACT_ARITY: usize = 34;
/// Rows per INSERT: 34 parameters each, well under SQLite's 32,766 and PostgreSQL's 65,535.
const ROWS_PER_INSERT: usize = 400;
/// Keys per `IN (...)` list.
const KEYS_PER_SELECT: usize = 500;

/// The staged state of those of `ids` that have one.
pub(crate) async fn load_pending(
    tx: &mut AnyConnection,
    tables: &Tables,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Pending>, String> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(KEYS_PER_SELECT) {
        let sql = format!(
            "SELECT declaration_id, state FROM {} WHERE declaration_id IN ({})",
            tables.name(PENDING),
            Marks::of(tx).list(chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.to_string());
        }
        let rows = query.fetch_all(&mut *tx).await.map_err(|e| e.to_string())?;
        for row in rows {
            let id: String = row.try_get(0).map_err(|e| e.to_string())?;
            let state: String = row.try_get(1).map_err(|e| e.to_string())?;
            let id = Uuid::parse_str(&id).map_err(|e| format!("pending id {id:?}: {e}"))?;
            let pending =
                serde_json::from_str(&state).map_err(|e| format!("pending state of {id}: {e}"))?;
            found.insert(id, pending);
        }
    }
    Ok(found)
}

/// Replaces the staged state of `upsert` and removes that of `delete`.
pub(crate) async fn write_pending(
    tx: &mut AnyConnection,
    tables: &Tables,
    upsert: &[(Uuid, &Pending)],
    delete: &[Uuid],
) -> Result<(), sqlx::Error> {
    let table = tables.name(PENDING);
    for chunk in delete.chunks(KEYS_PER_SELECT) {
        let sql = format!(
            "DELETE FROM {table} WHERE declaration_id IN ({})",
            Marks::of(tx).list(chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.to_string());
        }
        query.execute(&mut *tx).await?;
    }
    for chunk in upsert.chunks(KEYS_PER_SELECT) {
        let sql = format!(
            "INSERT INTO {table} (declaration_id, state) VALUES {} \
             ON CONFLICT (declaration_id) DO UPDATE SET state = excluded.state",
            Marks::of(tx).values(chunk.len(), 2)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, pending) in chunk {
            let state = serde_json::to_string(pending).unwrap_or_default();
            query = query.bind(id.to_string()).bind(state);
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}

/// The current revision's facts of each of `ids`, in line order.
pub(crate) async fn load_current(
    tx: &mut AnyConnection,
    tables: &Tables,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Fact>>, String> {
    let mut found: HashMap<Uuid, Vec<Fact>> = HashMap::new();
    for chunk in ids.chunks(KEYS_PER_SELECT) {
        let sql = format!(
            "SELECT {FACT_COLUMNS} FROM {} WHERE valid_to IS NULL AND declaration_id IN ({}) \
             ORDER BY declaration_id, line",
            tables.name(FACTS),
            Marks::of(tx).list(chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.to_string());
        }
        let rows = query.fetch_all(&mut *tx).await.map_err(|e| e.to_string())?;
        for row in rows {
            let fact = decode_fact(&row)?;
            found.entry(fact.declaration_id).or_default().push(fact);
        }
    }
    Ok(found)
}

/// Closes revision `revision` of a declaration: it stops being the truth at `valid_to`.
pub(crate) async fn close_revision(
    tx: &mut AnyConnection,
    tables: &Tables,
    id: Uuid,
    revision: u32,
    valid_to: i64,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "UPDATE {} SET valid_to = $1 WHERE declaration_id = $2 AND revision = $3",
        tables.name(FACTS)
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(valid_to)
        .bind(id.to_string())
        .bind(i64::from(revision))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub(crate) async fn insert_facts(
    tx: &mut AnyConnection,
    tables: &Tables,
    facts: &[Fact],
) -> Result<(), sqlx::Error> {
    let table = tables.name(FACTS);
    for chunk in facts.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO {table} ({FACT_COLUMNS}) VALUES {}",
            Marks::of(tx).values(chunk.len(), FACT_ARITY)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for f in chunk {
            query = query
                .bind(f.declaration_id.to_string())
                .bind(i64::from(f.line))
                .bind(i64::from(f.revision))
                .bind(f.valid_from)
                .bind(f.valid_to)
                .bind(f.dates[0])
                .bind(f.dates[1])
                .bind(f.dates[2])
                .bind(f.dates[3])
                .bind(f.dates[4])
                .bind(f.hs_section())
                .bind(f.hs_chapter().to_owned())
                .bind(f.hs_heading().to_owned())
                .bind(f.hs_subheading().to_owned())
                .bind(f.hs_line.clone())
                .bind(f.origin.clone())
                .bind(f.origin_region())
                .bind(f.dispatch.clone())
                .bind(f.trader.clone())
                .bind(f.declarant.clone())
                .bind(f.office.clone())
                .bind(f.transport_mode.clone())
                .bind(f.lane.clone())
                .bind(f.regime.clone())
                .bind(f.preference.clone())
                .bind(f.audit_outcome.clone())
                .bind(f.customs_value)
                .bind(f.duty)
                .bind(f.vat)
                .bind(f.additional_tax)
                .bind(f.drawback)
                .bind(f.invoice_value)
                .bind(f.net_mass)
                .bind(f.quantity);
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Reads a row selected with [`FACT_COLUMNS`].
pub(crate) fn decode_fact(row: &AnyRow) -> Result<Fact, String> {
    let text = |i: usize| row.try_get::<String, _>(i).map_err(|e| format!("{i}: {e}"));
    let int = |i: usize| row.try_get::<i64, _>(i).map_err(|e| format!("{i}: {e}"));
    let small = |i: usize| -> Result<u32, String> {
        u32::try_from(int(i)?).map_err(|e| format!("{i}: {e}"))
    };
    let id = text(0)?;
    Ok(Fact {
        declaration_id: Uuid::parse_str(&id).map_err(|e| format!("{id:?}: {e}"))?,
        line: small(1)?,
        revision: small(2)?,
        valid_from: int(3)?,
        valid_to: row
            .try_get::<Option<i64>, _>(4)
            .map_err(|e| format!("4: {e}"))?,
        dates: [int(5)?, int(6)?, int(7)?, int(8)?, int(9)?],
        hs_line: text(14)?,
        origin: text(15)?,
        dispatch: text(17)?,
        trader: text(18)?,
        declarant: text(19)?,
        office: text(20)?,
        transport_mode: text(21)?,
        lane: text(22)?,
        regime: text(23)?,
        preference: text(24)?,
        audit_outcome: text(25)?,
        customs_value: int(26)?,
        duty: int(27)?,
        vat: int(28)?,
        additional_tax: int(29)?,
        drawback: int(30)?,
        invoice_value: int(31)?,
        net_mass: int(32)?,
        quantity: int(33)?,
    })
}
