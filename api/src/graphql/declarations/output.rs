//! Declarations as GraphQL output: the state folded from a declaration's events, and the
//! result of a command.

use async_graphql::{Enum, Object, SimpleObject};
use chrono::NaiveDate;
use commands::declaration::Outcome;
use domain::declaration::{Declaration as State, Header, Item};
use uuid::Uuid;

use super::assessment::Assessment;
use crate::graphql::log::to_int;
use crate::graphql::scalars::Decimal;

/// Where a declaration is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(name = "DeclarationStatus", remote = "domain::declaration::Status")]
pub enum Status {
    /// Nothing filed yet (only seen in `declarationAsOf` before the first event).
    New,
    /// The latest filing failed validation: `errors` says why. It may be filed again.
    Rejected,
    /// Filed; lane and duties follow in the same command.
    Filed,
    LaneAssigned,
    DutiesAssessed,
    /// Yellow or red lane: waits for an officer's inspection.
    AwaitingInspection,
    /// Inspected: the officer accepts or refuses it.
    Inspected,
    /// Cleared.
    Accepted,
    Refused,
    Withdrawn,
}

/// The risk lane a declaration was routed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "domain::risk::Lane")]
pub enum Lane {
    /// Accepted automatically.
    Green,
    /// Documentary review by an officer.
    Yellow,
    /// Physical inspection.
    Red,
}

/// What an officer examined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "domain::declaration::InspectionKind")]
pub enum InspectionKind {
    /// Documents only (enough in the yellow lane).
    Documentary,
    /// The goods themselves (required in the red lane).
    Physical,
}

/// What an officer found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "domain::declaration::InspectionResult")]
pub enum InspectionResult {
    /// The goods and documents match the declaration.
    Compliant,
    /// Something does not match; details in the notes.
    Discrepancies,
}

/// One thing wrong with a filing.
#[derive(Debug, Clone, SimpleObject)]
pub struct ValidationError {
    /// A stable code, e.g. `MISSING_FIELD`, `UNKNOWN_TARIFF_CODE`, `NO_EXCHANGE_RATE`.
    pub code: String,
    /// The field, as a camelCase path with indexes: `header.invoiceCurrency`, `items[3].hsCode`.
    pub path: String,
    pub message: String,
}

impl From<&domain::declaration::ValidationError> for ValidationError {
    fn from(error: &domain::declaration::ValidationError) -> Self {
        Self {
            code: error.code.as_str().to_owned(),
            path: error.path.clone(),
            message: error.message.clone(),
        }
    }
}

/// A declaration as its events left it (now, or at a past version).
#[derive(Debug, Clone)]
pub struct Declaration {
    pub id: Uuid,
    pub stream_version: u64,
    pub state: State,
    /// Errors of the latest rejected filing, while the declaration stands rejected.
    pub errors: Vec<domain::declaration::ValidationError>,
}

impl From<Outcome> for Declaration {
    fn from(outcome: Outcome) -> Self {
        Self {
            id: outcome.id,
            stream_version: outcome.stream_version,
            state: outcome.state,
            errors: outcome.errors,
        }
    }
}

/// A declaration as its events left it: now, or at a past time or version
/// (`declarationAsOf`).
#[Object]
impl Declaration {
    async fn id(&self) -> Uuid {
        self.id
    }

    /// The number of events in the declaration's stream: `declarationAsOf(version:)` takes it.
    async fn stream_version(&self) -> async_graphql::Result<i32> {
        Ok(to_int(self.stream_version, "stream version")?)
    }

    /// The version of the declaration's data: 1 when filed, +1 per amendment; 0 before a valid
    /// filing.
    async fn data_version(&self) -> async_graphql::Result<i32> {
        Ok(to_int(self.state.version, "data version")?)
    }

    async fn status(&self) -> Status {
        self.state.status.into()
    }

    /// Null until a valid filing has been assessed.
    async fn lane(&self) -> Option<Lane> {
        self.state.lane.map(Lane::from)
    }

    /// The header as validated; null until a filing passed validation.
    async fn header(&self) -> Option<DeclarationHeader<'_>> {
        self.state
            .data
            .as_ref()
            .map(|d| DeclarationHeader(&d.header))
    }

    /// The goods items as validated, in order; empty until a filing passed validation.
    async fn items(&self) -> Vec<DeclarationItem<'_>> {
        self.state
            .data
            .iter()
            .flat_map(|d| d.items.iter().map(DeclarationItem))
            .collect()
    }

    /// Every error of the latest filing while the declaration stands rejected; empty otherwise.
    async fn errors(&self) -> Vec<ValidationError> {
        self.errors.iter().map(ValidationError::from).collect()
    }

    /// How many filings under this LRN were rejected.
    async fn rejections(&self) -> async_graphql::Result<i32> {
        Ok(to_int(self.state.rejections, "rejections")?)
    }

    /// Duties and taxes of the current version, with every rate used; null until assessed.
    async fn assessment(&self) -> Option<Assessment<'_>> {
        self.state.assessment.as_ref().map(Assessment)
    }

    /// The latest inspection of the current version.
    async fn last_inspection(&self) -> Option<Inspection> {
        self.state.last_inspection.map(|i| Inspection {
            kind: i.kind.into(),
            result: i.result.into(),
        })
    }

    /// Payments received, in the national currency.
    async fn paid(&self) -> Decimal {
        self.state.paid.into()
    }

    /// The references of the payments received.
    async fn payment_references(&self) -> Vec<&str> {
        self.state
            .payment_references
            .iter()
            .map(String::as_str)
            .collect()
    }

    /// Additional tax from post-clearance corrections, in the national currency.
    async fn additional_tax(&self) -> Decimal {
        self.state.additional_tax.into()
    }

    /// Drawback from post-clearance corrections, in the national currency.
    async fn drawback(&self) -> Decimal {
        self.state.drawback.into()
    }

    /// Still to pay: assessed taxes + additional tax − drawback − payments (negative when
    /// overpaid).
    async fn balance(&self) -> Decimal {
        self.state.balance().into()
    }
}

