//! OLAP over the warehouse: one query shape, [`CubeQuery`], for roll-up (subtotals and a grand
//! total at every level of both axes), drill-down (a member of a level opened into the next
//! level of its hierarchy), slice and dice (member filters: one member, sets, ranges), pivot
//! (row levels × column levels) and top-N with the rest as "others".
//!
//! The database does the heavy part: one `GROUP BY` over the facts at the finest grain asked
//! for, with exact integer sums. The grid that comes back (at most [`MAX_GROUPS`] groups) is
//! rolled up here, in 128-bit integers, into subtotals and totals; derived measures (averages,
//! ratios) are computed from the rolled-up sums, never averaged averages.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use domain::Decimal;
use rust_decimal::RoundingStrategy;
use serde::{Deserialize, Serialize};
use sqlx::{AnyPool, Row};

use super::FACTS;
use super::fact::{MASS_SCALE, MONEY_SCALE, micros, unscaled};
use super::level::{Key, Level};
use super::rollup::{self, ROLLUP};
use crate::read_models::ReadModels;

/// The most groups a query may produce at its finest grain; past it the query is refused with
/// `CUBE_TOO_LARGE` (use a coarser level, a filter or top-N).
pub const MAX_GROUPS: usize = 200_000;
/// The most levels on one axis.
pub const MAX_LEVELS_PER_AXIS: usize = 4;
/// The most filters, and members in one filter.
pub const MAX_FILTERS: usize = 20;
pub const MAX_MEMBERS: usize = 1000;
/// The largest N of top-N.
pub const MAX_TOP: u32 = 1000;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Measure {
    /// Sum of customs values (national currency).
    CustomsValue,
    Duty,
    Vat,
    /// Post-clearance corrections: tax added, and refunded.
    AdditionalTax,
    Drawback,
    /// Duty + VAT + additional tax − drawback.
    TotalTaxes,
    /// Invoice value converted at the assessment's exchange rate.
    InvoiceValue,
    /// Kilograms.
    NetMass,
    Quantity,
    /// Number of items (facts).
    Items,
    /// Customs value / items, to 0.01.
    AverageCustomsValue,
    /// Duty / customs value, a fraction to 6 decimals (0.08 = 8 %).
    EffectiveDutyRate,
    /// Customs value / net mass: value per kilogram, to 0.01.
    UnitValue,
}

/// The stored sums a measure needs: indexes into [`BASES`].
const BASES: [&str; 8] = [
    "customs_value",
    "duty",
    "vat",
    "additional_tax",
    "drawback",
    "invoice_value",
    "net_mass",
    "quantity",
];
const CV: usize = 0;
const DUTY: usize = 1;
const VAT: usize = 2;
const ADD: usize = 3;
const BACK: usize = 4;
const INVOICE: usize = 5;
const MASS: usize = 6;
const QUANTITY: usize = 7;

/// Rolled-up sums of one group: the eight stored measures and the count of facts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Sums {
    bases: [i128; 8],
    items: i128,
}

impl Sums {
    fn add(&mut self, other: &Sums) {
        for (a, b) in self.bases.iter_mut().zip(other.bases) {
            *a += b;
        }
        self.items += other.items;
    }
}

impl Measure {
    pub const ALL: [Measure; 13] = [
        Measure::CustomsValue,
        Measure::Duty,
        Measure::Vat,
        Measure::AdditionalTax,
        Measure::Drawback,
        Measure::TotalTaxes,
        Measure::InvoiceValue,
        Measure::NetMass,
        Measure::Quantity,
        Measure::Items,
        Measure::AverageCustomsValue,
        Measure::EffectiveDutyRate,
        Measure::UnitValue,
    ];

