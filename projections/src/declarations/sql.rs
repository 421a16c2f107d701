//! Reading and writing the `declarations` and `declaration_items` tables: portable SQL with
//! `$n` parameters, every value bound as text or a 64-bit integer.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::NaiveDate;
use domain::Decimal;
use domain::declaration::Status;
use domain::risk::Lane;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use super::row::{DeclarationRow, ItemRow};
use super::{DECLARATIONS, ITEMS};
use crate::generations::Tables;
use crate::stored::{Marks, parse_name, to_i64};
pub(crate) use crate::stored::{format_time, parse_time};

/// The columns of `declarations`, in the order [`decode_row`] reads and [`upsert`] binds.
pub(crate) const COLUMNS: &str = "id, declarant, lrn, declaration_type, importer, exporter, \
    office, transport_mode, filing_date, status, lane, error_count, item_count, \
    invoice_currency, invoice_amount, tax_currency, customs_value, duty, vat, amount_paid, \
    additional_tax, drawback, data_version, version, filed_at, updated_at, last_event_position";

/// The upsert of whole rows (`{values}`) into `{table}`.
const UPSERT: &str = "INSERT INTO {table} (id, declarant, lrn, declaration_type, importer, \
    exporter, office, transport_mode, filing_date, status, lane, error_count, item_count, \
    invoice_currency, invoice_amount, tax_currency, customs_value, duty, vat, amount_paid, \
    additional_tax, drawback, data_version, version, filed_at, updated_at, last_event_position) \
    VALUES {values} \
    ON CONFLICT (id) DO UPDATE SET declarant = excluded.declarant, lrn = excluded.lrn, \
    declaration_type = excluded.declaration_type, importer = excluded.importer, \
    exporter = excluded.exporter, office = excluded.office, \
    transport_mode = excluded.transport_mode, filing_date = excluded.filing_date, \
    status = excluded.status, lane = excluded.lane, error_count = excluded.error_count, \
    item_count = excluded.item_count, invoice_currency = excluded.invoice_currency, \
    invoice_amount = excluded.invoice_amount, tax_currency = excluded.tax_currency, \
    customs_value = excluded.customs_value, duty = excluded.duty, vat = excluded.vat, \
    amount_paid = excluded.amount_paid, additional_tax = excluded.additional_tax, \
    drawback = excluded.drawback, data_version = excluded.data_version, \
    version = excluded.version, filed_at = excluded.filed_at, \
    updated_at = excluded.updated_at, last_event_position = excluded.last_event_position";

/// Why a write could not be done: the database failed, or the stored or incoming data do not
/// fit together.
#[derive(Debug)]
pub(crate) enum WriteError {
    Database(sqlx::Error),
    Invalid(String),
}

impl From<sqlx::Error> for WriteError {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(error)
    }
}

/// A date as stored: `YYYY-MM-DD`.
pub(crate) fn format_date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// The stored name of a status: the domain's own (`awaitingInspection`).
pub(crate) fn status_text(status: Status) -> &'static str {
    status.as_str()
}

/// The stored name of a lane (`green`, `yellow`, `red`).
pub(crate) fn lane_text(lane: Lane) -> String {
    lane.to_string()
}

fn decimal(text: Option<String>) -> Result<Option<Decimal>, String> {
    text.map(|t| Decimal::from_str(&t).map_err(|e| format!("decimal {t:?}: {e}")))
        .transpose()
}

fn required_decimal(text: String) -> Result<Decimal, String> {
    Decimal::from_str(&text).map_err(|e| format!("decimal {text:?}: {e}"))
}

fn unsigned<T: TryFrom<i64>>(n: i64) -> Result<T, String> {
    T::try_from(n).map_err(|_| format!("{n} is out of range"))
}

/// Reads a `declarations` row selected with [`COLUMNS`].
pub(crate) fn decode_row(row: &AnyRow) -> Result<DeclarationRow, String> {
    let text = |column: &str| -> Result<String, String> {
        row.try_get::<String, _>(column)
            .map_err(|e| format!("{column}: {e}"))
    };
    let optional = |column: &str| -> Result<Option<String>, String> {
        row.try_get::<Option<String>, _>(column)
            .map_err(|e| format!("{column}: {e}"))
    };
    let integer = |column: &str| -> Result<i64, String> {
        row.try_get::<i64, _>(column)
            .map_err(|e| format!("{column}: {e}"))
    };
    let id = text("id")?;
    Ok(DeclarationRow {
        id: Uuid::parse_str(&id).map_err(|e| format!("id {id:?}: {e}"))?,
        declarant: optional("declarant")?,
        lrn: optional("lrn")?,
        declaration_type: optional("declaration_type")?,
        importer: optional("importer")?,
        exporter: optional("exporter")?,
        office: optional("office")?,
        transport_mode: optional("transport_mode")?,
        filing_date: optional("filing_date")?
            .map(|d| NaiveDate::from_str(&d).map_err(|e| format!("date {d:?}: {e}")))
            .transpose()?,
        status: parse_name(&text("status")?)?,
        lane: optional("lane")?
            .map(|lane| parse_name(&lane))
            .transpose()?,
        error_count: unsigned(integer("error_count")?)?,
        item_count: unsigned(integer("item_count")?)?,
        invoice_currency: optional("invoice_currency")?,
        invoice_amount: decimal(optional("invoice_amount")?)?,
        tax_currency: optional("tax_currency")?,
        customs_value: decimal(optional("customs_value")?)?,
        duty: decimal(optional("duty")?)?,
        vat: decimal(optional("vat")?)?,
        amount_paid: required_decimal(text("amount_paid")?)?,
        additional_tax: required_decimal(text("additional_tax")?)?,
        drawback: required_decimal(text("drawback")?)?,
        data_version: unsigned(integer("data_version")?)?,
        version: unsigned(integer("version")?)?,
        filed_at: parse_time(&text("filed_at")?)?,
        updated_at: parse_time(&text("updated_at")?)?,
        last_event_position: unsigned(integer("last_event_position")?)?,
    })
}

