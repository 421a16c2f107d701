//! The customs data warehouse in pictures, for analysts, officers, auditors and admins: imports
//! by month, the top countries of origin and HS chapters, and the lane mix, each an SVG chart
//! drawn on the server with a table of the same figures and a CSV download.
//!
//! The figures come from the API's `cube` query, run as the signed-in principal like every
//! portal page, so the page shows what the API lets that role see. A period (`from`/`to`
//! months) applies to all four charts; without one the page shows the last two years with data.

mod chart;
mod data;
mod number;
mod period;
mod scale;
mod view;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use self::data::{CubeResult, Entry};
use self::period::{Month, Period, PeriodError, Requested};
use self::view::Entered;
use super::gql::{self, GqlError};
use super::page::{self, Page, Problem};
use super::session::SignedIn;
use super::texts::Texts;
use crate::auth::Role;
use crate::graphql::warehouse::WAREHOUSE_READERS;
use crate::server::AppState;

/// Index of the customs value among the measures asked for.
const CV: usize = 0;
/// Index of the item count.
const ITEMS: usize = 1;
const MEASURES: [&str; 2] = ["CUSTOMS_VALUE", "ITEMS"];
/// Members named on the origin and chapter charts; the rest are summed as "others".
const TOP: u32 = 10;
const LANES: [&str; 3] = ["green", "yellow", "red"];

/// Whether `role` may see the warehouse: the roles the API's `cube` query answers (one list,
/// so the link, the page and the API never disagree).
pub fn may_view_warehouse(role: Role) -> bool {
    WAREHOUSE_READERS.contains(&role)
}

/// The fields of a `CubeResult` the page reads (see [`data`]).
macro_rules! result_fragment {
    () => {
        "fragment R on CubeResult { rows { kind members { code label } } \
         cells { row column values } }"
    };
}

const MONTHS: &str = concat!(
    "query Months($months: CubeInput!) { months: cube(query: $months) { ...R } } ",
    result_fragment!()
);
const BREAKDOWNS: &str = concat!(
    "query Breakdowns($origins: CubeInput!, $chapters: CubeInput!, $lanes: CubeInput!) { \
     origins: cube(query: $origins) { ...R } chapters: cube(query: $chapters) { ...R } \
     lanes: cube(query: $lanes) { ...R } } ",
    result_fragment!()
);

#[derive(Debug, Deserialize)]
struct MonthsData {
    months: CubeResult,
}

#[derive(Debug, Deserialize)]
struct BreakdownData {
    origins: CubeResult,
    chapters: CubeResult,
    lanes: CubeResult,
}

/// What the charts show, each entry with the customs value and the item count ([`CV`],
/// [`ITEMS`]).
#[derive(Debug, Clone)]
pub struct Figures {
    pub period: Period,
    /// One per month of the period, months without imports as zeros.
    pub months: Vec<Entry>,
    /// The top ten by customs value, largest first, then the others.
    pub origins: Vec<Entry>,
    pub chapters: Vec<Entry>,
    /// Green, yellow, red (zeros included), then any other lane the warehouse holds.
    pub lanes: Vec<Entry>,
    /// The period's totals.
    pub total: Vec<Decimal>,
}

/// The `cube` input for imports by `rows`, within `period`; `top`: the ten largest by customs
/// value, largest first.
fn cube_input(rows: &str, period: Option<Period>, top: bool) -> Value {
    let mut filters = vec![json!({ "level": "REGIME", "members": ["import"] })];
    if let Some(period) = period {
        filters.push(json!({
            "level": "MONTH",
            "from": period.from.to_string(),
            "to": period.to.to_string(),
        }));
    }
    let mut input = json!({
        "measures": MEASURES,
        "rows": [rows],
        "filters": filters,
        "subtotals": false,
    });
    if top {
        input["top"] = json!({ "n": TOP, "by": "CUSTOMS_VALUE" });
        input["order"] = json!({ "by": "CUSTOMS_VALUE", "descending": true });
    }
    input
}

