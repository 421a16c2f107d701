//! The warehouse page's HTML: the period form, and for each chart its heading, the SVG, a table
//! with the same figures and the link to download them. Pure: figures in, markup out.

use maud::{Markup, html};
use rust_decimal::Decimal;

use super::chart::{self, Bar, Frame, Part};
use super::data::Entry;
use super::number::{compact, count, money, percent};
use super::period::Period;
use super::{CV, Figures, ITEMS};
use crate::portal::page::{Problem, error_summary};
use crate::portal::texts::Texts;

/// The period form as entered (kept as typed when it is refused).
#[derive(Debug, Clone, Default)]
pub struct Entered {
    pub from: String,
    pub to: String,
}

/// The page's body: the form with its problems, then the charts, or why there are none.
pub fn body(
    t: &Texts,
    entered: &Entered,
    problems: &[Problem],
    figures: Option<&Figures>,
) -> Markup {
    html! {
        h1 { (t.warehouse_title) }
        p { (t.warehouse_intro) }
        (error_summary(t, problems))
        (form(t, entered, problems))
        @if problems.is_empty() {
            @match figures {
                None => p.notice { (t.warehouse_empty) },
                Some(figures) => (charts(t, figures)),
            }
        }
    }
}

fn form(t: &Texts, entered: &Entered, problems: &[Problem]) -> Markup {
    let problem = |id: &str| {
        problems
            .iter()
            .find(|p| p.field_id.as_deref() == Some(id))
            .map(|p| p.message.as_str())
    };
    let field = |id: &'static str, name: &'static str, label: &str, value: &str| {
        let error = problem(id);
        html! {
            div.field.short.has-error[error.is_some()] {
                label for=(id) { (label) }
                @if let Some(error) = error {
                    p.field-error id={ (id) "-error" } { (error) }
                }
                input #(id) type="month" name=(name) value=(value) placeholder="YYYY-MM"
                    pattern="[0-9]{4}-[0-9]{2}"
                    aria-describedby={ "w-period-hint" @if error.is_some() { " " (id) "-error" } }
                    aria-invalid=[error.map(|_| "true")];
            }
        }
    };
    html! {
        form.filters method="get" action="/portal/warehouse" {
            fieldset {
                legend { (t.period_legend) }
                p.hint #w-period-hint { (t.month_hint) }
                div.grid {
                    (field("w-from", "from", t.month_from, &entered.from))
                    (field("w-to", "to", t.month_to, &entered.to))
                }
                button.secondary type="submit" { (t.show_period) }
            }
        }
    }
}

/// `{from}`, `{to}` and the other placeholders of a description, filled.
fn fill(template: &str, period: Period, pairs: &[(&str, &str)]) -> String {
    let mut text = template
        .replace("{from}", &period.from.to_string())
        .replace("{to}", &period.to.to_string());
    for (key, value) in pairs {
        text = text.replace(&format!("{{{key}}}"), value);
    }
    text
}

/// The code and name of a member as one label: `CN China`; a chapter as `Chapter 84`; the
/// others as "Others".
fn name(t: &Texts, entry: &Entry, chapter: bool) -> String {
    match (&entry.code, chapter) {
        (None, _) => t.others.to_owned(),
        (Some(code), true) => format!("{} {code}", t.chapter),
        (Some(code), false) if *code == entry.label => code.clone(),
        (Some(code), false) => format!("{code} {}", entry.label),
    }
}

/// The largest entry's name and value (by customs value), for a description.
fn largest(t: &Texts, entries: &[Entry], chapter: bool) -> (String, String) {
    entries
        .iter()
        .filter(|e| !e.is_others())
        .max_by_key(|e| e.value(CV))
        .map(|e| (name(t, e, chapter), compact(e.value(CV))))
        .unwrap_or_else(|| ("—".to_owned(), compact(Decimal::ZERO)))
}

fn charts(t: &Texts, f: &Figures) -> Markup {
    let query = serde_urlencoded::to_string([
        ("from", f.period.from.to_string()),
        ("to", f.period.to.to_string()),
    ])
    .unwrap_or_default();
    html! {
        p.period { (fill(t.period_shown, f.period, &[])) }
        @if f.total[ITEMS].is_zero() {
            p.notice { (t.period_empty) }
        }
        (months(t, f, &query))
        (breakdown(t, f, &f.origins, false, &query))
        (breakdown(t, f, &f.chapters, true, &query))
        (lanes(t, f, &query))
    }
}

