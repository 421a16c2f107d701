//! A cube result as CSV, for spreadsheets: one line per row header, in display order.
//!
//! Columns: `kind` (`member`, `subtotal`, `others`, `total`), then a code and a label column
//! for each row level, then one column per column header and measure, named
//! `<column codes> | <measure>` (`2020-03 | customsValue`, `total | items`). Values are plain
//! decimals (`1234.50`), empty where a cell has none. Codes and labels that a spreadsheet
//! would run as a formula are defused with a leading `'`.

use projections::warehouse::{CubeResult, Header, HeaderKind};

use crate::portal::defuse;

/// `result` as CSV, a header line first.
pub fn cube_csv(result: &CubeResult) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut line: Vec<String> = vec!["kind".to_owned()];
    for level in &result.rows_levels {
        line.push(level.name().to_owned());
        line.push(format!("{} label", level.name()));
    }
    for column in &result.columns {
        let name = column_name(column);
        for measure in &result.measures {
            line.push(defuse(&format!("{name} | {}", measure.name())));
        }
    }
    // Writing to a Vec fails only on a broken invariant of the csv crate; an empty answer is
    // better than a panic in a resolver.
    if writer.write_record(&line).is_err() {
        return String::new();
    }
    // The cells by (row, column): results hold each non-empty cell once.
    let width = result.columns.len();
    let mut grid: Vec<Option<&[Option<domain::Decimal>]>> = vec![None; result.rows.len() * width];
    for cell in &result.cells {
        if let Some(slot) = grid.get_mut(cell.row * width + cell.column) {
            *slot = Some(&cell.values);
        }
    }
    for (r, row) in result.rows.iter().enumerate() {
        line.clear();
        line.push(kind(row.kind).to_owned());
        for i in 0..result.rows_levels.len() {
            match row.members.get(i) {
                Some(member) => {
                    line.push(defuse(member.code.as_deref().unwrap_or("")));
                    line.push(defuse(&member.label));
                }
                None => {
                    line.push(String::new());
                    line.push(String::new());
                }
            }
        }
        for c in 0..width {
            let values = grid[r * width + c];
            for m in 0..result.measures.len() {
                let value = values.and_then(|v| v.get(m).copied().flatten());
                line.push(value.map(|v| v.to_string()).unwrap_or_default());
            }
        }
        if writer.write_record(&line).is_err() {
            return String::new();
        }
    }
    writer
        .into_inner()
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default()
}

fn kind(kind: HeaderKind) -> &'static str {
    match kind {
        HeaderKind::Member => "member",
        HeaderKind::Subtotal => "subtotal",
        HeaderKind::Others => "others",
        HeaderKind::Total => "total",
    }
}

/// A column header's name: its member codes from the outermost in, `others` for the rest of
/// a top-N, `total` for the grand total; a subtotal's codes end in `subtotal`.
fn column_name(header: &Header) -> String {
    let mut parts: Vec<&str> = header
        .members
        .iter()
        .map(|m| m.code.as_deref().unwrap_or("others"))
        .collect();
    match header.kind {
        HeaderKind::Total => parts.push("total"),
        HeaderKind::Subtotal => parts.push("subtotal"),
        HeaderKind::Member | HeaderKind::Others => {}
    }
    if parts.is_empty() {
        parts.push("total");
    }
    parts.join(" | ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use domain::Decimal;
    use projections::warehouse::{Cell, Level, Measure, Member};

    use super::*;

    fn member(level: Level, code: &str, label: &str) -> Member {
        Member {
            level,
            code: Some(code.to_owned()),
            label: label.to_owned(),
        }
    }

    fn dec(text: &str) -> Option<Decimal> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn a_pivot_becomes_one_line_per_row_with_a_column_per_column_and_measure() {
        let result = CubeResult {
            measures: vec![Measure::CustomsValue, Measure::EffectiveDutyRate],
            rows_levels: vec![Level::HsChapter],
            column_levels: vec![Level::Month],
            rows: vec![
                Header {
                    kind: HeaderKind::Member,
                    members: vec![member(Level::HsChapter, "84", "=Machinery, \"boilers\"")],
                },
                Header {
                    kind: HeaderKind::Total,
                    members: vec![],
                },
            ],
            columns: vec![
                Header {
                    kind: HeaderKind::Member,
                    members: vec![member(Level::Month, "2020-03", "March 2020")],
                },
                Header {
                    kind: HeaderKind::Total,
                    members: vec![],
                },
            ],
            cells: vec![
                Cell {
                    row: 0,
                    column: 0,
                    values: vec![dec("-1000.50"), None],
                },
                Cell {
                    row: 1,
                    column: 1,
                    values: vec![dec("2000"), dec("0.080000")],
                },
            ],
            as_of: None,
        };
        let text = cube_csv(&result);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(
            headers,
            [
                "kind",
                "hsChapter",
                "hsChapter label",
                "2020-03 | customsValue",
                "2020-03 | effectiveDutyRate",
                "total | customsValue",
                "total | effectiveDutyRate",
            ]
        );
        let rows: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        assert_eq!(
            rows[0],
            [
                "member",
                "84",
                "'=Machinery, \"boilers\"",
                "-1000.50",
                "",
                "",
                ""
            ],
            "labels are defused, negative amounts are not"
        );
        assert_eq!(rows[1], ["total", "", "", "", "", "2000", "0.080000"]);
        assert_eq!(rows.len(), 2);
    }
}
