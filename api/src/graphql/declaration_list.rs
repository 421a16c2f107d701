//! `declarations(filter, first, after)`: the list of declarations, read from the `declarations`
//! read model (a projection of the log, so a declaration filed a moment ago may take a moment
//! to appear). Relay-style cursor pages in a stable order: newest filing first.
//!
//! A declarant lists only its own organisation's declarations, whatever the filter says;
//! officers, auditors and admins list all of them. Integrators follow the event feeds instead.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use projections::declarations::{
    DeclarationFilter, DeclarationRow, DeclarationsQuery, PageRequest, QueryError, Scope,
    TariffCodePrefix,
};
use uuid::Uuid;

use crate::auth::{self, Role};
use crate::error::ApiError;
use crate::graphql::declarations::{Lane, Status};
use crate::graphql::scalars::Decimal;

/// Which declarations to list; every condition given must hold.
#[derive(Debug, Default, InputObject)]
pub struct DeclarationFilterInput {
    pub status: Option<Status>,
    pub lane: Option<Lane>,
    /// The declarant organisation (a declarant's own scope applies anyway).
    pub declarant: Option<String>,
    pub office: Option<String>,
    /// Filing date from (inclusive).
    pub filed_from: Option<NaiveDate>,
    /// Filing date to (inclusive).
    pub filed_to: Option<NaiveDate>,
    /// Declarations with at least one item whose 10-digit code starts with these 1-10 digits.
    pub tariff_code_prefix: Option<String>,
}

/// One page of declarations.
#[derive(Debug, SimpleObject)]
pub struct DeclarationConnection {
    pub edges: Vec<DeclarationEdge>,
    pub page_info: PageInfo,
}

#[derive(Debug, SimpleObject)]
pub struct DeclarationEdge {
    /// Pass as `after` to continue after this declaration.
    pub cursor: String,
    pub node: DeclarationSummary,
}

#[derive(Debug, SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

/// A declaration as the list shows it; `declaration(id)` has every detail.
#[derive(Debug, SimpleObject)]
pub struct DeclarationSummary {
    pub id: Uuid,
    pub lrn: Option<String>,
    pub declarant: Option<String>,
    pub declaration_type: Option<String>,
    pub importer: Option<String>,
    pub exporter: Option<String>,
    pub office: Option<String>,
    pub filing_date: Option<NaiveDate>,
    pub status: Status,
    pub lane: Option<Lane>,
    /// Errors of the latest rejected filing (0 once lodged).
    pub error_count: u32,
    pub item_count: u32,
    pub invoice_currency: Option<String>,
    pub invoice_amount: Option<Decimal>,
    pub customs_value: Option<Decimal>,
    pub duty: Option<Decimal>,
    pub vat: Option<Decimal>,
    pub amount_paid: Decimal,
    /// Taxes still due (negative when overpaid).
    pub balance: Decimal,
    pub filed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<DeclarationRow> for DeclarationSummary {
    fn from(row: DeclarationRow) -> Self {
        let balance = Decimal(row.balance());
        Self {
            id: row.id,
            lrn: row.lrn,
            declarant: row.declarant,
            declaration_type: row.declaration_type,
            importer: row.importer,
            exporter: row.exporter,
            office: row.office,
            filing_date: row.filing_date,
            status: row.status.into(),
            lane: row.lane.map(Lane::from),
            error_count: row.error_count,
            item_count: row.item_count,
            invoice_currency: row.invoice_currency,
            invoice_amount: row.invoice_amount.map(Decimal),
            customs_value: row.customs_value.map(Decimal),
            duty: row.duty.map(Decimal),
            vat: row.vat.map(Decimal),
            amount_paid: Decimal(row.amount_paid),
            balance,
            filed_at: row.filed_at,
            updated_at: row.updated_at,
        }
    }
}

/// What a principal may list from a read model: a declarant its organisation's rows; officers,
/// auditors and admins every row; others nothing (`FORBIDDEN`).
pub(crate) fn list_scope(principal: &crate::auth::Principal) -> Result<Scope, ApiError> {
    match (principal.role(), principal.organisation()) {
        (Role::Declarant, Some(org)) => Ok(Scope::Organisation(org.to_owned())),
        (Role::Officer | Role::Auditor | Role::Admin, _) => Ok(Scope::All),
        (role, _) => Err(ApiError::Forbidden { role }),
    }
}

#[derive(Debug, Default)]
pub struct DeclarationListQuery;

#[Object]
impl DeclarationListQuery {
    /// Declarations, newest filing first, `first` (1-100) at a time after the cursor `after`.
    async fn declarations(
        &self,
        ctx: &Context<'_>,
        filter: Option<DeclarationFilterInput>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> Result<DeclarationConnection, ApiError> {
        let principal = auth::principal(ctx)?;
        let scope = list_scope(principal)?;
        let query = ctx.data::<DeclarationsQuery>().map_err(|_| {
            ApiError::Internal("the declarations read model is not configured".into())
        })?;
        let filter = filter.unwrap_or_default();
        let tariff_code_prefix = filter
            .tariff_code_prefix
            .as_deref()
            .map(TariffCodePrefix::parse)
            .transpose()
            .map_err(|e| invalid("filter.tariffCodePrefix", e))?;
        let filter = DeclarationFilter {
            status: filter.status.map(Into::into),
            lane: filter.lane.map(Into::into),
            declarant: filter.declarant,
            office: filter.office,
            filing_date_from: filter.filed_from,
            filing_date_to: filter.filed_to,
            tariff_code_prefix,
        };
        let page = PageRequest {
            first: u32::try_from(first).unwrap_or(0),
            after,
        };
        let page = query
            .list(&scope, &filter, &page)
            .await
            .map_err(|e| match e {
                QueryError::InvalidPageSize(_) => invalid("first", e),
                QueryError::InvalidCursor => invalid("after", e),
                QueryError::InvalidTariffCodePrefix(_) => invalid("filter.tariffCodePrefix", e),
                other => ApiError::Internal(other.to_string()),
            })?;
        Ok(DeclarationConnection {
            edges: page
                .rows
                .into_iter()
                .map(|row| DeclarationEdge {
                    cursor: row.cursor(),
                    node: row.into(),
                })
                .collect(),
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                end_cursor: page.end_cursor,
            },
        })
    }
}

fn invalid(field: &'static str, error: QueryError) -> ApiError {
    ApiError::InvalidArgument {
        code: "INVALID_ARGUMENT",
        field,
        message: error.to_string(),
    }
}