    fn bases(self) -> &'static [usize] {
        use Measure::*;
        match self {
            CustomsValue | AverageCustomsValue => &[CV],
            Duty => &[DUTY],
            Vat => &[VAT],
            AdditionalTax => &[ADD],
            Drawback => &[BACK],
            TotalTaxes => &[DUTY, VAT, ADD, BACK],
            InvoiceValue => &[INVOICE],
            NetMass => &[MASS],
            Quantity => &[QUANTITY],
            Items => &[],
            EffectiveDutyRate => &[DUTY, CV],
            UnitValue => &[CV, MASS],
        }
    }

    /// The measure's value for `sums`; `None` where a ratio's denominator is zero.
    fn value(self, sums: &Sums) -> Option<Decimal> {
        use Measure::*;
        let money = |i: usize| unscaled(sums.bases[i], MONEY_SCALE);
        let mass = |i: usize| unscaled(sums.bases[i], MASS_SCALE);
        let ratio = |n: Decimal, d: Decimal, places: u32| {
            (!d.is_zero()).then(|| {
                n.checked_div(d)
                    .unwrap_or(Decimal::MAX)
                    .round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero)
            })
        };
        let value = match self {
            CustomsValue => money(CV),
            Duty => money(DUTY),
            Vat => money(VAT),
            AdditionalTax => money(ADD),
            Drawback => money(BACK),
            TotalTaxes => unscaled(
                sums.bases[DUTY] + sums.bases[VAT] + sums.bases[ADD] - sums.bases[BACK],
                MONEY_SCALE,
            ),
            InvoiceValue => money(INVOICE),
            NetMass => mass(MASS),
            Quantity => mass(QUANTITY),
            Items => Decimal::from_i128_with_scale(sums.items, 0),
            AverageCustomsValue => {
                return ratio(money(CV), Decimal::from_i128_with_scale(sums.items, 0), 2);
            }
            EffectiveDutyRate => return ratio(money(DUTY), money(CV), 6),
            UnitValue => return ratio(money(CV), mass(MASS), 2),
        };
        Some(value.normalize())
    }

    /// The name in the API (`customsValue`).
    pub fn name(self) -> &'static str {
        use Measure::*;
        match self {
            CustomsValue => "customsValue",
            Duty => "duty",
            Vat => "vat",
            AdditionalTax => "additionalTax",
            Drawback => "drawback",
            TotalTaxes => "totalTaxes",
            InvoiceValue => "invoiceValue",
            NetMass => "netMass",
            Quantity => "quantity",
            Items => "items",
            AverageCustomsValue => "averageCustomsValue",
            EffectiveDutyRate => "effectiveDutyRate",
            UnitValue => "unitValue",
        }
    }
}

/// Keeps the facts whose `level` is one of `members` and/or within `from..=to` (member codes;
/// dates compare as dates, codes as text).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberFilter {
    pub level: Option<Level>,
    #[serde(default)]
    pub members: Vec<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Opens one member into the next level of its hierarchy: filters to the member and replaces
/// its level on the axis that shows it by the finer one (on the rows when no axis does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Drill {
    pub level: Level,
    pub member: String,
}

/// Keeps the first row level's `n` largest members by `by`, the rest summed as "others".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Top {
    pub n: u32,
    pub by: Measure,
}

/// How rows are ordered among their siblings: by member code (the default), or by a measure's
/// total for the row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub by: Option<Measure>,
    #[serde(default)]
    pub descending: bool,
}

/// A cube query. Rows and columns are the levels of the pivot; none gives the grand total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CubeQuery {
    pub measures: Vec<Measure>,
    #[serde(default)]
    pub rows: Vec<Level>,
    #[serde(default)]
    pub columns: Vec<Level>,
    #[serde(default)]
    pub filters: Vec<MemberFilter>,
    pub drill: Option<Drill>,
    pub top: Option<Top>,
    #[serde(default)]
    pub order: Order,
    /// Subtotals at each intermediate level of an axis (the grand total is always there).
    #[serde(default = "yes")]
    pub subtotals: bool,
    /// Answer as the warehouse stood at this instant (corrections after it not applied,
    /// declarations accepted after it absent); `None`: now.
    pub as_of: Option<DateTime<Utc>>,
}

fn yes() -> bool {
    true
}

