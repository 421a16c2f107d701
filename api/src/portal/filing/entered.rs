//! What the user entered in the declaration form, keyed by the API's field paths, and the
//! errors to show next to each field.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::gql::FieldError;
use super::super::page::{self, Problem, field_id};
use super::super::texts::Texts;

/// The header fields a filing has, by API name.
pub(super) const HEADER_FIELDS: &[&str] = &[
    "declarationType",
    "lrn",
    "importer",
    "exporter",
    "customsOffice",
    "transportMode",
    "dispatchCountry",
    "incoterm",
    "invoiceCurrency",
    "invoiceAmount",
    "freight",
    "insurance",
];
/// The fields of one goods item, by API name.
pub(super) const ITEM_FIELDS: &[&str] = &[
    "hsCode",
    "description",
    "originCountry",
    "preferenceClaim",
    "quantity",
    "unit",
    "netMass",
    "grossMass",
    "invoiceValue",
];
/// Most items a declaration has (the API's limit).
pub(super) const MAX_ITEMS: usize = 999;
/// Longest value kept from one input: far above any valid one, so nothing valid is cut.
pub(super) const MAX_VALUE_CHARS: usize = 1_000;

/// What the user entered, by field path; empty inputs are absent.
#[derive(Debug, Clone, Default)]
pub(super) struct Entered {
    pub(super) header: BTreeMap<&'static str, String>,
    pub(super) items: Vec<BTreeMap<&'static str, String>>,
}

impl Entered {
    /// The form as posted: fields outside the filing are ignored, rows left entirely empty
    /// are dropped, and the rows are numbered from 0 again in the order sent.
    pub(super) fn from_pairs(pairs: &[(String, String)]) -> Self {
        let mut header = BTreeMap::new();
        let mut items: BTreeMap<usize, BTreeMap<&'static str, String>> = BTreeMap::new();
        for (name, value) in pairs {
            let value: String = value.trim().chars().take(MAX_VALUE_CHARS).collect();
            if let Some(field) = name.strip_prefix("header.") {
                if let Some(field) = HEADER_FIELDS.iter().find(|f| **f == field)
                    && !value.is_empty()
                {
                    header.insert(*field, value);
                }
            } else if let Some((index, field)) = item_path(name) {
                let row = items.entry(index).or_default();
                if !value.is_empty() {
                    row.insert(field, value);
                }
            }
        }
        let mut items: Vec<_> = items
            .into_values()
            .filter(|row| !row.is_empty())
            .take(MAX_ITEMS)
            .collect();
        if items.is_empty() {
            items.push(BTreeMap::new());
        }
        Self { header, items }
    }

    /// The declaration's current data, to amend it.
    pub(super) fn from_declaration(data: &DeclarationData) -> Self {
        let mut entered = Self::default();
        let header = data.header.as_ref().and_then(Value::as_object);
        for field in HEADER_FIELDS {
            if let Some(text) = header.and_then(|h| h.get(*field)).and_then(text_of) {
                entered.header.insert(field, text);
            }
        }
        for item in &data.items {
            let row = ITEM_FIELDS
                .iter()
                .filter_map(|field| Some((*field, item.get(*field).and_then(text_of)?)))
                .collect();
            entered.items.push(row);
        }
        if entered.items.is_empty() {
            entered.items.push(BTreeMap::new());
        }
        entered
    }

    pub(super) fn value(&self, path: &str) -> &str {
        let value = if let Some(field) = path.strip_prefix("header.") {
            self.header.get(field)
        } else {
            item_path(path).and_then(|(i, field)| self.items.get(i)?.get(field))
        };
        value.map_or("", String::as_str)
    }

    /// The `DeclarationInput` of the API, filed for `organisation` (the signed-in declarant's).
    pub(super) fn to_input(&self, organisation: Option<&str>) -> Value {
        let mut header: Map<String, Value> = self
            .header
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(v.as_str())))
            .collect();
        if let Some(organisation) = organisation {
            header.insert("declarant".to_owned(), Value::from(organisation));
        }
        let items: Vec<Value> = self
            .items
            .iter()
            .map(|row| {
                Value::Object(
                    row.iter()
                        .map(|(k, v)| ((*k).to_owned(), Value::from(v.as_str())))
                        .collect(),
                )
            })
            .collect();
        json!({ "header": header, "items": items })
    }
}

pub(super) fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `items[3].hsCode` → `(3, "hsCode")` for a known item field.
pub(super) fn item_path(path: &str) -> Option<(usize, &'static str)> {
    let rest = path.strip_prefix("items[")?;
    let (index, field) = rest.split_once("].")?;
    let index: usize = index.parse().ok()?;
    let field = ITEM_FIELDS.iter().find(|f| **f == field)?;
    (index < MAX_ITEMS).then_some((index, *field))
}

/// Errors by field path, in the order the server gave them.
#[derive(Debug, Default)]
pub(super) struct Errors {
    by_path: BTreeMap<String, Vec<String>>,
    pub(super) problems: Vec<Problem>,
}

impl Errors {
    pub(super) fn from_field_errors(errors: &[FieldError], entered: &Entered) -> Self {
        let mut out = Self::default();
        for error in errors {
            out.add(&error.path, &error.message, entered);
        }
        out
    }