/// Reads a `declaration_items` row.
pub(crate) fn decode_item(row: &AnyRow) -> Result<ItemRow, String> {
    let get = |column: &str| -> Result<Option<String>, String> {
        row.try_get::<Option<String>, _>(column)
            .map_err(|e| format!("{column}: {e}"))
    };
    let line: i64 = row.try_get("line").map_err(|e| format!("line: {e}"))?;
    Ok(ItemRow {
        line: unsigned(line)?,
        hs_code: get("hs_code")?.unwrap_or_default(),
        origin: get("origin")?.unwrap_or_default(),
        customs_value: decimal(get("customs_value")?)?,
        duty: decimal(get("duty")?)?,
        vat: decimal(get("vat")?)?,
    })
}

/// Declarations per statement when loading or writing many (27 parameters a row: far below
/// SQLite's 32,766 and PostgreSQL's 65,535).
const ROWS_PER_STATEMENT: usize = 500;
/// Item lines per INSERT (7 parameters each).
const ITEMS_PER_STATEMENT: usize = 1000;

/// The stored rows and item lines of the declarations `ids`, by id; absent ids have none.
pub(crate) async fn load_many(
    tx: &mut AnyConnection,
    tables: &Tables,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, (DeclarationRow, Vec<ItemRow>)>, WriteError> {
    let invalid = |e: String| WriteError::Invalid(format!("stored row: {e}"));
    let mut loaded = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE id IN ({})",
            tables.name(DECLARATIONS),
            Marks::of(tx).list(chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&mut *tx).await? {
            let row = decode_row(&row).map_err(invalid)?;
            loaded.insert(row.id, (row, Vec::new()));
        }
    }
    let stored: Vec<Uuid> = loaded.keys().copied().collect();
    for chunk in stored.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT declaration_id, line, hs_code, origin, customs_value, duty, vat FROM {} \
             WHERE declaration_id IN ({}) ORDER BY declaration_id, line",
            tables.name(ITEMS),
            Marks::of(tx).list(chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&mut *tx).await? {
            let id: String = row.try_get("declaration_id")?;
            let id = Uuid::parse_str(&id).map_err(|e| invalid(format!("item of {id:?}: {e}")))?;
            let item = decode_item(&row).map_err(invalid)?;
            if let Some((_, items)) = loaded.get_mut(&id) {
                items.push(item);
            }
        }
    }
    Ok(loaded)
}

/// Writes whole rows, many per statement (each id at most once).
pub(crate) async fn upsert_many(
    tx: &mut AnyConnection,
    tables: &Tables,
    rows: &[&DeclarationRow],
) -> Result<(), sqlx::Error> {
    let text = |d: Option<Decimal>| d.map(|d| d.to_string());
    let table = tables.name(DECLARATIONS);
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = UPSERT
            .replace("{table}", &table)
            .replace("{values}", &Marks::of(tx).values(chunk.len(), 27));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            query = query
                .bind(row.id.to_string())
                .bind(row.declarant.clone())
                .bind(row.lrn.clone())
                .bind(row.declaration_type.clone())
                .bind(row.importer.clone())
                .bind(row.exporter.clone())
                .bind(row.office.clone())
                .bind(row.transport_mode.clone())
                .bind(row.filing_date.map(format_date))
                .bind(status_text(row.status))
                .bind(row.lane.map(lane_text))
                .bind(i64::from(row.error_count))
                .bind(i64::from(row.item_count))
                .bind(row.invoice_currency.clone())
                .bind(text(row.invoice_amount))
                .bind(row.tax_currency.clone())
                .bind(text(row.customs_value))
                .bind(text(row.duty))
                .bind(text(row.vat))
                .bind(row.amount_paid.to_string())
                .bind(row.additional_tax.to_string())
                .bind(row.drawback.to_string())
                .bind(i64::from(row.data_version))
                .bind(to_i64(row.version))
                .bind(format_time(row.filed_at))
                .bind(format_time(row.updated_at))
                .bind(to_i64(row.last_event_position));
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Deletes the stored item lines of the declarations `stale`, then writes the lines given for
/// each declaration listed.
pub(crate) async fn replace_items(
    tx: &mut AnyConnection,
    tables: &Tables,
    stale: &[Uuid],
    declarations: &[(Uuid, &[ItemRow])],
) -> Result<(), sqlx::Error> {
    let table = tables.name(ITEMS);
    for chunk in stale.chunks(ROWS_PER_STATEMENT) {
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
    let lines: Vec<(Uuid, &ItemRow)> = declarations
        .iter()
        .flat_map(|(id, items)| items.iter().map(move |item| (*id, item)))
        .collect();
    let text = |d: Option<Decimal>| d.map(|d| d.to_string());
    for chunk in lines.chunks(ITEMS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO {table} (declaration_id, line, hs_code, origin, customs_value, duty, \
             vat) VALUES {}",
            Marks::of(tx).values(chunk.len(), 7)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, item) in chunk {
            query = query
                .bind(id.to_string())
                .bind(i64::from(item.line))
                .bind(item.hs_code.clone())
                .bind(item.origin.clone())
                .bind(text(item.customs_value))
                .bind(text(item.duty))
                .bind(text(item.vat));
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}