impl CubeQuery {
    /// Checks the query as [`Cube::run`] would, without reading anything: the same refusal,
    /// code and field. Saved analyses are checked so before they are saved.
    pub fn validate(&self) -> Result<(), CubeError> {
        self.plan().map(|_| ())
    }

    pub fn new(measures: Vec<Measure>) -> Self {
        Self {
            measures,
            rows: Vec::new(),
            columns: Vec::new(),
            filters: Vec::new(),
            drill: None,
            top: None,
            order: Order::default(),
            subtotals: true,
            as_of: None,
        }
    }
}

/// A member on a header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub level: Level,
    /// The code (`2020-03`, `84`); `null` for "others".
    pub code: Option<String>,
    pub label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
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

/// A row or column of the pivot: its members from the outermost level in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    pub kind: HeaderKind,
    pub members: Vec<Member>,
}

/// A non-empty cell: the values of the query's measures, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cell {
    pub row: usize,
    pub column: usize,
    pub values: Vec<Option<Decimal>>,
}

/// The answer: headers in display order (each subtotal after its members, the total last)
/// and the non-empty cells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CubeResult {
    pub measures: Vec<Measure>,
    pub rows_levels: Vec<Level>,
    pub column_levels: Vec<Level>,
    pub rows: Vec<Header>,
    pub columns: Vec<Header>,
    pub cells: Vec<Cell>,
    pub as_of: Option<DateTime<Utc>>,
}

impl CubeResult {
    /// The values of the cell at (`row`, `column`), if it has any.
    pub fn cell(&self, row: usize, column: usize) -> Option<&[Option<Decimal>]> {
        self.cells
            .iter()
            .find(|c| c.row == row && c.column == column)
            .map(|c| c.values.as_slice())
    }

    /// The grand total's values (the last row and column).
    pub fn grand_total(&self) -> Option<&[Option<Decimal>]> {
        self.cell(
            self.rows.len().checked_sub(1)?,
            self.columns.len().checked_sub(1)?,
        )
    }
}

/// Why a cube query is refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CubeError {
    /// The query is not valid: a stable code and the field it concerns (`rows[1]`,
    /// `filters[0].members[2]`).
    #[error("{message}")]
    Invalid {
        code: &'static str,
        field: String,
        message: String,
    },
    #[error(
        "the query produces more than {MAX_GROUPS} groups at its finest grain: use coarser \
         levels, filters or top"
    )]
    TooLarge,
    #[error("a sum exceeds what the database can add up exactly")]
    Overflow,
    #[error("read-model database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("a stored value does not read back: {0}")]
    Corrupt(String),
}

impl CubeError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. } => code,
            Self::TooLarge => "CUBE_TOO_LARGE",
            Self::Overflow => "CUBE_OVERFLOW",
            Self::Database(_) | Self::Corrupt(_) => "READ_MODEL_UNAVAILABLE",
        }
    }

    /// The input field it concerns, for an invalid query.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }

    fn invalid(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A condition on one level: member set and/or range, as stored keys.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    level: Level,
    members: Vec<Key>,
    from: Option<Key>,
    to: Option<Key>,
}

/// A query checked and with its drill applied.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    measures: Vec<Measure>,
    rows: Vec<Level>,
    columns: Vec<Level>,
    conditions: Vec<Condition>,
    bases: Vec<usize>,
    top: Option<Top>,
    order: Order,
    subtotals: bool,
    as_of: Option<DateTime<Utc>>,
}