/// A chart's section: heading, picture, the figures in a table, the download.
fn section(t: &Texts, id: &str, title: &str, svg: Markup, table: Markup, csv: &str) -> Markup {
    html! {
        section.chart-panel aria-labelledby={ (id) "-h" } {
            h2 #{ (id) "-h" } { (title) }
            (svg)
            details.figures {
                summary { (t.the_figures) }
                div.table-wrap { (table) }
            }
            p.download { a href=(csv) download { (t.download_csv) } }
        }
    }
}

fn months(t: &Texts, f: &Figures, query: &str) -> Markup {
    let (top, top_value) = f
        .months
        .iter()
        .max_by_key(|e| e.value(CV))
        .map(|e| (e.label.clone(), compact(e.value(CV))))
        .unwrap_or_default();
    let total = compact(f.total[CV]);
    let desc = fill(
        t.chart_months_desc,
        f.period,
        &[("total", &total), ("top", &top), ("top_value", &top_value)],
    );
    let frame = Frame {
        id: "chart-months",
        title: t.chart_months,
        desc: &desc,
        no_data: t.no_data,
    };
    let bars: Vec<Bar> = f
        .months
        .iter()
        .map(|e| Bar {
            label: e.label.clone(),
            name: e.label.clone(),
            value: e.value(CV),
            others: false,
        })
        .collect();
    let table = html! {
        table.figures {
            thead { tr { th scope="col" { (t.month) } th.num scope="col" { (t.customs_value) } th.num scope="col" { (t.items) } } }
            tbody {
                @for e in &f.months {
                    tr { th scope="row" { (e.label) } td.num { (money(e.value(CV))) } td.num { (count(e.value(ITEMS))) } }
                }
            }
            tfoot { tr { th scope="row" { (t.total) } td.num { (money(f.total[CV])) } td.num { (count(f.total[ITEMS])) } } }
        }
    };
    let csv = format!("/portal/warehouse/months.csv?{query}");
    section(
        t,
        "chart-months",
        t.chart_months,
        chart::columns(&frame, &bars),
        table,
        &csv,
    )
}

/// Origins (`chapter` false) or HS chapters: the top ten and the others as horizontal bars.
fn breakdown(t: &Texts, f: &Figures, entries: &[Entry], chapter: bool, query: &str) -> Markup {
    let (id, title, template, heading, file) = if chapter {
        (
            "chart-chapters",
            t.chart_chapters,
            t.chart_chapters_desc,
            t.hs_chapter,
            "chapters",
        )
    } else {
        (
            "chart-origins",
            t.chart_origins,
            t.chart_origins_desc,
            t.origin_country,
            "origins",
        )
    };
    let (top, top_value) = largest(t, entries, chapter);
    let desc = fill(
        template,
        f.period,
        &[("top", &top), ("top_value", &top_value)],
    );
    let frame = Frame {
        id,
        title,
        desc: &desc,
        no_data: t.no_data,
    };
    let bars: Vec<Bar> = entries
        .iter()
        .map(|e| Bar {
            label: e.code.clone().unwrap_or_else(|| t.others.to_owned()),
            name: name(t, e, chapter),
            value: e.value(CV),
            others: e.is_others(),
        })
        .collect();
    let table = html! {
        table.figures {
            thead { tr {
                th scope="col" { (heading) }
                th.num scope="col" { (t.customs_value) }
                th.num scope="col" { (t.share) }
                th.num scope="col" { (t.items) }
            } }
            tbody {
                @for e in entries {
                    tr {
                        th scope="row" { (name(t, e, chapter)) }
                        td.num { (money(e.value(CV))) }
                        td.num { (percent(e.value(CV), f.total[CV])) }
                        td.num { (count(e.value(ITEMS))) }
                    }
                }
            }
            tfoot { tr {
                th scope="row" { (t.total) }
                td.num { (money(f.total[CV])) }
                td.num { (percent(f.total[CV], f.total[CV])) }
                td.num { (count(f.total[ITEMS])) }
            } }
        }
    };
    let csv = format!("/portal/warehouse/{file}.csv?{query}");
    section(t, id, title, chart::bars(&frame, &bars), table, &csv)
}

