//! Queries on the `declarations` read model: one declaration by id, and filtered lists in a
//! stable order (`filed_at` descending, then id descending) paged by opaque keyset cursors.
//!
//! Every query takes a [`Scope`]: a declarant's caller passes its organisation and sees only
//! its own declarations, whatever the filter says; there is no query without one.

use chrono::NaiveDate;
use domain::declaration::Status;
use domain::risk::Lane;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyPool};
use uuid::Uuid;

use super::row::{DeclarationRow, ItemRow};
use super::sql::{self, COLUMNS};
use crate::read_models::ReadModels;
use crate::stored;

/// The most rows one page may ask for.
pub const MAX_PAGE_SIZE: u32 = 100;

/// Whose declarations a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every declaration: officers, auditors, admins.
    All,
    /// Only the declarations this organisation owns (their declarant): a declarant's caller.
    Organisation(String),
}

/// A tariff code prefix: 1 to 10 digits (`84`, `8471`, `8471300000`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TariffCodePrefix(String);

impl TariffCodePrefix {
    pub fn parse(prefix: &str) -> Result<Self, QueryError> {
        if (1..=10).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(prefix.to_owned()))
        } else {
            Err(QueryError::InvalidTariffCodePrefix(prefix.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which declarations to list; every field given narrows the list (all must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclarationFilter {
    pub status: Option<Status>,
    pub lane: Option<Lane>,
    /// The owning organisation. Within [`Scope::Organisation`] another one matches nothing.
    pub declarant: Option<String>,
    pub office: Option<String>,
    /// Filing dates from and to, both inclusive. Rejected filings have no filing date, so a
    /// date bound leaves them out.
    pub filing_date_from: Option<NaiveDate>,
    pub filing_date_to: Option<NaiveDate>,
    /// At least one item's tariff code starts with this prefix.
    pub tariff_code_prefix: Option<TariffCodePrefix>,
}

/// Which page: `first` rows (1 to [`MAX_PAGE_SIZE`]) after the row whose cursor is `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub first: u32,
    pub after: Option<String>,
}

/// A page of declarations in list order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub rows: Vec<DeclarationRow>,
    /// Whether rows follow the last one of this page.
    pub has_next_page: bool,
    /// The cursor of the last row; `None` when the page is empty.
    pub end_cursor: Option<String>,
}

/// A query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("first must be between 1 and {MAX_PAGE_SIZE}, not {0}")]
    InvalidPageSize(u32),
    #[error("the cursor is not one this list returned")]
    InvalidCursor,
    #[error("a tariff code prefix is 1 to 10 digits, not {0:?}")]
    InvalidTariffCodePrefix(String),
    #[error("read-model database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored row that does not read back: a bug or a tampered read model.
    #[error("stored declaration row is unreadable: {0}")]
    Corrupt(String),
}

impl DeclarationRow {
    /// This row's place in the list order, as an opaque cursor: URL-safe base64 of
    /// `<filed_at>|<id>`.
    pub fn cursor(&self) -> String {
        stored::encode_cursor(self.filed_at, self.id)
    }
}

/// SQL text with its parameters, numbered as they are added.
#[derive(Default)]
struct Statement {
    conditions: Vec<String>,
    binds: Vec<Bind>,
}

enum Bind {
    Text(String),
    Integer(i64),
}

impl Statement {
    /// Adds a parameter and returns its placeholder.
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    fn text(&mut self, value: impl Into<String>) -> String {
        self.bind(Bind::Text(value.into()))
    }

    /// Adds `condition`, in which `{}` stands for a new text parameter.
    fn require(&mut self, condition: &str, value: impl Into<String>) {
        let placeholder = self.text(value);
        self.conditions.push(condition.replace("{}", &placeholder));
    }

    fn scope(&mut self, scope: &Scope) {
        if let Scope::Organisation(organisation) = scope {
            self.require("d.declarant = {}", organisation.as_str());
        }
    }

    fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }

    fn query(self, sql: String) -> Query<'static, Any, AnyArguments> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for bind in self.binds {
            query = match bind {
                Bind::Text(text) => query.bind(text),
                Bind::Integer(n) => query.bind(n),
            };
        }
        query
    }
}

/// The queries of the `declarations` read model.
#[derive(Debug, Clone)]
pub struct DeclarationsQuery {
    models: ReadModels,
}

impl DeclarationsQuery {
    pub fn new(models: ReadModels) -> Self {
        Self { models }
    }

    fn pool(&self) -> &AnyPool {
        self.models.pool()
    }