/// Reads the figures for `requested` as `user`; `None` when no import has been cleared yet.
async fn load(
    state: &AppState,
    user: &SignedIn,
    requested: Requested,
) -> Result<Option<Figures>, Vec<GqlError>> {
    let variables = json!({ "months": cube_input("MONTH", None, false) });
    let all = gql::run::<MonthsData>(state, user, MONTHS, variables)
        .await?
        .months
        .entries(MEASURES.len());
    let with_data: Vec<Month> = all
        .iter()
        .filter_map(|e| e.code.as_deref().and_then(Month::parse))
        .collect();
    let data = with_data
        .iter()
        .min()
        .copied()
        .zip(with_data.iter().max().copied());
    let Some(period) = data.and_then(|data| requested.complete(Some(data))) else {
        return Ok(None);
    };
    let variables = json!({
        "origins": cube_input("ORIGIN", Some(period), true),
        "chapters": cube_input("HS_CHAPTER", Some(period), true),
        "lanes": cube_input("LANE", Some(period), false),
    });
    let breakdowns = gql::run::<BreakdownData>(state, user, BREAKDOWNS, variables).await?;
    let months = fill_months(&all, period);
    let total = months
        .iter()
        .fold(vec![Decimal::ZERO; MEASURES.len()], |mut sum, e| {
            for (s, v) in sum.iter_mut().zip(&e.values) {
                *s += v;
            }
            sum
        });
    Ok(Some(Figures {
        period,
        months,
        origins: breakdowns.origins.entries(MEASURES.len()),
        chapters: breakdowns.chapters.entries(MEASURES.len()),
        lanes: every_lane(breakdowns.lanes.entries(MEASURES.len())),
        total,
    }))
}

/// One entry per month of `period`, from `all` or zeros.
fn fill_months(all: &[Entry], period: Period) -> Vec<Entry> {
    period
        .months()
        .map(|month| {
            let code = month.to_string();
            all.iter()
                .find(|e| e.code.as_deref() == Some(code.as_str()))
                .cloned()
                .unwrap_or(Entry {
                    label: code.clone(),
                    code: Some(code),
                    values: vec![Decimal::ZERO; MEASURES.len()],
                })
        })
        .collect()
}

/// The three lanes in their order, a lane without items as zeros, then any other the answer has.
fn every_lane(mut found: Vec<Entry>) -> Vec<Entry> {
    let mut lanes: Vec<Entry> = LANES
        .iter()
        .map(
            |lane| match found.iter().position(|e| e.code.as_deref() == Some(*lane)) {
                Some(i) => found.remove(i),
                None => Entry {
                    code: Some((*lane).to_owned()),
                    label: (*lane).to_owned(),
                    values: vec![Decimal::ZERO; MEASURES.len()],
                },
            },
        )
        .collect();
    lanes.extend(found);
    lanes
}

#[derive(Debug, Default, Deserialize)]
pub struct PeriodQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// The period asked for, or the problems to show at the form's fields.
fn requested(
    t: &Texts,
    query: &Result<Query<PeriodQuery>, QueryRejection>,
) -> Result<Requested, Vec<Problem>> {
    let Ok(Query(query)) = query else {
        // Parameters that do not read at all (a name given twice): a problem with the form.
        return Err(vec![problem(t, PeriodError::NotAMonth("from"))]);
    };
    Requested::parse(&query.from, &query.to)
        .map_err(|errors| errors.into_iter().map(|e| problem(t, e)).collect())
}

fn problem(t: &Texts, error: PeriodError) -> Problem {
    let message = match error {
        PeriodError::NotAMonth(_) => t.not_a_month,
        PeriodError::Reversed => t.period_reversed,
        PeriodError::TooLong => t.period_too_long,
    };
    Problem {
        field_id: Some(format!("w-{}", error.field())),
        message: message.to_owned(),
    }
}

/// `GET /portal/warehouse?from=YYYY-MM&to=YYYY-MM`: the four charts.
pub async fn page(
    State(state): State<AppState>,
    user: SignedIn,
    query: Result<Query<PeriodQuery>, QueryRejection>,
) -> Response {
    let t = page::texts();
    if !may_view_warehouse(user.principal.role()) {
        return page::forbidden(t);
    }
    let entered = query.as_ref().map_or_else(
        |_| Entered::default(),
        |Query(q)| Entered {
            from: q.from.chars().take(20).collect(),
            to: q.to.chars().take(20).collect(),
        },
    );
    let page = Page::new(t, t.warehouse_title).user(&user);
    let requested = match requested(t, &query) {
        Ok(requested) => requested,
        Err(problems) => {
            return page
                .body(view::body(t, &entered, &problems, None))
                .status(StatusCode::BAD_REQUEST)
                .into_response();
        }
    };
    match load(&state, &user, requested).await {
        Ok(figures) => page
            .body(view::body(t, &entered, &[], figures.as_ref()))
            .into_response(),
        Err(errors) => page::failure(&errors),
    }
}

