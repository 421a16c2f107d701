//! A declaration as the read model holds it, and what each event does to it: a pure fold that
//! follows the domain's `evolve`, kept apart from SQL so it reads (and tests) on its own.
//!
//! Ids and codes are kept as the text the events carried (the write side parsed them); status,
//! lane, amounts and instants are typed, since callers filter and compute on them.

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use domain::Decimal;
use domain::codes::{DeclarationType, Lrn, OfficeCode, PartyId, TransportMode};
use domain::declaration::{DeclarationEvent, DeclarationRejected, Item, Status};
use domain::duty::Assessment;
use domain::risk::Lane;
use uuid::Uuid;

/// Longest declarant name kept from a rejected filing: the longest organisation name a
/// principal can carry. A longer one cannot belong to any caller.
const MAX_ORGANISATION_CHARS: usize = 200;

/// One declaration in the read model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclarationRow {
    /// The declaration id: the UUID of its stream `declaration-<id>`.
    pub id: Uuid,
    /// The organisation that owns the declaration. For a rejected filing, the declarant as
    /// filed (trimmed), or `None` when the filing named none.
    pub declarant: Option<String>,
    pub lrn: Option<String>,
    /// `import` or `export`.
    pub declaration_type: Option<String>,
    pub importer: Option<String>,
    pub exporter: Option<String>,
    /// The customs office code.
    pub office: Option<String>,
    /// The WCO transport mode code, `1` to `9`.
    pub transport_mode: Option<String>,
    /// The filing date (rates in force on it apply); for a rejected filing, the date it was
    /// judged on.
    pub filing_date: Option<NaiveDate>,
    pub status: Status,
    /// `None` until the risk rules assigned one (again after an amendment).
    pub lane: Option<Lane>,
    /// How many errors the latest rejected filing had; 0 once a filing is lodged.
    pub error_count: u32,
    pub item_count: u32,
    pub invoice_currency: Option<String>,
    pub invoice_amount: Option<Decimal>,
    /// The currency of the assessed amounts and payments (the national currency).
    pub tax_currency: Option<String>,
    /// Assessment totals, `None` until assessed (again after an amendment).
    pub customs_value: Option<Decimal>,
    pub duty: Option<Decimal>,
    pub vat: Option<Decimal>,
    pub amount_paid: Decimal,
    /// Post-clearance corrections, summed.
    pub additional_tax: Decimal,
    pub drawback: Decimal,
    /// Version of the declaration's data: 1 when filed, +1 per amendment, 0 when rejected.
    pub data_version: u32,
    /// The stream's version: what a command expects next.
    pub version: u64,
    /// When the current filing was made (a filing after a rejection restarts it); the list
    /// order.
    pub filed_at: DateTime<Utc>,
    /// When the latest event happened.
    pub updated_at: DateTime<Utc>,
    /// Global position of the latest event applied.
    pub last_event_position: u64,
}

impl DeclarationRow {
    /// Duty and VAT, plus corrections, minus payments: what is still owed (negative when
    /// overpaid). Zero before assessment.
    pub fn balance(&self) -> Decimal {
        self.duty.unwrap_or_default() + self.vat.unwrap_or_default() + self.additional_tax
            - self.drawback
            - self.amount_paid
    }
}

/// One item line of a declaration's current version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRow {
    /// 1-based line number.
    pub line: u32,
    /// The 10-digit tariff code.
    pub hs_code: String,
    /// Country of origin, ISO 3166-1 alpha-2.
    pub origin: String,
    /// Assessed amounts in the national currency; `None` until assessed.
    pub customs_value: Option<Decimal>,
    pub duty: Option<Decimal>,
    pub vat: Option<Decimal>,
}

/// What an event does to the item lines.
#[derive(Debug)]
pub(crate) enum ItemsChange<'a> {
    Keep,
    /// A filing or amendment: these lines, not yet assessed.
    Replace(&'a [Item]),
    /// A rejected filing keeps no lines.
    Clear,
    /// Amounts for the existing lines.
    Assess(&'a Assessment),
}

/// Where an event sits in the log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recorded {
    pub id: Uuid,
    pub stream_version: u64,
    pub position: u64,
}