impl CubeQuery {
    /// Checks the query and applies its drill.
    fn plan(&self) -> Result<Plan, CubeError> {
        if self.measures.is_empty() {
            return Err(CubeError::invalid(
                "NO_MEASURES",
                "measures",
                "name at least one measure",
            ));
        }
        if self.measures.len() > Measure::ALL.len() {
            return Err(CubeError::invalid(
                "TOO_MANY_MEASURES",
                "measures",
                format!("at most {} measures", Measure::ALL.len()),
            ));
        }
        let mut rows = self.rows.clone();
        let mut columns = self.columns.clone();
        let mut conditions = Vec::new();
        if self.filters.len() > MAX_FILTERS {
            return Err(CubeError::invalid(
                "TOO_MANY_FILTERS",
                "filters",
                format!("at most {MAX_FILTERS} filters"),
            ));
        }
        for (i, filter) in self.filters.iter().enumerate() {
            conditions.push(condition(filter, &format!("filters[{i}]"))?);
        }
        if let Some(drill) = &self.drill {
            let Some(finer) = drill.level.finer() else {
                return Err(CubeError::invalid(
                    "CANNOT_DRILL",
                    "drill.level",
                    format!("{} is the finest level of its dimension", drill.level),
                ));
            };
            let key = drill
                .level
                .parse(&drill.member)
                .map_err(|e| CubeError::invalid("INVALID_MEMBER", "drill.member", e.to_string()))?;
            conditions.push(Condition {
                level: drill.level,
                members: vec![key],
                from: None,
                to: None,
            });
            let on_axis = rows
                .iter_mut()
                .chain(columns.iter_mut())
                .find(|l| **l == drill.level);
            match on_axis {
                Some(level) => *level = finer,
                None => rows.push(finer),
            }
        }
        for (axis, levels) in [("rows", &rows), ("columns", &columns)] {
            if levels.len() > MAX_LEVELS_PER_AXIS {
                return Err(CubeError::invalid(
                    "TOO_MANY_LEVELS",
                    axis,
                    format!("at most {MAX_LEVELS_PER_AXIS} levels on an axis"),
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for (i, level) in rows.iter().chain(&columns).enumerate() {
            if !seen.insert(*level) {
                let field = if i < rows.len() {
                    format!("rows[{i}]")
                } else {
                    format!("columns[{}]", i - rows.len())
                };
                return Err(CubeError::invalid(
                    "LEVEL_REPEATED",
                    field,
                    format!("{level} is already on an axis"),
                ));
            }
        }
        if let Some(top) = &self.top {
            if !(1..=MAX_TOP).contains(&top.n) {
                return Err(CubeError::invalid(
                    "INVALID_TOP",
                    "top.n",
                    format!("top n is 1 to {MAX_TOP}"),
                ));
            }
            if rows.is_empty() {
                return Err(CubeError::invalid(
                    "TOP_WITHOUT_ROWS",
                    "top",
                    "top keeps the largest members of the first row level: give rows",
                ));
            }
        }
        let mut bases: Vec<usize> = self
            .measures
            .iter()
            .chain(self.top.as_ref().map(|t| &t.by))
            .chain(self.order.by.as_ref())
            .flat_map(|m| m.bases().iter().copied())
            .collect();
        bases.sort_unstable();
        bases.dedup();
        Ok(Plan {
            measures: self.measures.clone(),
            rows,
            columns,
            conditions,
            bases,
            top: self.top,
            order: self.order,
            subtotals: self.subtotals,
            as_of: self.as_of,
        })
    }
}

fn condition(filter: &MemberFilter, field: &str) -> Result<Condition, CubeError> {
    let Some(level) = filter.level else {
        return Err(CubeError::invalid(
            "MISSING_LEVEL",
            format!("{field}.level"),
            "a filter names its level",
        ));
    };
    if filter.members.is_empty() && filter.from.is_none() && filter.to.is_none() {
        return Err(CubeError::invalid(
            "EMPTY_FILTER",
            field,
            "a filter gives members, a range (from, to) or both",
        ));
    }
    if filter.members.len() > MAX_MEMBERS {
        return Err(CubeError::invalid(
            "TOO_MANY_MEMBERS",
            format!("{field}.members"),
            format!("at most {MAX_MEMBERS} members in a filter"),
        ));
    }
    let parse = |code: &str, at: String| {
        level
            .parse(code)
            .map_err(|e| CubeError::invalid("INVALID_MEMBER", at, e.to_string()))
    };
    let members = filter
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| parse(m, format!("{field}.members[{i}]")))
        .collect::<Result<_, _>>()?;
    let from = filter
        .from
        .as_deref()
        .map(|c| parse(c, format!("{field}.from")))
        .transpose()?;
    let to = filter
        .to
        .as_deref()
        .map(|c| parse(c, format!("{field}.to")))
        .transpose()?;
    Ok(Condition {
        level,
        members,
        from,
        to,
    })
}

/// A value bound to the SQL.
enum Bind {
    Int(i64),
    Text(String),
}

impl From<&Key> for Bind {
    fn from(key: &Key) -> Self {
        match key {
            Key::Int(n) => Bind::Int(*n),
            Key::Text(t) => Bind::Text(t.clone()),
        }
    }
}

impl Plan {
    fn levels(&self) -> impl Iterator<Item = Level> + '_ {
        self.rows.iter().chain(&self.columns).copied()
    }

    /// Whether the roll-up table answers this query: every level it shows or filters is one
    /// the table holds, and it asks about now (the table sums only the current facts).
    fn reads_rollup(&self) -> bool {
        self.as_of.is_none()
            && self
                .levels()
                .chain(self.conditions.iter().map(|c| c.level))
                .all(rollup::covers)
    }

    /// The grouping statement and its parameters: over the roll-up table when it can answer,
    /// else over the facts.
    fn sql(&self) -> (String, Vec<Bind>) {
        let rolled_up = self.reads_rollup();
        let mut binds = Vec::new();
        let param = |binds: &mut Vec<Bind>, bind: Bind| {
            binds.push(bind);
            format!("${}", binds.len())
        };
        let mut conditions = Vec::new();
        match self.as_of {
            None if rolled_up => {}
            None => conditions.push("valid_to IS NULL".to_owned()),
            Some(at) => {
                let p1 = param(&mut binds, Bind::Int(micros(at)));
                let p2 = param(&mut binds, Bind::Int(micros(at)));
                conditions.push(format!(
                    "valid_from <= {p1} AND (valid_to IS NULL OR valid_to > {p2})"
                ));
            }
        }
        for condition in &self.conditions {
            let column = condition.level.column();
            if !condition.members.is_empty() {
                let list: Vec<String> = condition
                    .members
                    .iter()
                    .map(|k| param(&mut binds, k.into()))
                    .collect();
                conditions.push(format!("{column} IN ({})", list.join(",")));
            }
            if let Some(from) = &condition.from {
                let p = param(&mut binds, from.into());
                conditions.push(format!("{column} >= {p}"));
            }
            if let Some(to) = &condition.to {
                let p = param(&mut binds, to.into());
                conditions.push(format!("{column} <= {p}"));
            }
        }
        let columns: Vec<&str> = self.levels().map(Level::column).collect();
        let mut select: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
        select.extend(
            self.bases
                .iter()
                .map(|&b| format!("CAST(SUM({}) AS TEXT)", BASES[b])),
        );
        let table = if rolled_up {
            // Without rows the sum is NULL; PostgreSQL's sum of bigints is a numeric.
            select.push("CAST(COALESCE(SUM(items), 0) AS BIGINT)".to_owned());
            ROLLUP
        } else {
            select.push("COUNT(*)".to_owned());
            FACTS
        };
        let mut sql = format!("SELECT {} FROM {table}", select.join(", "));
        if !conditions.is_empty() {
            sql.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
        }
        if !columns.is_empty() {
            sql.push_str(&format!(
                " GROUP BY {} LIMIT {}",
                columns.join(", "),
                MAX_GROUPS + 1
            ));
        }
        (sql, binds)
    }
}

/// Runs cube queries on the serving generation of the warehouse.
#[derive(Debug, Clone)]
pub struct Cube {
    models: ReadModels,
}

/// One group of the grid: its members on each level (rows then columns) and its sums.
type Group = (Vec<Key>, Sums);

impl Cube {
    pub fn new(models: ReadModels) -> Self {
        Self { models }
    }

    fn pool(&self) -> &AnyPool {
        self.models.pool()
    }

    /// Answers `query`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn run(&self, query: &CubeQuery) -> Result<CubeResult, CubeError> {
        let plan = query.plan()?;
        let groups = self.grid(&plan).await?;
        Ok(assemble(&plan, groups))
    }

    async fn grid(&self, plan: &Plan) -> Result<Vec<Group>, CubeError> {
        let (sql, binds) = plan.sql();
        let mut statement = sqlx::query(sqlx::AssertSqlSafe(sql));
        for bind in binds {
            statement = match bind {
                Bind::Int(n) => statement.bind(n),
                Bind::Text(t) => statement.bind(t),
            };
        }
        let rows = statement.fetch_all(self.pool()).await.map_err(|e| {
            if e.to_string().contains("integer overflow") {
                CubeError::Overflow
            } else {
                CubeError::Database(e)
            }
        })?;
        if rows.len() > MAX_GROUPS {
            return Err(CubeError::TooLarge);
        }
        let levels: Vec<Level> = plan.levels().collect();
        let mut groups = Vec::with_capacity(rows.len());
        for row in rows {
            let mut keys = Vec::with_capacity(levels.len());
            for (i, level) in levels.iter().enumerate() {
                let key = if level.is_integer() {
                    Key::Int(
                        row.try_get(i)
                            .map_err(|e| CubeError::Corrupt(e.to_string()))?,
                    )
                } else {
                    Key::Text(
                        row.try_get(i)
                            .map_err(|e| CubeError::Corrupt(e.to_string()))?,
                    )
                };
                keys.push(key);
            }
            let mut sums = Sums::default();
            for (j, &base) in plan.bases.iter().enumerate() {
                let text: Option<String> = row
                    .try_get(levels.len() + j)
                    .map_err(|e| CubeError::Corrupt(e.to_string()))?;
                sums.bases[base] = match text {
                    None => 0,
                    Some(t) => t
                        .parse::<i128>()
                        .map_err(|e| CubeError::Corrupt(format!("sum {t:?}: {e}")))?,
                };
            }
            let count: i64 = row
                .try_get(levels.len() + plan.bases.len())
                .map_err(|e| CubeError::Corrupt(e.to_string()))?;
            sums.items = i128::from(count);
            if count > 0 {
                groups.push((keys, sums));
            }
        }
        Ok(groups)
    }
}

/// A member of a path: a stored key, or the "others" of top-N.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Slot {
    Key(Key),
    Others,
}