    /// One declaration, or `None` when there is none with this id in `scope` (a declarant
    /// cannot tell another organisation's declaration from a missing one).
    pub async fn get(&self, scope: &Scope, id: Uuid) -> Result<Option<DeclarationRow>, QueryError> {
        let mut statement = Statement::default();
        statement.require("d.id = {}", id.to_string());
        statement.scope(scope);
        let sql = format!(
            "SELECT {} FROM declarations d{}",
            qualified(COLUMNS),
            statement.where_clause()
        );
        let row = statement.query(sql).fetch_optional(self.pool()).await?;
        row.as_ref()
            .map(sql::decode_row)
            .transpose()
            .map_err(QueryError::Corrupt)
    }

    /// The item lines of a declaration's current version, by line number; empty when there is
    /// no such declaration in `scope`.
    pub async fn items(&self, scope: &Scope, id: Uuid) -> Result<Vec<ItemRow>, QueryError> {
        let mut statement = Statement::default();
        statement.require("i.declaration_id = {}", id.to_string());
        statement.scope(scope);
        let sql = format!(
            "SELECT i.line, i.hs_code, i.origin, i.customs_value, i.duty, i.vat \
             FROM declaration_items i JOIN declarations d ON d.id = i.declaration_id{} \
             ORDER BY i.line",
            statement.where_clause()
        );
        let rows = statement.query(sql).fetch_all(self.pool()).await?;
        rows.iter()
            .map(sql::decode_item)
            .collect::<Result<_, _>>()
            .map_err(QueryError::Corrupt)
    }

    /// A page of the declarations in `scope` that match `filter`, newest filing first (ties by
    /// id, descending). Paging with each page's `end_cursor` visits every matching row once.
    pub async fn list(
        &self,
        scope: &Scope,
        filter: &DeclarationFilter,
        page: &PageRequest,
    ) -> Result<Page, QueryError> {
        if !(1..=MAX_PAGE_SIZE).contains(&page.first) {
            return Err(QueryError::InvalidPageSize(page.first));
        }
        let after = page
            .after
            .as_deref()
            .map(|c| stored::decode_cursor(c).ok_or(QueryError::InvalidCursor))
            .transpose()?;
        let mut statement = Statement::default();
        statement.scope(scope);
        if let Some(status) = filter.status {
            statement.require("d.status = {}", sql::status_text(status));
        }
        if let Some(lane) = filter.lane {
            statement.require("d.lane = {}", sql::lane_text(lane));
        }
        if let Some(declarant) = &filter.declarant {
            statement.require("d.declarant = {}", declarant.as_str());
        }
        if let Some(office) = &filter.office {
            statement.require("d.office = {}", office.as_str());
        }
        if let Some(from) = filter.filing_date_from {
            statement.require("d.filing_date >= {}", sql::format_date(from));
        }
        if let Some(to) = filter.filing_date_to {
            statement.require("d.filing_date <= {}", sql::format_date(to));
        }
        if let Some(prefix) = &filter.tariff_code_prefix {
            // Tariff codes are digits: those starting with the prefix sort from the prefix up
            // to, not including, the prefix followed by ':' (the byte after '9').
            let low = statement.text(prefix.as_str());
            let high = statement.text(format!("{}:", prefix.as_str()));
            statement.conditions.push(format!(
                "d.id IN (SELECT declaration_id FROM declaration_items \
                 WHERE hs_code >= {low} AND hs_code < {high})"
            ));
        }
        if let Some((filed_at, id)) = after {
            let filed_at = statement.text(filed_at);
            let id = statement.text(id);
            statement
                .conditions
                .push(format!("(d.filed_at, d.id) < ({filed_at}, {id})"));
        }
        let limit = statement.bind(Bind::Integer(i64::from(page.first) + 1));
        let sql = format!(
            "SELECT {} FROM declarations d{} ORDER BY d.filed_at DESC, d.id DESC LIMIT {limit}",
            qualified(COLUMNS),
            statement.where_clause()
        );
        let fetched = statement.query(sql).fetch_all(self.pool()).await?;
        let mut rows = fetched
            .iter()
            .map(sql::decode_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(QueryError::Corrupt)?;
        let has_next_page = rows.len() > page.first as usize;
        rows.truncate(page.first as usize);
        let end_cursor = rows.last().map(DeclarationRow::cursor);
        Ok(Page {
            rows,
            has_next_page,
            end_cursor,
        })
    }
}

/// `a, b` → `d.a, d.b`.
fn qualified(columns: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("d.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}