    /// Adds a problem; it links to the input of `path` when the form has one, else to the
    /// nearest part of the form (the item row, the items).
    pub(super) fn add(&mut self, path: &str, message: &str, entered: &Entered) {
        let target = if has_input(path, entered) {
            Some(path.to_owned())
        } else if let Some(row) = path
            .strip_prefix("items[")
            .and_then(|rest| rest.split(']').next())
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|i| *i < entered.items.len())
        {
            Some(format!("items[{row}]"))
        } else if path.starts_with("items") {
            Some("items".to_owned())
        } else {
            None
        };
        if let Some(target) = &target {
            self.by_path
                .entry(target.clone())
                .or_default()
                .push(message.to_owned());
        }
        // The summary names the field: by its label, or by its path when the form has no
        // input for it.
        let message = match field_label(page::texts(), path) {
            Some(label) => format!("{label}: {message}"),
            None if target.as_deref() == Some(path) => message.to_owned(),
            None => format!("{path}: {message}"),
        };
        self.problems.push(Problem {
            field_id: target.as_deref().map(field_id),
            message,
        });
    }

    pub(super) fn general(&mut self, message: &str) {
        self.problems.push(Problem {
            field_id: None,
            message: message.to_owned(),
        });
    }

    pub(super) fn at(&self, path: &str) -> &[String] {
        self.by_path.get(path).map_or(&[], Vec::as_slice)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The words for the field at `path`: `Item 2, Tariff code` or `Invoice amount`.
pub(super) fn field_label(t: &Texts, path: &str) -> Option<String> {
    let header = |field: &str| -> Option<&'static str> {
        Some(match field {
            "declarationType" => t.declaration_type,
            "lrn" => t.lrn,
            "declarant" => t.declarant,
            "importer" => t.importer,
            "exporter" => t.exporter,
            "customsOffice" => t.customs_office,
            "transportMode" => t.transport_mode,
            "dispatchCountry" => t.dispatch_country,
            "incoterm" => t.incoterm,
            "invoiceCurrency" => t.invoice_currency,
            "invoiceAmount" => t.invoice_amount,
            "freight" => t.freight,
            "insurance" => t.insurance,
            _ => return None,
        })
    };
    let item = |field: &str| -> Option<&'static str> {
        Some(match field {
            "hsCode" => t.hs_code,
            "description" => t.description,
            "originCountry" => t.origin_country,
            "preferenceClaim" => t.preference_claim,
            "quantity" => t.quantity,
            "unit" => t.unit,
            "netMass" => t.net_mass,
            "grossMass" => t.gross_mass,
            "invoiceValue" => t.invoice_value,
            _ => return None,
        })
    };
    if let Some(field) = path.strip_prefix("header.") {
        return header(field).map(str::to_owned);
    }
    if path == "reason" {
        return Some(t.amend_reason.to_owned());
    }
    let (index, field) = path.strip_prefix("items[")?.split_once("].")?;
    let number = index.parse::<usize>().ok()? + 1;
    Some(format!("{} {number}, {}", t.item, item(field)?))
}

pub(super) fn has_input(path: &str, entered: &Entered) -> bool {
    if let Some(field) = path.strip_prefix("header.") {
        return HEADER_FIELDS.contains(&field);
    }
    path == "reason" || item_path(path).is_some_and(|(i, _)| i < entered.items.len())
}

/// A declaration's data as the amend form needs it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeclarationData {
    pub(super) status: String,
    header: Option<Value>,
    #[serde(default)]
    items: Vec<Map<String, Value>>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_posted_form_becomes_the_api_input_with_rows_renumbered() {
        let entered = Entered::from_pairs(&pairs(&[
            ("csrf", "x"),
            ("header.lrn", " LRN-1 "),
            ("header.declarant", "SOMEONE-ELSE"),
            ("items[0].hsCode", "8471300000"),
            ("items[3].hsCode", "0101210000"),
            ("items[3].quantity", "2"),
            ("items[2].description", ""),
            ("items[5].evil", "x"),
        ]));
        assert_eq!(
            entered.to_input(Some("ACME")),
            json!({
                "header": { "lrn": "LRN-1", "declarant": "ACME" },
                "items": [
                    { "hsCode": "8471300000" },
                    { "hsCode": "0101210000", "quantity": "2" },
                ],
            })
        );
        assert_eq!(entered.value("items[1].quantity"), "2");
    }

    #[test]
    fn errors_land_on_their_input_or_the_nearest_part_of_the_form() {
        let entered = Entered::from_pairs(&pairs(&[("items[0].hsCode", "1")]));
        let errors = Errors::from_field_errors(
            &[
                FieldError {
                    code: "A".into(),
                    path: "items[0].hsCode".into(),
                    message: "bad code".into(),
                },
                FieldError {
                    code: "B".into(),
                    path: "items[0]".into(),
                    message: "bad row".into(),
                },
                FieldError {
                    code: "C".into(),
                    path: "items".into(),
                    message: "too many".into(),
                },
                FieldError {
                    code: "D".into(),
                    path: "header.declarant".into(),
                    message: "not yours".into(),
                },
            ],
            &entered,
        );
        assert_eq!(errors.at("items[0].hsCode"), ["bad code"]);
        assert_eq!(errors.at("items[0]"), ["bad row"]);
        assert_eq!(errors.at("items"), ["too many"]);
        assert_eq!(errors.problems.len(), 4);
        assert_eq!(
            errors.problems[0].field_id.as_deref(),
            Some("items-0-hsCode")
        );
        assert_eq!(errors.problems[3].field_id, None);
        assert_eq!(errors.problems[0].message, "Item 1, Tariff code: bad code");
        assert_eq!(errors.problems[1].message, "bad row");
        assert_eq!(errors.problems[2].message, "too many");
        assert_eq!(errors.problems[3].message, "Declarant: not yours");
    }
}