fn lanes(t: &Texts, f: &Figures, query: &str) -> Markup {
    let lane_name = |e: &Entry| {
        let code = e.code.as_deref().unwrap_or_default().to_uppercase();
        t.label(t.lanes, &code).to_owned()
    };
    let shares: Vec<String> = f
        .lanes
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                lane_name(e),
                percent(e.value(ITEMS), f.total[ITEMS])
            )
        })
        .collect();
    let desc = fill(
        t.chart_lanes_desc,
        f.period,
        &[("shares", &shares.join(", "))],
    );
    let frame = Frame {
        id: "chart-lanes",
        title: t.chart_lanes,
        desc: &desc,
        no_data: t.no_data,
    };
    let parts: Vec<Part> = f
        .lanes
        .iter()
        .map(|e| Part {
            label: lane_name(e),
            value: e.value(ITEMS),
            class: match e.code.as_deref() {
                Some("green") => "green",
                Some("yellow") => "yellow",
                Some("red") => "red",
                _ => "other",
            },
        })
        .collect();
    let table = html! {
        table.figures {
            thead { tr {
                th scope="col" { (t.lane) }
                th.num scope="col" { (t.items) }
                th.num scope="col" { (t.share) }
                th.num scope="col" { (t.customs_value) }
            } }
            tbody {
                @for e in &f.lanes {
                    tr {
                        th scope="row" { (lane_name(e)) }
                        td.num { (count(e.value(ITEMS))) }
                        td.num { (percent(e.value(ITEMS), f.total[ITEMS])) }
                        td.num { (money(e.value(CV))) }
                    }
                }
            }
        }
    };
    let csv = format!("/portal/warehouse/lanes.csv?{query}");
    section(
        t,
        "chart-lanes",
        t.chart_lanes,
        chart::stacked(&frame, &parts),
        table,
        &csv,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::portal::texts::EN;
    use crate::portal::warehouse::period::Month;

    fn entry(code: Option<&str>, label: &str, cv: &str, items: i64) -> Entry {
        Entry {
            code: code.map(str::to_owned),
            label: label.to_owned(),
            values: vec![cv.parse().unwrap(), Decimal::from(items)],
        }
    }

    fn figures() -> Figures {
        Figures {
            period: Period {
                from: Month::parse("2024-01").unwrap(),
                to: Month::parse("2024-02").unwrap(),
            },
            months: vec![
                entry(Some("2024-01"), "2024-01", "1500000.5", 3),
                entry(Some("2024-02"), "2024-02", "0", 0),
            ],
            origins: vec![
                entry(Some("CN"), "China", "1000000", 2),
                entry(None, "Others", "500000.5", 1),
            ],
            chapters: vec![entry(Some("84"), "84", "1500000.5", 3)],
            lanes: vec![
                entry(Some("green"), "green", "1000000", 2),
                entry(Some("yellow"), "yellow", "500000.5", 1),
                entry(Some("red"), "red", "0", 0),
            ],
            total: vec!["1500000.5".parse().unwrap(), Decimal::from(3)],
        }
    }

    #[test]
    fn every_chart_has_its_table_and_download() {
        let html = body(&EN, &Entered::default(), &[], Some(&figures())).into_string();
        assert_eq!(html.matches("<svg class=\"chart\"").count(), 4, "{html}");
        assert_eq!(html.matches("<details class=\"figures\"").count(), 4);
        assert!(html.contains("From 2024-01 to 2024-02."));
        assert!(html.contains("<td class=\"num\">1,500,000.50</td>"));
        assert!(html.contains("<th scope=\"row\">CN China</th>"));
        assert!(html.contains("<th scope=\"row\">Chapter 84</th>"));
        assert!(html.contains("<th scope=\"row\">Others</th>"));
        assert!(html.contains("<td class=\"num\">66.7 %</td>"));
        assert!(html.contains("Green 66.7 %, Yellow 33.3 %, Red 0.0 %"));
        assert!(html.contains("the highest month is 2024-01 with 1.5 m"));
        assert!(
            html.contains("href=\"/portal/warehouse/origins.csv?from=2024-01&amp;to=2024-02\"")
        );
        assert!(!html.contains(EN.warehouse_empty));
    }

    #[test]
    fn an_empty_warehouse_says_so_instead_of_drawing() {
        let html = body(&EN, &Entered::default(), &[], None).into_string();
        assert!(html.contains(EN.warehouse_empty));
        assert!(!html.contains("<svg"));
    }

    #[test]
    fn a_refused_period_is_shown_at_its_field_as_entered() {
        let entered = Entered {
            from: "<b>".to_owned(),
            to: String::new(),
        };
        let problems = [Problem {
            field_id: Some("w-from".to_owned()),
            message: EN.not_a_month.to_owned(),
        }];
        let html = body(&EN, &entered, &problems, Some(&figures())).into_string();
        assert!(html.contains("href=\"#w-from\""));
        assert!(html.contains("id=\"w-from-error\""));
        assert!(html.contains("value=\"&lt;b&gt;\""));
        assert!(html.contains("aria-invalid=\"true\""));
        assert!(html.contains("aria-describedby=\"w-period-hint w-from-error\""));
        assert!(!html.contains("<svg"), "no charts for a refused period");
    }
}