type Path = Vec<Slot>;

/// Rolls the grid up into the pivot: top-N, subtotals, totals, order, cells.
fn assemble(plan: &Plan, groups: Vec<Group>) -> CubeResult {
    let nrows = plan.rows.len();
    // Top-N: the first row level's members ranked by the measure over everything.
    let kept: Option<BTreeSet<Key>> = plan.top.map(|top| {
        let mut totals: HashMap<&Key, Sums> = HashMap::new();
        for (keys, sums) in &groups {
            totals.entry(&keys[0]).or_default().add(sums);
        }
        let mut ranked: Vec<(&Key, Option<Decimal>)> =
            totals.iter().map(|(k, s)| (*k, top.by.value(s))).collect();
        ranked.sort_by(|a, b| compare_values(b.1, a.1).then_with(|| a.0.cmp(b.0)));
        ranked
            .into_iter()
            .take(usize::try_from(top.n).unwrap_or(usize::MAX))
            .map(|(k, _)| k.clone())
            .collect()
    });
    // Every (row path, column path) at every depth the result shows, summed.
    let mut sums: HashMap<(Path, Path), Sums> = HashMap::new();
    let row_depths = depths(nrows, plan.subtotals);
    let column_depths = depths(plan.columns.len(), plan.subtotals);
    for (keys, group) in &groups {
        let (row_keys, column_keys) = keys.split_at(nrows);
        let row: Path = match &kept {
            Some(kept) if !kept.contains(&row_keys[0]) => vec![Slot::Others],
            _ => row_keys.iter().cloned().map(Slot::Key).collect(),
        };
        let column: Path = column_keys.iter().cloned().map(Slot::Key).collect();
        // "Others" is a leaf at the first level: it has no members under it.
        let depths: &[usize] = if row == [Slot::Others] {
            &[0, 1]
        } else {
            &row_depths
        };
        for &rd in depths {
            for &cd in &column_depths {
                sums.entry((row[..rd].to_vec(), column[..cd].to_vec()))
                    .or_default()
                    .add(group);
            }
        }
    }
    let row_totals = |path: &Path| {
        sums.get(&(path.clone(), Vec::new()))
            .copied()
            .unwrap_or_default()
    };
    let row_paths = ordered_paths(
        sums.keys().map(|(r, _)| r),
        plan.subtotals,
        |a, b| match plan.order.by {
            None => a.cmp(b),
            Some(measure) => {
                let (x, y) = (measure.value(&row_totals(a)), measure.value(&row_totals(b)));
                let by_value = compare_values(x, y);
                (if plan.order.descending {
                    by_value.reverse()
                } else {
                    by_value
                })
                .then_with(|| a.cmp(b))
            }
        },
        plan.order.by.is_none() && plan.order.descending,
    );
    let column_paths = ordered_paths(sums.keys().map(|(_, c)| c), plan.subtotals, Ord::cmp, false);
    let rows: Vec<Header> = row_paths.iter().map(|p| header(p, &plan.rows)).collect();
    let columns: Vec<Header> = column_paths
        .iter()
        .map(|p| header(p, &plan.columns))
        .collect();
    let column_index: HashMap<&Path, usize> = column_paths
        .iter()
        .enumerate()
        .map(|(i, p)| (p, i))
        .collect();
    let row_index: HashMap<&Path, usize> =
        row_paths.iter().enumerate().map(|(i, p)| (p, i)).collect();
    let mut cells: Vec<Cell> = sums
        .iter()
        .filter_map(|((r, c), s)| {
            Some(Cell {
                row: *row_index.get(r)?,
                column: *column_index.get(c)?,
                values: plan.measures.iter().map(|m| m.value(s)).collect(),
            })
        })
        .collect();
    cells.sort_by_key(|c| (c.row, c.column));
    CubeResult {
        measures: plan.measures.clone(),
        rows_levels: plan.rows.clone(),
        column_levels: plan.columns.clone(),
        rows,
        columns,
        cells,
        as_of: plan.as_of,
    }
}

