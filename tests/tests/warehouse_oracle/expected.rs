//! What a cube query should answer, computed from the oracle's facts by plain folds: filters,
//! drill, top-N with "others", subtotals, order and the measures, written out again from the
//! specification in `projections/src/warehouse/cube.rs`'s documentation.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use domain::Decimal;
use projections::warehouse::{CubeQuery, CubeResult, HeaderKind, Level, Measure};

use super::fold::{ADD, BACK, CV, DUTY, Fact, INVOICE, MASS, QUANTITY, VAT, section_number};

/// A member on an axis: its sort key (the section number for HS sections, else 0) and code;
/// "others" sorts after every member.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Slot {
    Member(i64, String),
    Others,
}

type Path = Vec<Slot>;

/// A header as compared: its kind and its members' codes (`None` for "others").
pub type HeaderCodes = (HeaderKind, Vec<Option<String>>);

/// A cell's place: its row's and its column's member codes.
pub type CellKey = (Vec<Option<String>>, Vec<Option<String>>);

/// A filter or a drill-down's member: (level, members, from, to).
type Condition = (Level, Vec<String>, Option<String>, Option<String>);

/// The pivot, in comparable form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pivot {
    pub rows_levels: Vec<Level>,
    pub column_levels: Vec<Level>,
    pub rows: Vec<HeaderCodes>,
    pub columns: Vec<HeaderCodes>,
    pub cells: BTreeMap<CellKey, Vec<Option<Decimal>>>,
}

impl Pivot {
    /// The cube's answer in the same form.
    pub fn of(result: &CubeResult) -> Pivot {
        let codes = |h: &projections::warehouse::Header| -> HeaderCodes {
            (h.kind, h.members.iter().map(|m| m.code.clone()).collect())
        };
        let rows: Vec<HeaderCodes> = result.rows.iter().map(codes).collect();
        let columns: Vec<HeaderCodes> = result.columns.iter().map(codes).collect();
        let cells = result
            .cells
            .iter()
            .map(|c| {
                (
                    (rows[c.row].1.clone(), columns[c.column].1.clone()),
                    c.values.clone(),
                )
            })
            .collect();
        Pivot {
            rows_levels: result.rows_levels.clone(),
            column_levels: result.column_levels.clone(),
            rows,
            columns,
            cells,
        }
    }
}

/// The sort key of a member.
pub fn slot(level: Level, code: &str) -> Slot {
    match level {
        Level::HsSection => Slot::Member(section_number(code), code.to_owned()),
        _ => Slot::Member(0, code.to_owned()),
    }
}