/// The row after `event`, and what happens to the items. `current` is the row before (`None`
/// when the stream has none yet). An event that does not fit is an error, never ignored.
pub(crate) fn evolve<'a>(
    current: Option<DeclarationRow>,
    event: &'a DeclarationEvent,
    recorded: Recorded,
) -> Result<(DeclarationRow, ItemsChange<'a>), String> {
    use DeclarationEvent as E;
    if let Some(row) = &current
        && recorded.stream_version != row.version + 1
    {
        return Err(format!(
            "stream version {} does not follow the row's version {}",
            recorded.stream_version, row.version
        ));
    }
    let filing = matches!(event, E::DeclarationFiled(_) | E::DeclarationRejected(_));
    if filing
        && current
            .as_ref()
            .is_some_and(|row| row.status != Status::Rejected)
    {
        return Err("a filing on a declaration already lodged".to_owned());
    }
    let (declaration_id, at) = identity(event);
    if declaration_id != recorded.id {
        return Err(format!(
            "the event is about declaration {declaration_id}, not {}",
            recorded.id
        ));
    }
    let (mut row, items) = match (current, event) {
        (_, E::DeclarationFiled(e)) => (
            lodged(recorded.id, &e.data, e.version, at),
            ItemsChange::Replace(&e.data.items),
        ),
        (_, E::DeclarationRejected(e)) => (rejected(recorded.id, e, at), ItemsChange::Clear),
        (None, _) => return Err("no filing precedes this event".to_owned()),
        (Some(row), E::DeclarationAmended(e)) => {
            let mut next = lodged(recorded.id, &e.data, e.version, row.filed_at);
            next.amount_paid = row.amount_paid;
            next.additional_tax = row.additional_tax;
            next.drawback = row.drawback;
            next.tax_currency = row.tax_currency;
            (next, ItemsChange::Replace(&e.data.items))
        }
        (Some(mut row), E::RiskAssessed(e)) => {
            row.status = Status::LaneAssigned;
            row.lane = Some(e.outcome.lane);
            (row, ItemsChange::Keep)
        }
        (Some(mut row), E::DutiesAssessed(e)) => {
            let totals = &e.assessment.totals;
            row.customs_value = Some(totals.customs_value);
            row.duty = Some(totals.duty);
            row.vat = Some(totals.vat);
            row.tax_currency = Some(e.assessment.policy.national_currency.to_string());
            row.status = match row.lane {
                Some(Lane::Yellow | Lane::Red) => Status::AwaitingInspection,
                _ => Status::DutiesAssessed,
            };
            (row, ItemsChange::Assess(&e.assessment))
        }
        (Some(mut row), E::InspectionRecorded(_)) => {
            row.status = Status::Inspected;
            (row, ItemsChange::Keep)
        }
        (Some(mut row), E::DeclarationAccepted(_)) => {
            row.status = Status::Accepted;
            (row, ItemsChange::Keep)
        }
        (Some(mut row), E::DeclarationRefused(_)) => {
            row.status = Status::Refused;
            (row, ItemsChange::Keep)
        }
        (Some(mut row), E::DeclarationWithdrawn(_)) => {
            row.status = Status::Withdrawn;
            (row, ItemsChange::Keep)
        }
        (Some(mut row), E::PaymentRecorded(e)) => {
            row.amount_paid += e.amount;
            row.tax_currency = Some(e.currency.to_string());
            (row, ItemsChange::Keep)
        }
        (Some(mut row), E::DeclarationCorrected(e)) => {
            row.additional_tax += e.additional_tax;
            row.drawback += e.drawback;
            (row, ItemsChange::Keep)
        }
    };
    row.version = recorded.stream_version;
    row.updated_at = at;
    row.last_event_position = recorded.position;
    Ok((row, items))
}

/// Applies an event's change to a declaration's item lines (as held in memory while a batch
/// folds); an error when an assessment names a line the declaration does not have.
pub(crate) fn change_items(
    items: &mut Vec<ItemRow>,
    change: &ItemsChange<'_>,
) -> Result<(), String> {
    match change {
        ItemsChange::Keep => {}
        ItemsChange::Clear => items.clear(),
        ItemsChange::Replace(lines) => {
            *items = lines
                .iter()
                .enumerate()
                .map(|(i, item)| ItemRow {
                    line: count(i + 1),
                    hs_code: item.hs_code.to_string(),
                    origin: item.origin_country.to_string(),
                    customs_value: None,
                    duty: None,
                    vat: None,
                })
                .collect();
        }
        ItemsChange::Assess(assessment) => {
            for assessed in &assessment.items {
                let hs_code = assessed.hs_code.to_string();
                let line = items
                    .iter_mut()
                    .find(|line| {
                        usize::try_from(line.line) == Ok(assessed.item) && line.hs_code == hs_code
                    })
                    .ok_or_else(|| {
                        format!(
                            "the assessment names item {} ({hs_code}), which the declaration \
                             does not have",
                            assessed.item
                        )
                    })?;
                line.customs_value = Some(assessed.customs_value);
                line.duty = Some(assessed.duty);
                line.vat = Some(assessed.vat);
            }
        }
    }
    Ok(())
}