/// The path lengths an axis of `levels` shows: the leaves, the subtotals, the total (0).
fn depths(levels: usize, subtotals: bool) -> Vec<usize> {
    (0..=levels)
        .filter(|&d| d == 0 || d == levels || subtotals)
        .collect()
}

/// `Some` before `None`, then by value.
fn compare_values(a: Option<Decimal>, b: Option<Decimal>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => Ordering::Equal,
    }
}

/// The distinct paths in display order: depth first, siblings ordered by `cmp` ("others"
/// last), each subtotal after its members, the total (the empty path) last.
fn ordered_paths<'a>(
    paths: impl Iterator<Item = &'a Path>,
    subtotals: bool,
    cmp: impl Fn(&Path, &Path) -> Ordering,
    reverse_codes: bool,
) -> Vec<Path> {
    let mut children: HashMap<Path, Vec<Path>> = HashMap::new();
    let mut all: BTreeSet<&Path> = BTreeSet::new();
    for path in paths {
        all.insert(path);
    }
    for path in &all {
        if path.is_empty() {
            continue;
        }
        // Without subtotals, leaves hang from the total directly.
        let parent = if subtotals || path.len() == 1 || **path == [Slot::Others] {
            path[..path.len() - 1].to_vec()
        } else {
            Vec::new()
        };
        children.entry(parent).or_default().push((*path).clone());
    }
    for siblings in children.values_mut() {
        siblings.sort_by(|a, b| {
            let others = |p: &Path| p.last() == Some(&Slot::Others);
            others(a).cmp(&others(b)).then_with(|| {
                let order = cmp(a, b);
                if reverse_codes {
                    order.reverse()
                } else {
                    order
                }
            })
        });
    }
    let mut out = Vec::new();
    fn walk(path: &Path, children: &HashMap<Path, Vec<Path>>, out: &mut Vec<Path>) {
        if let Some(kids) = children.get(path) {
            for kid in kids {
                walk(kid, children, out);
            }
        }
        out.push(path.clone());
    }
    walk(&Vec::new(), &children, &mut out);
    out
}

