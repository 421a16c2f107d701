//! Reading and writing the `declarations` and `declaration_items` tables: portable SQL with
//! `$n` parameters, every value bound as text or a 64-bit integer.

use std::str::FromStr;

use chrono::NaiveDate;
use domain::Decimal;
use domain::declaration::{Item, Status};
use domain::duty::Assessment;
use domain::risk::Lane;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use super::row::{DeclarationRow, ItemRow, ItemsChange};
pub(crate) use crate::stored::{format_time, parse_time};
use crate::stored::{parse_name, to_i64};

/// The columns of `declarations`, in the order [`decode_row`] reads and [`upsert`] binds.
pub(crate) const COLUMNS: &str = "id, declarant, lrn, declaration_type, importer, exporter, \
    office, transport_mode, filing_date, status, lane, error_count, item_count, \
    invoice_currency, invoice_amount, tax_currency, customs_value, duty, vat, amount_paid, \
    additional_tax, drawback, data_version, version, filed_at, updated_at, last_event_position";

const UPSERT: &str = "INSERT INTO declarations (id, declarant, lrn, declaration_type, importer, \
    exporter, office, transport_mode, filing_date, status, lane, error_count, item_count, \
    invoice_currency, invoice_amount, tax_currency, customs_value, duty, vat, amount_paid, \
    additional_tax, drawback, data_version, version, filed_at, updated_at, last_event_position) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
    $19, $20, $21, $22, $23, $24, $25, $26, $27) \
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

/// Item lines per INSERT statement (7 parameters each, far below either backend's limit).
const ITEMS_PER_INSERT: usize = 100;

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

/// The stored row of a declaration, if any.
pub(crate) async fn load(
    tx: &mut AnyConnection,
    id: Uuid,
) -> Result<Option<DeclarationRow>, WriteError> {
    let sql = format!("SELECT {COLUMNS} FROM declarations WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    row.as_ref()
        .map(decode_row)
        .transpose()
        .map_err(|e| WriteError::Invalid(format!("stored row: {e}")))
}

/// Writes the whole row.
pub(crate) async fn upsert(
    tx: &mut AnyConnection,
    row: &DeclarationRow,
) -> Result<(), sqlx::Error> {
    let text = |d: Option<Decimal>| d.map(|d| d.to_string());
    sqlx::query(UPSERT)
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
        .bind(to_i64(row.last_event_position))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Applies an event's change to the item lines; invalid when the assessment names a line the
/// declaration does not have.
pub(crate) async fn write_items(
    tx: &mut AnyConnection,
    id: Uuid,
    change: &ItemsChange<'_>,
) -> Result<(), WriteError> {
    let id_text = id.to_string();
    match change {
        ItemsChange::Keep => {}
        ItemsChange::Clear => delete_items(tx, &id_text).await?,
        ItemsChange::Replace(items) => {
            delete_items(tx, &id_text).await?;
            insert_items(tx, &id_text, items).await?;
        }
        ItemsChange::Assess(assessment) => return assess_items(tx, &id_text, assessment).await,
    }
    Ok(())
}

async fn delete_items(tx: &mut AnyConnection, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM declaration_items WHERE declaration_id = $1")
        .bind(id.to_owned())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

async fn insert_items(tx: &mut AnyConnection, id: &str, items: &[Item]) -> Result<(), sqlx::Error> {
    for (chunk_index, chunk) in items.chunks(ITEMS_PER_INSERT).enumerate() {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                format!(
                    "(${}, ${}, ${}, ${})",
                    4 * i + 1,
                    4 * i + 2,
                    4 * i + 3,
                    4 * i + 4
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO declaration_items (declaration_id, line, hs_code, origin) VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (i, item) in chunk.iter().enumerate() {
            let line = chunk_index * ITEMS_PER_INSERT + i + 1;
            query = query
                .bind(id.to_owned())
                .bind(i64::try_from(line).unwrap_or(i64::MAX))
                .bind(item.hs_code.to_string())
                .bind(item.origin_country.to_string());
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}

async fn assess_items(
    tx: &mut AnyConnection,
    id: &str,
    assessment: &Assessment,
) -> Result<(), WriteError> {
    for item in &assessment.items {
        let updated = sqlx::query(
            "UPDATE declaration_items SET customs_value = $1, duty = $2, vat = $3 \
             WHERE declaration_id = $4 AND line = $5 AND hs_code = $6",
        )
        .bind(item.customs_value.to_string())
        .bind(item.duty.to_string())
        .bind(item.vat.to_string())
        .bind(id.to_owned())
        .bind(i64::try_from(item.item).unwrap_or(i64::MAX))
        .bind(item.hs_code.to_string())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(WriteError::Invalid(format!(
                "the assessment names item {} ({}), which the declaration does not have",
                item.item, item.hs_code
            )));
        }
    }
    Ok(())
}

/// Empties both tables (items first: they refer to declarations).
pub(crate) async fn delete_all(tx: &mut AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM declaration_items")
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM declarations")
        .execute(&mut *tx)
        .await?;
    Ok(())
}