/// A row for a lodged version of the declaration (filed or amended), not yet assessed.
fn lodged(
    id: Uuid,
    data: &domain::declaration::DeclarationData,
    version: u32,
    filed_at: DateTime<Utc>,
) -> DeclarationRow {
    let h = &data.header;
    DeclarationRow {
        id,
        declarant: Some(h.declarant.to_string()),
        lrn: Some(h.lrn.to_string()),
        declaration_type: Some(h.declaration_type.as_str().to_owned()),
        importer: h.importer.as_ref().map(ToString::to_string),
        exporter: h.exporter.as_ref().map(ToString::to_string),
        office: Some(h.customs_office.to_string()),
        transport_mode: Some(h.transport_mode.to_string()),
        filing_date: Some(h.filing_date),
        status: Status::Filed,
        lane: None,
        error_count: 0,
        item_count: count(data.items.len()),
        invoice_currency: Some(h.invoice_currency.to_string()),
        invoice_amount: Some(h.invoice_amount),
        tax_currency: None,
        customs_value: None,
        duty: None,
        vat: None,
        amount_paid: Decimal::ZERO,
        additional_tax: Decimal::ZERO,
        drawback: Decimal::ZERO,
        data_version: version,
        version: 0,
        filed_at,
        updated_at: filed_at,
        last_event_position: 0,
    }
}

/// A row for a rejected filing: what of the filing can be read, with the error count.
fn rejected(id: Uuid, e: &DeclarationRejected, at: DateTime<Utc>) -> DeclarationRow {
    let h = &e.filing.header;
    let valid = |field: &Option<String>, parse: fn(&str) -> bool| {
        text(field).filter(|s| parse(s)).map(str::to_owned)
    };
    DeclarationRow {
        id,
        // As the command layer reads the owner of a rejected filing: the declarant as filed.
        declarant: text(&h.declarant)
            .filter(|d| !d.is_empty() && d.chars().count() <= MAX_ORGANISATION_CHARS)
            .map(str::to_owned),
        lrn: valid(&h.lrn, |s| Lrn::parse(s).is_ok()),
        declaration_type: text(&h.declaration_type)
            .and_then(|s| DeclarationType::parse(s).ok())
            .map(|t| t.as_str().to_owned()),
        importer: valid(&h.importer, |s| PartyId::parse(s).is_ok()),
        exporter: valid(&h.exporter, |s| PartyId::parse(s).is_ok()),
        office: valid(&h.customs_office, |s| OfficeCode::parse(s).is_ok()),
        transport_mode: text(&h.transport_mode)
            .and_then(|s| TransportMode::parse(s).ok())
            .map(|m| m.to_string()),
        filing_date: Some(e.filing_date),
        status: Status::Rejected,
        lane: None,
        error_count: count(e.errors.len()),
        item_count: count(e.filing.items.len()),
        invoice_currency: text(&h.invoice_currency)
            .and_then(|s| domain::codes::CurrencyCode::parse(s).ok())
            .map(|c| c.to_string()),
        invoice_amount: None,
        tax_currency: None,
        customs_value: None,
        duty: None,
        vat: None,
        amount_paid: Decimal::ZERO,
        additional_tax: Decimal::ZERO,
        drawback: Decimal::ZERO,
        data_version: 0,
        version: 0,
        filed_at: at,
        updated_at: at,
        last_event_position: 0,
    }
}

/// A raw field as filed, trimmed.
fn text(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim)
}

/// Which declaration the event is about, and when it happened (from its command) to the
/// microsecond the read model keeps.
fn identity(event: &DeclarationEvent) -> (Uuid, DateTime<Utc>) {
    use DeclarationEvent as E;
    let (id, at) = match event {
        E::DeclarationFiled(e) => (e.declaration_id, e.at),
        E::DeclarationRejected(e) => (e.declaration_id, e.at),
        E::RiskAssessed(e) => (e.declaration_id, e.at),
        E::DutiesAssessed(e) => (e.declaration_id, e.at),
        E::DeclarationAmended(e) => (e.declaration_id, e.at),
        E::DeclarationWithdrawn(e) => (e.declaration_id, e.at),
        E::InspectionRecorded(e) => (e.declaration_id, e.at),
        E::DeclarationAccepted(e) => (e.declaration_id, e.at),
        E::DeclarationRefused(e) => (e.declaration_id, e.at),
        E::PaymentRecorded(e) => (e.declaration_id, e.at),
        E::DeclarationCorrected(e) => (e.declaration_id, e.at),
    };
    (id, at.trunc_subsecs(6))
}

/// A count of items or errors. Both are bounded far below `u32::MAX` (999 items; errors are
/// a few per field), so saturation never happens in practice.
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[path = "row_tests.rs"]
mod tests;