/// An inspection an officer recorded.
#[derive(Debug, Clone, Copy, SimpleObject)]
pub struct Inspection {
    pub kind: InspectionKind,
    pub result: InspectionResult,
}

/// The declaration header as validated. Codes are written as they are filed.
#[derive(Debug)]
pub struct DeclarationHeader<'a>(&'a Header);

/// The declaration header as validated. Codes read as they are filed.
#[Object]
impl DeclarationHeader<'_> {
    /// `import` or `export`.
    async fn declaration_type(&self) -> &'static str {
        self.0.declaration_type.as_str()
    }
    async fn lrn(&self) -> &str {
        self.0.lrn.as_str()
    }
    async fn declarant(&self) -> &str {
        self.0.declarant.as_str()
    }
    async fn importer(&self) -> Option<&str> {
        self.0.importer.as_ref().map(|p| p.as_str())
    }
    async fn exporter(&self) -> Option<&str> {
        self.0.exporter.as_ref().map(|p| p.as_str())
    }
    async fn customs_office(&self) -> &str {
        self.0.customs_office.as_str()
    }
    async fn transport_mode(&self) -> String {
        self.0.transport_mode.to_string()
    }
    async fn dispatch_country(&self) -> &'static str {
        self.0.dispatch_country.as_str()
    }
    async fn incoterm(&self) -> &'static str {
        self.0.incoterm.as_str()
    }
    async fn invoice_currency(&self) -> &'static str {
        self.0.invoice_currency.as_str()
    }
    async fn invoice_amount(&self) -> Decimal {
        self.0.invoice_amount.into()
    }
    async fn freight(&self) -> Option<Decimal> {
        self.0.freight.map(Decimal)
    }
    async fn insurance(&self) -> Option<Decimal> {
        self.0.insurance.map(Decimal)
    }
    /// The day the declaration was filed (customs time zone); the rates in force that day apply.
    async fn filing_date(&self) -> NaiveDate {
        self.0.filing_date
    }
}

/// A goods item as validated.
#[derive(Debug)]
pub struct DeclarationItem<'a>(&'a Item);

/// A goods item as validated.
#[Object]
impl DeclarationItem<'_> {
    async fn hs_code(&self) -> &str {
        self.0.hs_code.as_str()
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn origin_country(&self) -> &'static str {
        self.0.origin_country.as_str()
    }
    async fn preference_claim(&self) -> Option<&str> {
        self.0.preference_claim.as_ref().map(|a| a.as_str())
    }
    async fn quantity(&self) -> Decimal {
        self.0.quantity.into()
    }
    async fn unit(&self) -> &str {
        self.0.unit.as_str()
    }
    async fn net_mass(&self) -> Decimal {
        self.0.net_mass.into()
    }
    async fn gross_mass(&self) -> Option<Decimal> {
        self.0.gross_mass.map(Decimal)
    }
    async fn invoice_value(&self) -> Decimal {
        self.0.invoice_value.into()
    }
}

/// What a declaration command did: where the declaration stands now.
#[derive(Debug)]
pub struct DeclarationResult(pub Declaration);

/// What a declaration command did: where the declaration stands now.
#[Object]
impl DeclarationResult {
    async fn id(&self) -> Uuid {
        self.0.id
    }

    /// The stream version after the command (the number of its events).
    async fn version(&self) -> async_graphql::Result<i32> {
        Ok(to_int(self.0.stream_version, "stream version")?)
    }

    async fn status(&self) -> Status {
        self.0.state.status.into()
    }

    /// Null when the filing was rejected.
    async fn lane(&self) -> Option<Lane> {
        self.0.state.lane.map(Lane::from)
    }

    /// Every error of a rejected filing (empty when it was accepted for processing).
    async fn declarant_errors(&self) -> Vec<ValidationError> {
        self.0.errors.iter().map(ValidationError::from).collect()
    }

    /// The declaration with its assessed duties.
    async fn declaration(&self) -> &Declaration {
        &self.0
    }
}

impl From<Outcome> for DeclarationResult {
    fn from(outcome: Outcome) -> Self {
        Self(outcome.into())
    }
}