/// The next finer level of a hierarchy.
pub fn finer(level: Level) -> Option<Level> {
    use Level::*;
    Some(match level {
        Year => Quarter,
        Quarter => Month,
        Month | Week => Day,
        HsSection => HsChapter,
        HsChapter => HsHeading,
        HsHeading => HsSubheading,
        HsSubheading => HsLine,
        OriginRegion => Origin,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    bases: [i128; 8],
    items: i128,
}

impl Sums {
    fn add(&mut self, fact: &Fact) {
        for (a, b) in self.bases.iter_mut().zip(fact.bases) {
            *a += b;
        }
        self.items += 1;
    }

    fn merge(&mut self, other: &Sums) {
        for (a, b) in self.bases.iter_mut().zip(other.bases) {
            *a += b;
        }
        self.items += other.items;
    }
}

/// `n / d` to `places` decimals, half away from zero; `None` when `d` is 0.
fn ratio(n: i128, d: i128, places: u32) -> Option<Decimal> {
    if d == 0 {
        return None;
    }
    let (n, d) = (n * 10i128.pow(places), d);
    let q = (2 * n.abs() + d.abs()) / (2 * d.abs());
    let q = if (n < 0) != (d < 0) { -q } else { q };
    Some(Decimal::from_i128_with_scale(q, places))
}

fn value(measure: Measure, s: &Sums) -> Option<Decimal> {
    use Measure::*;
    let b = &s.bases;
    let at = |v: i128, scale: u32| Some(Decimal::from_i128_with_scale(v, scale));
    let v = match measure {
        CustomsValue => at(b[CV], 2),
        Duty => at(b[DUTY], 2),
        Vat => at(b[VAT], 2),
        AdditionalTax => at(b[ADD], 2),
        Drawback => at(b[BACK], 2),
        TotalTaxes => at(b[DUTY] + b[VAT] + b[ADD] - b[BACK], 2),
        InvoiceValue => at(b[INVOICE], 2),
        NetMass => at(b[MASS], 3),
        Quantity => at(b[QUANTITY], 3),
        Items => at(s.items, 0),
        // cv/100 ÷ items, to 0.01: cv ÷ items in cents.
        AverageCustomsValue => ratio(b[CV], s.items * 100, 2),
        EffectiveDutyRate => ratio(b[DUTY], b[CV], 6),
        // (cv/100) ÷ (mass/1000) = 10·cv ÷ mass.
        UnitValue => ratio(10 * b[CV], b[MASS], 2),
    };
    v.map(|d| d.normalize())
}

/// `a` before `b` when smaller; no value is smaller than any value.
fn by_value(a: Option<Decimal>, b: Option<Decimal>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(&b),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The pivot `query` should produce over `facts`, or the code of the refusal it should get.
pub fn expected(query: &CubeQuery, facts: &[Fact]) -> Result<Pivot, &'static str> {
    let mut rows = query.rows.clone();
    let mut columns = query.columns.clone();
    // (level, members, from, to)
    let mut conditions: Vec<Condition> = query
        .filters
        .iter()
        .map(|f| {
            (
                f.level.unwrap(),
                f.members.clone(),
                f.from.clone(),
                f.to.clone(),
            )
        })
        .collect();
    if let Some(drill) = &query.drill {
        conditions.push((drill.level, vec![drill.member.clone()], None, None));
        let finer = finer(drill.level).unwrap();
        match rows
            .iter_mut()
            .chain(columns.iter_mut())
            .find(|l| **l == drill.level)
        {
            Some(level) => *level = finer,
            None => rows.push(finer),
        }
    }
    let all: Vec<Level> = rows.iter().chain(&columns).copied().collect();
    if all.iter().collect::<BTreeSet<_>>().len() != all.len() {
        return Err("LEVEL_REPEATED");
    }
    if query.top.is_some() && rows.is_empty() {
        return Err("TOP_WITHOUT_ROWS");
    }
    let kept_facts: Vec<&Fact> = facts
        .iter()
        .filter(|f| {
            conditions.iter().all(|(level, members, from, to)| {
                let code = &f.codes[level];
                let key = slot(*level, code);
                (members.is_empty() || members.contains(code))
                    && from.as_ref().is_none_or(|c| slot(*level, c) <= key)
                    && to.as_ref().is_none_or(|c| key <= slot(*level, c))
            })
        })
        .collect();
    let path = |f: &Fact, levels: &[Level]| -> Path {
        levels.iter().map(|l| slot(*l, &f.codes[l])).collect()
    };

    // Top-N: the first row level's members ranked by the measure over all columns.
    let kept_members: Option<BTreeSet<Slot>> = query.top.map(|top| {
        let mut totals: BTreeMap<Slot, Sums> = BTreeMap::new();
        for f in &kept_facts {
            totals
                .entry(path(f, &rows[..1])[0].clone())
                .or_default()
                .add(f);
        }
        let mut ranked: Vec<(Slot, Option<Decimal>)> = totals
            .iter()
            .map(|(k, s)| (k.clone(), value(top.by, s)))
            .collect();
        ranked.sort_by(|a, b| by_value(b.1, a.1).then_with(|| a.0.cmp(&b.0)));
        ranked
            .into_iter()
            .take(top.n as usize)
            .map(|(k, _)| k)
            .collect()
    });

    let depths = |n: usize| -> Vec<usize> {
        (0..=n)
            .filter(|&d| d == 0 || d == n || query.subtotals)
            .collect()
    };
    let mut sums: BTreeMap<(Path, Path), Sums> = BTreeMap::new();
    for f in &kept_facts {
        let mut row = path(f, &rows);
        if let Some(kept) = &kept_members
            && !kept.contains(&row[0])
        {
            row = vec![Slot::Others];
        }
        let column = path(f, &columns);
        let row_depths = if row == [Slot::Others] {
            vec![0, 1]
        } else {
            depths(rows.len())
        };
        for &rd in &row_depths {
            for &cd in &depths(columns.len()) {
                let mut one = Sums::default();
                one.add(f);
                sums.entry((row[..rd].to_vec(), column[..cd].to_vec()))
                    .or_default()
                    .merge(&one);
            }
        }
    }

    let row_total = |p: &Path| {
        sums.get(&(p.clone(), Vec::new()))
            .copied()
            .unwrap_or_default()
    };
    let row_order = |a: &Path, b: &Path| -> Ordering {
        match query.order.by {
            None if query.order.descending => b.cmp(a),
            None => a.cmp(b),
            Some(m) => {
                let o = by_value(value(m, &row_total(a)), value(m, &row_total(b)));
                let o = if query.order.descending {
                    o.reverse()
                } else {
                    o
                };
                o.then_with(|| a.cmp(b))
            }
        }
    };
    let row_paths = arrange(sums.keys().map(|k| k.0.clone()), query.subtotals, row_order);
    let column_paths = arrange(sums.keys().map(|k| k.1.clone()), query.subtotals, |a, b| {
        a.cmp(b)
    });
    let codes = |p: &Path| -> Vec<Option<String>> {
        p.iter()
            .map(|s| match s {
                Slot::Member(_, code) => Some(code.clone()),
                Slot::Others => None,
            })
            .collect()
    };
    let header = |p: &Path, levels: usize| -> HeaderCodes {
        let kind = if p.is_empty() {
            HeaderKind::Total
        } else if p.last() == Some(&Slot::Others) {
            HeaderKind::Others
        } else if p.len() < levels {
            HeaderKind::Subtotal
        } else {
            HeaderKind::Member
        };
        (kind, codes(p))
    };
    Ok(Pivot {
        rows: row_paths.iter().map(|p| header(p, rows.len())).collect(),
        columns: column_paths
            .iter()
            .map(|p| header(p, columns.len()))
            .collect(),
        cells: sums
            .iter()
            .map(|((r, c), s)| {
                (
                    (codes(r), codes(c)),
                    query.measures.iter().map(|m| value(*m, s)).collect(),
                )
            })
            .collect(),
        rows_levels: rows,
        column_levels: columns,
    })
}

/// The paths of an axis in display order: each path's children (ordered by `order`, "others"
/// last) before it, the total (the empty path) last. Without subtotals the leaves hang from
/// the total.
fn arrange(
    paths: impl Iterator<Item = Path>,
    subtotals: bool,
    order: impl Fn(&Path, &Path) -> Ordering,
) -> Vec<Path> {
    let all: BTreeSet<Path> = paths.collect();
    let mut out = Vec::new();
    fn visit(
        path: &Path,
        all: &BTreeSet<Path>,
        subtotals: bool,
        order: &dyn Fn(&Path, &Path) -> Ordering,
        out: &mut Vec<Path>,
    ) {
        let mut children: Vec<&Path> = all
            .iter()
            .filter(|c| {
                let parent_len = if subtotals || c.len() == 1 || **c == [Slot::Others] {
                    c.len().wrapping_sub(1)
                } else {
                    0
                };
                !c.is_empty() && parent_len == path.len() && c.starts_with(path)
            })
            .collect();
        children.sort_by(|a, b| {
            let others = |p: &Path| p.last() == Some(&Slot::Others);
            others(a).cmp(&others(b)).then_with(|| order(a, b))
        });
        for child in children {
            visit(child, all, subtotals, order, out);
        }
        out.push(path.clone());
    }
    visit(&Vec::new(), &all, subtotals, &order, &mut out);
    out
}
