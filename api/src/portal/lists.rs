//! Pick-lists for the declaration form: countries, currencies, units and incoterms as
//! `<datalist>`s (they work without JavaScript), and the tariff search the form's script calls
//! as the user types a code or words.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::gql;
use super::page;
use super::session::SignedIn;
use super::texts::Texts;
use crate::server::AppState;

/// Every Incoterms 2020 rule.
pub const INCOTERMS: [&str; 11] = [
    "EXW", "FCA", "FAS", "FOB", "CFR", "CIF", "CPT", "CIP", "DAP", "DPU", "DDP",
];

/// The units offered first; any unit of the published list is accepted when typed.
const COMMON_UNITS: &[(&str, &str)] = &[
    ("KGM", "kilogram"),
    ("GRM", "gram"),
    ("TNE", "tonne"),
    ("LTR", "litre"),
    ("MTQ", "cubic metre"),
    ("MTR", "metre"),
    ("MTK", "square metre"),
    ("H87", "piece"),
    ("C62", "one (unit)"),
    ("NMB", "number"),
    ("PR", "pair"),
    ("SET", "set"),
    ("U", "unit"),
];

/// The national currency, always offered.
const NATIONAL_CURRENCY: &str = "KRW";

/// The lists as the reference data now stands.
#[derive(Debug)]
pub struct Lists {
    currencies: Vec<String>,
    units: Vec<(&'static str, &'static str)>,
}

impl Lists {
    pub fn load(state: &AppState) -> Self {
        let snapshot = state.declarations().reference().snapshot();
        let mut currencies: Vec<String> = std::iter::once(NATIONAL_CURRENCY.to_owned())
            .chain(snapshot.currencies().map(|c| c.as_str().to_owned()))
            .collect();
        currencies.dedup();
        let published: Vec<&str> = snapshot.units().map(|u| u.as_str()).collect();
        let units = COMMON_UNITS
            .iter()
            .copied()
            .filter(|(code, _)| published.is_empty() || published.contains(code))
            .collect();
        Self { currencies, units }
    }

    /// The `<datalist>`s the form's inputs name.
    pub fn datalists(&self, _t: &Texts) -> Markup {
        html! {
            datalist #countries {
                @for country in rust_iso3166::ALL {
                    option value=(country.alpha2) { (country.name) }
                }
            }
            datalist #currencies {
                @for currency in &self.currencies {
                    option value=(currency) {}
                }
            }
            datalist #units {
                @for (code, name) in &self.units {
                    option value=(code) { (name) }
                }
            }
            datalist #tariff-codes {}
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct TariffQuery {
    #[serde(default)]
    q: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TariffLine {
    hs_code: String,
    description: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TariffLines {
    tariff_lines: Vec<TariffLine>,
}

const TARIFF: &str = "query Tariff($search: String!) { \
    tariffLines(search: $search, first: 20) { hsCode description } }";

/// `GET /portal/reference/tariff?q=...`: up to 20 tariff lines in force, as JSON
/// `[{"hsCode","description"}]`, for the form's autocomplete.
pub async fn tariff(
    State(state): State<AppState>,
    user: SignedIn,
    Query(query): Query<TariffQuery>,
) -> Response {
    let search: String = query.q.trim().chars().take(100).collect();
    if search.chars().count() < 2 {
        return Json(Vec::<TariffLine>::new()).into_response();
    }
    match gql::run::<TariffLines>(&state, &user, TARIFF, json!({ "search": search })).await {
        Ok(found) => Json(found.tariff_lines).into_response(),
        Err(errors) => page::failure(&errors),
    }
}
