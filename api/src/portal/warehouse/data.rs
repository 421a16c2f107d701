//! The answers of the API's `cube` query as the page reads them: one row level, no column
//! levels, so each row header is a member (or "others", or the total) with its values in the
//! single column.

use rust_decimal::Decimal;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CubeResult {
    pub rows: Vec<Header>,
    pub cells: Vec<Cell>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Header {
    pub kind: Kind,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Kind {
    Member,
    Subtotal,
    Others,
    Total,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Member {
    /// `null` for "others".
    pub code: Option<String>,
    pub label: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Cell {
    pub row: usize,
    pub column: usize,
    /// In the order of the query's measures; `null` where a ratio has no denominator.
    pub values: Vec<Option<Decimal>>,
}

/// A row of the answer: a member of the row level (or the others), and its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The member's code (`2024-03`, `CN`, `84`, `green`); `None` for the others.
    pub code: Option<String>,
    pub label: String,
    pub values: Vec<Decimal>,
}

impl Entry {
    /// The `i`th measure's value (zero when the answer had none).
    pub fn value(&self, i: usize) -> Decimal {
        self.values.get(i).copied().unwrap_or(Decimal::ZERO)
    }

    pub fn is_others(&self) -> bool {
        self.code.is_none()
    }
}

impl CubeResult {
    /// The values of row `row` in the first column, missing ones as zero.
    fn values(&self, row: usize, measures: usize) -> Vec<Decimal> {
        let cell = self.cells.iter().find(|c| c.row == row && c.column == 0);
        (0..measures)
            .map(|i| {
                cell.and_then(|c| c.values.get(i).copied().flatten())
                    .unwrap_or(Decimal::ZERO)
            })
            .collect()
    }

    /// The members and the others, in the answer's order, each with `measures` values.
    pub fn entries(&self, measures: usize) -> Vec<Entry> {
        self.rows
            .iter()
            .enumerate()
            .filter(|(_, h)| matches!(h.kind, Kind::Member | Kind::Others))
            .map(|(i, header)| {
                let innermost = header.members.last();
                Entry {
                    code: if header.kind == Kind::Others {
                        None
                    } else {
                        innermost.and_then(|m| m.code.clone())
                    },
                    label: innermost.map(|m| m.label.clone()).unwrap_or_default(),
                    values: self.values(i, measures),
                }
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_and_others_are_read_from_the_single_column() {
        let answer: CubeResult = serde_json::from_value(json!({
            "rows": [
                { "kind": "MEMBER", "members": [{ "code": "CN", "label": "China" }] },
                { "kind": "MEMBER", "members": [{ "code": "US", "label": "United States" }] },
                { "kind": "OTHERS", "members": [{ "code": null, "label": "Others" }] },
                { "kind": "TOTAL", "members": [] }
            ],
            "cells": [
                { "row": 0, "column": 0, "values": ["1200.50", "3"] },
                { "row": 2, "column": 0, "values": ["99", null] },
                { "row": 3, "column": 0, "values": ["1299.50", "4"] }
            ]
        }))
        .unwrap();
        let entries = answer.entries(2);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].code.as_deref(), Some("CN"));
        assert_eq!(entries[0].label, "China");
        assert_eq!(entries[0].value(0), "1200.50".parse::<Decimal>().unwrap());
        // A row without a cell, and a null value, read as zero.
        assert_eq!(entries[1].values, vec![Decimal::ZERO, Decimal::ZERO]);
        assert!(entries[2].is_others());
        assert_eq!(entries[2].value(1), Decimal::ZERO);
    }

    #[test]
    fn an_empty_answer_has_no_entries() {
        let answer: CubeResult = serde_json::from_value(json!({
            "rows": [{ "kind": "TOTAL", "members": [] }],
            "cells": []
        }))
        .unwrap();
        assert!(answer.entries(1).is_empty());
    }
}
