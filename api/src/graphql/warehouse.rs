//! The Customs Data Warehouse over GraphQL: `cube(query)` (roll-up, drill-down, slice, dice,
//! pivot, top-N; see `projections::warehouse::cube` and docs/warehouse.md), every result also
//! as CSV (`csv`), and saved analyses (`analyses`, `analysis(name)`, `saveAnalysis`,
//! `deleteAnalysis`) that analysts re-run by name.
//!
//! Who: analysts, officers, auditors and admins; never declarants (the warehouse holds every
//! trader's figures) nor integrators (they follow event feeds). A refused query answers its
//! code (`INVALID_MEMBER`, `CUBE_TOO_LARGE`, ...) and the input field at fault
//! (`query.filters[0].members[2]`) in `extensions`.

use async_graphql::{Context, Enum, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use commands::analysis::AnalysisService;
use domain::analysis::Analysis;
use projections::analyses::AnalysesQuery;
use projections::warehouse::{self as wh, Cube};
use uuid::Uuid;

use crate::auth::{self, RequireRole, Role};
use crate::error::ApiError;
use crate::graphql::scalars::Decimal;

mod csv;

pub use csv::cube_csv;

/// Who may read the warehouse and its saved analyses.
pub const WAREHOUSE_READERS: &[Role] = &[Role::Analyst, Role::Officer, Role::Auditor, Role::Admin];

/// What a cube measures. Sums are exact; averages and ratios are computed from the sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "projections::warehouse::Measure")]
pub enum Measure {
    /// Sum of customs values, in national currency.
    CustomsValue,
    Duty,
    Vat,
    /// Tax added by post-clearance corrections.
    AdditionalTax,
    /// Tax refunded by post-clearance corrections.
    Drawback,
    /// Duty + VAT + additional tax − drawback.
    TotalTaxes,
    /// Invoice value converted at the assessment's exchange rate.
    InvoiceValue,
    /// Kilograms.
    NetMass,
    Quantity,
    /// Number of goods items.
    Items,
    /// Customs value / items, to 0.01.
    AverageCustomsValue,
    /// Duty / customs value, a fraction to 6 decimals (0.08 = 8 %).
    EffectiveDutyRate,
    /// Customs value / net mass: value per kilogram, to 0.01.
    UnitValue,
}

/// A level of a dimension; members are written as codes (shown after each level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "projections::warehouse::Level")]
pub enum Level {
    /// Acceptance day, `2020-03-15`.
    Day,
    /// ISO week, `2020-W11`.
    Week,
    /// `2020-03`.
    Month,
    /// `2020-Q1`.
    Quarter,
    /// `2020`.
    Year,
    /// HS section, a Roman numeral `I` … `XXI`.
    HsSection,
    /// HS chapter, `84`.
    HsChapter,
    /// HS heading, `8471`.
    HsHeading,
    /// HS subheading, `847130`.
    HsSubheading,
    /// National tariff line, `8471300000`.
    HsLine,
    /// Country of origin, ISO 3166-1 alpha-2 (`CN`).
    Origin,
    /// Continent of the origin: `AF`, `AN`, `AS`, `EU`, `NA`, `OC`, `SA`.
    OriginRegion,
    /// Country of dispatch (imports) or export (exports), alpha-2.
    Dispatch,
    /// The importer, or the exporter of an export.
    Trader,
    Declarant,
    /// The customs office.
    Office,
    /// Mode of transport at the border (`1`, `4`, `10`, `40`).
    TransportMode,
    /// `green`, `yellow`, `red`.
    Lane,
    /// `import`, `export`.
    Regime,
    /// The preference applied (an agreement code such as `FCN1`), or `none`.
    Preference,
    /// `none`, `additionalTax`, `drawback`, `additionalTaxAndDrawback`.
    AuditOutcome,
}

/// What a row or column of the result is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "projections::warehouse::HeaderKind")]
pub enum HeaderKind {
    /// A member at the axis's finest level.
    Member,
    /// The subtotal of the members under a shorter path.
    Subtotal,
    /// The members top-N left out, summed.
    Others,
    /// The grand total of the axis.
    Total,
}

/// Keeps the facts whose `level` is one of `members` and/or within `from`..=`to` (codes).
/// One member is a slice; several filters, sets and ranges are a dice.
#[derive(Debug, Clone, InputObject)]
pub struct MemberFilterInput {
    pub level: Level,
    #[graphql(default)]
    pub members: Vec<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Opens `member` of `level` into the next level of its hierarchy (a chapter into its
/// headings, a year into its quarters).
#[derive(Debug, Clone, InputObject)]
pub struct DrillInput {
    pub level: Level,
    pub member: String,
}

/// Keeps the first row level's `n` (1–1000) largest members by `by`; the rest is summed as
/// one "others" row.
#[derive(Debug, Clone, Copy, InputObject)]
pub struct TopInput {
    pub n: i32,
    pub by: Measure,
}

/// Orders rows among their siblings by a measure (by member code when `by` is null).
#[derive(Debug, Clone, Copy, InputObject)]
pub struct OrderInput {
    pub by: Option<Measure>,
    #[graphql(default)]
    pub descending: bool,
}

/// A cube query: measures, the levels on the rows and on the columns (a pivot), filters, an
/// optional drill-down and top-N, and the instant to answer as of.
#[derive(Debug, Clone, InputObject)]
pub struct CubeInput {
    pub measures: Vec<Measure>,
    #[graphql(default)]
    pub rows: Vec<Level>,
    #[graphql(default)]
    pub columns: Vec<Level>,
    #[graphql(default)]
    pub filters: Vec<MemberFilterInput>,
    pub drill: Option<DrillInput>,
    pub top: Option<TopInput>,
    pub order: Option<OrderInput>,
    /// Subtotals at every intermediate level (the grand totals are always there).
    #[graphql(default = true)]
    pub subtotals: bool,
    /// Answer as the warehouse stood at this instant: later acceptances and corrections left
    /// out. Null: now.
    pub as_of: Option<DateTime<Utc>>,
}

impl From<CubeInput> for wh::CubeQuery {
    fn from(input: CubeInput) -> Self {
        Self {
            measures: input.measures.into_iter().map(Into::into).collect(),
            rows: input.rows.into_iter().map(Into::into).collect(),
            columns: input.columns.into_iter().map(Into::into).collect(),
            filters: input
                .filters
                .into_iter()
                .map(|f| wh::MemberFilter {
                    level: Some(f.level.into()),
                    members: f.members,
                    from: f.from,
                    to: f.to,
                })
                .collect(),
            drill: input.drill.map(|d| wh::Drill {
                level: d.level.into(),
                member: d.member,
            }),
            // A negative n is out of range like zero: the warehouse refuses it with its field.
            top: input.top.map(|t| wh::Top {
                n: u32::try_from(t.n).unwrap_or(0),
                by: t.by.into(),
            }),
            order: input
                .order
                .map(|o| wh::Order {
                    by: o.by.map(Into::into),
                    descending: o.descending,
                })
                .unwrap_or_default(),
            subtotals: input.subtotals,
            as_of: input.as_of,
        }
    }
}

/// A member on a row or column header.
#[derive(Debug, Clone, SimpleObject)]
pub struct CubeMember {
    pub level: Level,
    /// The member's code (`2020-03`, `84`, `CN`); null for "others".
    pub code: Option<String>,
    /// What to show: a country's or chapter's name, a month's, the code itself otherwise.
    pub label: String,
}

/// A row or column of the pivot: its members from the outermost level in (fewer for a
/// subtotal, none for the grand total).
#[derive(Debug, Clone, SimpleObject)]
pub struct CubeHeader {
    pub kind: HeaderKind,
    pub members: Vec<CubeMember>,
}

/// A non-empty cell: the values of the query's measures in their order (null where a ratio
/// has no denominator).
#[derive(Debug, Clone, SimpleObject)]
pub struct CubeCell {
    /// Index into `rows`.
    pub row: i32,
    /// Index into `columns`.
    pub column: i32,
    pub values: Vec<Option<Decimal>>,
}

/// A pivot-ready answer: headers in display order (each subtotal after its members, the grand
/// total last) and the non-empty cells.
#[derive(Debug)]
pub struct CubeResult(pub wh::CubeResult);

#[Object]
impl CubeResult {
    async fn measures(&self) -> Vec<Measure> {
        self.0.measures.iter().copied().map(Into::into).collect()
    }

    async fn row_levels(&self) -> Vec<Level> {
        self.0.rows_levels.iter().copied().map(Into::into).collect()
    }

    async fn column_levels(&self) -> Vec<Level> {
        self.0
            .column_levels
            .iter()
            .copied()
            .map(Into::into)
            .collect()
    }

    async fn rows(&self) -> Vec<CubeHeader> {
        self.0.rows.iter().map(header).collect()
    }

    async fn columns(&self) -> Vec<CubeHeader> {
        self.0.columns.iter().map(header).collect()
    }

    async fn cells(&self) -> Vec<CubeCell> {
        self.0
            .cells
            .iter()
            .map(|cell| CubeCell {
                row: index(cell.row),
                column: index(cell.column),
                values: cell.values.iter().map(|v| v.map(Decimal)).collect(),
            })
            .collect()
    }

    /// The instant answered as of; null for now.
    async fn as_of(&self) -> Option<DateTime<Utc>> {
        self.0.as_of
    }

    /// The result as CSV (RFC 4180, a header line first): one line per row header, its kind,
    /// the code and label of each row level, then one column per column header and measure.
    async fn csv(&self) -> String {
        cube_csv(&self.0)
    }
}

fn header(header: &wh::Header) -> CubeHeader {
    CubeHeader {
        kind: header.kind.into(),
        members: header
            .members
            .iter()
            .map(|m| CubeMember {
                level: m.level.into(),
                code: m.code.clone(),
                label: m.label.clone(),
            })
            .collect(),
    }
}

/// A header index as a GraphQL Int: results hold far fewer than 2³¹ headers
/// ([`wh::MAX_GROUPS`] groups at most).
fn index(i: usize) -> i32 {
    i32::try_from(i).unwrap_or(i32::MAX)
}

/// A saved analysis: a named cube query to re-run.
#[derive(Debug)]
pub struct SavedAnalysis(pub Analysis);

#[Object(name = "Analysis")]
impl SavedAnalysis {
    async fn id(&self) -> Uuid {
        self.0.id
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// The actor who owns it (only it or an admin changes or deletes it).
    async fn owner(&self) -> &str {
        &self.0.owner
    }

    async fn saved_at(&self) -> DateTime<Utc> {
        self.0.saved_at
    }

    /// 1 when first saved, one more at every save that changed it.
    async fn revision(&self) -> u32 {
        self.0.revision
    }

    /// The saved query, as JSON in the shape of `CubeInput` with measures and levels in
    /// camelCase (`customsValue`, `hsChapter`).
    async fn query(&self) -> Json<serde_json::Value> {
        Json(self.0.query.clone())
    }

    /// Runs the saved query now, or as of `asOf` when given (instead of the saved one).
    async fn result(
        &self,
        ctx: &Context<'_>,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<CubeResult, ApiError> {
        let mut query: wh::CubeQuery =
            serde_json::from_value(self.0.query.clone()).map_err(|e| {
                ApiError::Internal(format!("saved analysis {} unreadable: {e}", self.0.id))
            })?;
        if as_of.is_some() {
            query.as_of = as_of;
        }
        run(ctx, &query).await
    }
}

async fn run(ctx: &Context<'_>, query: &wh::CubeQuery) -> Result<CubeResult, ApiError> {
    let cube = ctx
        .data::<Cube>()
        .map_err(|_| ApiError::Internal("the warehouse read model is not configured".into()))?;
    cube.run(query)
        .await
        .map(CubeResult)
        .map_err(ApiError::Cube)
}

#[derive(Debug, Default)]
pub struct WarehouseQuery;

#[Object]
impl WarehouseQuery {
    /// Aggregates of the accepted declarations' goods items: measures by the levels on the
    /// rows and columns, with subtotals and grand totals, filtered, drilled, cut to top-N.
    #[graphql(guard = "RequireRole(WAREHOUSE_READERS)")]
    async fn cube(&self, ctx: &Context<'_>, query: CubeInput) -> Result<CubeResult, ApiError> {
        run(ctx, &query.into()).await
    }

    /// Every saved analysis, by name (at most 1000). Lists from a read model: one saved a
    /// moment ago may take a moment to appear; `analysis(name)` finds it at once.
    #[graphql(guard = "RequireRole(WAREHOUSE_READERS)")]
    async fn analyses(&self, ctx: &Context<'_>) -> Result<Vec<SavedAnalysis>, ApiError> {
        let list = ctx
            .data::<AnalysesQuery>()
            .map_err(|_| ApiError::Internal("the analyses read model is not configured".into()))?;
        let analyses = list
            .list()
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(analyses.into_iter().map(SavedAnalysis).collect())
    }

    /// The saved analysis of this name (case ignored), or null.
    #[graphql(guard = "RequireRole(WAREHOUSE_READERS)")]
    async fn analysis(
        &self,
        ctx: &Context<'_>,
        name: String,
    ) -> Result<Option<SavedAnalysis>, ApiError> {
        let service = ctx.data_unchecked::<AnalysisService>();
        let found = service.get(&name).await.map_err(ApiError::from)?;
        Ok(found.map(SavedAnalysis))
    }
}

#[derive(Debug, Default)]
pub struct WarehouseMutation;

#[Object]
impl WarehouseMutation {
    /// Saves `query` under `name` (1–100 characters, case ignored): a new analysis, or a new
    /// revision of one the caller owns (an admin may revise any). The query is checked as
    /// `cube` would check it; saving exactly what is saved changes nothing.
    #[graphql(guard = "RequireRole(WAREHOUSE_READERS)")]
    async fn save_analysis(
        &self,
        ctx: &Context<'_>,
        name: String,
        description: Option<String>,
        query: CubeInput,
    ) -> Result<SavedAnalysis, ApiError> {
        let principal = auth::principal(ctx)?;
        let query: wh::CubeQuery = query.into();
        query.validate().map_err(ApiError::Cube)?;
        let json = serde_json::to_value(&query)
            .map_err(|e| ApiError::Internal(format!("cube query to JSON: {e}")))?;
        let service = ctx.data_unchecked::<AnalysisService>();
        let saved = service
            .save(&principal.caller(), &name, description.as_deref(), json)
            .await?;
        Ok(SavedAnalysis(saved))
    }

    /// Deletes the analysis `name` (its owner or an admin); true once deleted.
    #[graphql(guard = "RequireRole(WAREHOUSE_READERS)")]
    async fn delete_analysis(&self, ctx: &Context<'_>, name: String) -> Result<bool, ApiError> {
        let principal = auth::principal(ctx)?;
        let service = ctx.data_unchecked::<AnalysisService>();
        service.delete(&principal.caller(), &name).await?;
        Ok(true)
    }
}