fn header(path: &Path, levels: &[Level]) -> Header {
    let kind = if path.is_empty() {
        HeaderKind::Total
    } else if path.last() == Some(&Slot::Others) {
        HeaderKind::Others
    } else if path.len() < levels.len() {
        HeaderKind::Subtotal
    } else {
        HeaderKind::Member
    };
    let members = path
        .iter()
        .zip(levels)
        .map(|(slot, &level)| match slot {
            Slot::Key(key) => {
                let code = level.format(key);
                Member {
                    level,
                    label: level.label(&code),
                    code: Some(code),
                }
            }
            Slot::Others => Member {
                level,
                code: None,
                label: "Others".to_owned(),
            },
        })
        .collect();
    Header { kind, members }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn table_read(query: CubeQuery) -> &'static str {
        let (sql, _) = query.plan().unwrap().sql();
        if sql.contains(" FROM warehouse_rollup") {
            "rollup"
        } else {
            assert!(sql.contains(" FROM warehouse_facts WHERE valid_"), "{sql}");
            "facts"
        }
    }

    #[test]
    fn dates_from_month_up_tariff_from_heading_up_regime_and_lane_read_the_rollup() {
        let query = |rows: Vec<Level>, columns: Vec<Level>| CubeQuery {
            rows,
            columns,
            ..CubeQuery::new(vec![Measure::CustomsValue, Measure::Items])
        };
        use Level::*;
        assert_eq!(table_read(query(vec![Month], vec![HsChapter])), "rollup");
        assert_eq!(
            table_read(query(vec![Year, Quarter], vec![HsSection])),
            "rollup"
        );
        assert_eq!(table_read(query(vec![], vec![])), "rollup");
        let drill = CubeQuery {
            drill: Some(Drill {
                level: HsChapter,
                member: "84".to_owned(),
            }),
            ..query(vec![HsChapter], vec![Month])
        };
        assert_eq!(table_read(drill.clone()), "rollup");
        // Finer levels, other dimensions, filters on them, and the past read the facts.
        assert_eq!(table_read(query(vec![Week], vec![HsChapter])), "facts");
        assert_eq!(table_read(query(vec![Month], vec![HsSubheading])), "facts");
        assert_eq!(table_read(query(vec![Month], vec![Origin])), "facts");
        let heading_drill = CubeQuery {
            drill: Some(Drill {
                level: HsHeading,
                member: "8471".to_owned(),
            }),
            ..query(vec![HsHeading], vec![Month])
        };
        assert_eq!(table_read(heading_drill), "facts");
        let imports_by_lane = CubeQuery {
            filters: vec![MemberFilter {
                level: Some(Regime),
                members: vec!["import".to_owned()],
                ..MemberFilter::default()
            }],
            ..query(vec![Lane], vec![Month])
        };
        assert_eq!(table_read(imports_by_lane.clone()), "rollup");
        let filtered = CubeQuery {
            filters: vec![MemberFilter {
                level: Some(Origin),
                members: vec!["CN".to_owned()],
                ..MemberFilter::default()
            }],
            ..imports_by_lane
        };
        assert_eq!(table_read(filtered), "facts");
        let past = CubeQuery {
            as_of: DateTime::from_timestamp(1_700_000_000, 0),
            ..drill
        };
        assert_eq!(table_read(past), "facts");
    }
}