/// `GET /portal/warehouse/{months,origins,chapters,lanes}.csv?from=…&to=…`: a chart's figures,
/// exact, one row per bar.
pub async fn csv(
    State(state): State<AppState>,
    user: SignedIn,
    Path(file): Path<String>,
    query: Result<Query<PeriodQuery>, QueryRejection>,
) -> Response {
    let t = page::texts();
    if !may_view_warehouse(user.principal.role()) {
        return page::forbidden(t);
    }
    let Some(chart) = file
        .strip_suffix(".csv")
        .filter(|c| ["months", "origins", "chapters", "lanes"].contains(c))
    else {
        return page::not_found(t);
    };
    let Ok(requested) = requested(t, &query) else {
        return page::error_page(
            t,
            StatusCode::BAD_REQUEST,
            t.warehouse_title,
            t.not_a_month,
            None,
        );
    };
    let figures = match load(&state, &user, requested).await {
        Ok(figures) => figures,
        Err(errors) => return page::failure(&errors),
    };
    let (column, entries) = match (chart, &figures) {
        (_, None) => ("member", &[][..]),
        ("months", Some(f)) => ("month", &f.months[..]),
        ("origins", Some(f)) => ("origin", &f.origins[..]),
        ("chapters", Some(f)) => ("hs_chapter", &f.chapters[..]),
        (_, Some(f)) => ("lane", &f.lanes[..]),
    };
    match csv_bytes(column, entries) {
        Ok(bytes) => {
            let mut response = bytes.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            if let Ok(disposition) =
                HeaderValue::from_str(&format!("attachment; filename=\"warehouse-{chart}.csv\""))
            {
                headers.insert(header::CONTENT_DISPOSITION, disposition);
            }
            response
        }
        Err(error) => {
            let reference = uuid::Uuid::new_v4();
            tracing::error!(%reference, %error, "warehouse csv could not be written");
            page::unavailable(t, StatusCode::INTERNAL_SERVER_ERROR, Some(reference))
        }
    }
}

/// `column,label,customs_value,items`, the others with an empty code; cells defused.
fn csv_bytes(column: &str, entries: &[Entry]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record([column, "label", "customs_value", "items"])?;
    for entry in entries {
        writer.write_record([
            super::defuse(entry.code.as_deref().unwrap_or_default()),
            super::defuse(&entry.label),
            entry.value(CV).to_string(),
            entry.value(ITEMS).to_string(),
        ])?;
    }
    writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(code: &str, cv: i64, items: i64) -> Entry {
        Entry {
            code: Some(code.to_owned()),
            label: code.to_owned(),
            values: vec![Decimal::from(cv), Decimal::from(items)],
        }
    }

    #[test]
    fn the_warehouse_is_for_every_role_but_declarants_and_integrators() {
        for role in Role::ALL {
            let expected = !matches!(role, Role::Declarant | Role::Integrator);
            assert_eq!(may_view_warehouse(role), expected, "{role}");
        }
    }

    #[test]
    fn months_without_imports_are_zeros_in_order() {
        let period = Period {
            from: Month::parse("2024-01").unwrap(),
            to: Month::parse("2024-04").unwrap(),
        };
        let filled = fill_months(&[entry("2024-02", 5, 1), entry("2023-12", 9, 9)], period);
        let codes: Vec<_> = filled.iter().map(|e| e.code.clone().unwrap()).collect();
        assert_eq!(codes, ["2024-01", "2024-02", "2024-03", "2024-04"]);
        let values: Vec<_> = filled.iter().map(|e| e.value(CV)).collect();
        assert_eq!(values, [0, 5, 0, 0].map(Decimal::from));
    }

    #[test]
    fn every_lane_is_listed_in_order() {
        let lanes = every_lane(vec![entry("red", 1, 1), entry("green", 2, 2)]);
        let codes: Vec<_> = lanes.iter().map(|e| e.code.clone().unwrap()).collect();
        assert_eq!(codes, ["green", "yellow", "red"]);
        assert_eq!(lanes[1].value(ITEMS), Decimal::ZERO);
    }

    #[test]
    fn the_download_holds_exact_figures_and_no_formula() {
        let mut evil = entry("=cmd", 1, 1);
        evil.label = "@SUM(A1)".to_owned();
        let others = Entry {
            code: None,
            label: "Others".to_owned(),
            values: vec![Decimal::new(123_456, 2), Decimal::from(3)],
        };
        let text = String::from_utf8(csv_bytes("origin", &[evil, others]).unwrap()).unwrap();
        assert_eq!(
            text,
            "origin,label,customs_value,items\n'=cmd,'@SUM(A1),1,1\n,Others,1234.56,3\n"
        );
    }

    #[test]
    fn imports_are_asked_for_within_the_period_with_the_top_ten() {
        let period = Period {
            from: Month::parse("2024-01").unwrap(),
            to: Month::parse("2024-12").unwrap(),
        };
        let input = cube_input("ORIGIN", Some(period), true);
        assert_eq!(input["rows"], json!(["ORIGIN"]));
        assert_eq!(
            input["filters"],
            json!([
                { "level": "REGIME", "members": ["import"] },
                { "level": "MONTH", "from": "2024-01", "to": "2024-12" }
            ])
        );
        assert_eq!(input["top"], json!({ "n": 10, "by": "CUSTOMS_VALUE" }));
        assert!(cube_input("LANE", None, false).get("top").is_none());
    }
}
