//! Charts as server-rendered SVG: data in, markup out, no script. Styled by classes of the
//! portal's stylesheet (the Content-Security-Policy allows no inline style), sized by a
//! `viewBox` so they scale with the page.
//!
//! Each chart is an `<svg role="img">` named by its `<title>` and `<desc>`; every bar carries
//! its own `<title>` (a tooltip, and what a screen reader exploring the image hears) and its
//! exact value in `data-value`. The page puts a table with the same figures under each chart.
//!
//! Every SVG element is written with an end tag: in HTML, `<rect>` without one would swallow
//! its siblings (only `/>` or `</rect>` closes it).

use maud::{Markup, html};
use rust_decimal::Decimal;

use super::number::{compact, grouped, percent};
use super::scale::Scale;

/// The drawing's width in user units; heights vary by chart.
const WIDTH: f64 = 720.0;
/// About this many ticks on a value axis.
const TICKS: u32 = 5;
/// Characters of a label shown beside a horizontal bar; longer ones end in "…".
const LABEL_CHARS: usize = 30;

/// What names a chart: an id (unique on the page), its title, a sentence describing it, and
/// the text shown in place of bars when there are none.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub desc: &'a str,
    pub no_data: &'a str,
}

/// One bar: a short label for the axis (`2024-03`, `CN`), a longer name for tooltips and
/// horizontal bars (`CN China`), the value, and whether it stands for "all the others".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    pub label: String,
    pub name: String,
    pub value: Decimal,
    pub others: bool,
}

/// One part of a whole (a lane's items), drawn in `class` (`green`, `yellow`, `red`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub label: String,
    pub value: Decimal,
    pub class: &'static str,
}

/// A coordinate, to a tenth of a unit.
fn px(v: f64) -> String {
    format!("{v:.1}")
}

/// The `<svg>` around a chart's drawing, with its title and description.
fn frame(frame: &Frame<'_>, height: f64, drawing: Markup) -> Markup {
    let title_id = format!("{}-title", frame.id);
    let desc_id = format!("{}-desc", frame.id);
    html! {
        svg.chart #(frame.id) role="img" aria-labelledby={ (title_id) " " (desc_id) }
            viewBox={ "0 0 " (px(WIDTH)) " " (px(height)) } xmlns="http://www.w3.org/2000/svg" {
            title #(title_id) { (frame.title) }
            desc #(desc_id) { (frame.desc) }
            (drawing)
        }
    }
}

/// "No data" in the middle of an empty plot.
fn no_data(frame: &Frame<'_>, x: f64, y: f64) -> Markup {
    html! { text.no-data x=(px(x)) y=(px(y)) text-anchor="middle" { (frame.no_data) } }
}

/// A part's exact value, grouped: `3,100`.
fn exact(value: Decimal) -> String {
    let value = value.normalize();
    grouped(value, value.scale())
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= LABEL_CHARS {
        text.to_owned()
    } else {
        let kept: String = text.chars().take(LABEL_CHARS - 1).collect();
        format!("{}…", kept.trim_end())
    }
}

/// Vertical bars in order (months along the bottom), the value axis on the left with its
/// gridlines; labels under every k-th bar so they never overlap.
pub fn columns(f: &Frame<'_>, bars: &[Bar]) -> Markup {
    const HEIGHT: f64 = 320.0;
    const LEFT: f64 = 64.0;
    const RIGHT: f64 = 12.0;
    const TOP: f64 = 16.0;
    const BOTTOM: f64 = 36.0;
    /// Room one label takes along the axis (`2024-03` at the chart's font size).
    const LABEL_ROOM: f64 = 56.0;
    const MAX_BAR: f64 = 48.0;
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let scale = Scale::for_values(bars.iter().map(|b| b.value), TICKS);
    let y = |v: Decimal| TOP + plot_h * (1.0 - scale.fraction(v));
    let zero = y(Decimal::ZERO);
    let count = bars.len().max(1) as f64;
    let slot = plot_w / count;
    // A few bars stay bars, not blocks.
    let bar_w = (slot * 0.7).min(MAX_BAR);
    let every = ((LABEL_ROOM / slot).ceil() as usize).max(1);
    let drawing = html! {
        g.grid {
            @for tick in &scale.ticks {
                line x1=(px(LEFT)) x2=(px(LEFT + plot_w)) y1=(px(y(*tick))) y2=(px(y(*tick))) {}
            }
        }
        g.ticks {
            @for tick in &scale.ticks {
                text x=(px(LEFT - 6.0)) y=(px(y(*tick) + 4.0)) text-anchor="end" { (compact(*tick)) }
            }
        }
        @if bars.is_empty() {
            (no_data(f, LEFT + plot_w / 2.0, TOP + plot_h / 2.0))
        }
        g.bars {
            @for (i, bar) in bars.iter().enumerate() {
                @let top = y(bar.value).min(zero);
                rect.bar.others[bar.others] data-value=(bar.value)
                    x=(px(LEFT + slot * (i as f64 + 0.5) - bar_w / 2.0)) y=(px(top))
                    width=(px(bar_w)) height=(px((y(bar.value) - zero).abs())) {
                    title { (bar.name) ": " (compact(bar.value)) }
                }
            }
        }
        g.labels {
            @for (i, bar) in bars.iter().enumerate() {
                @if i % every == 0 {
                    text x=(px(LEFT + slot * (i as f64 + 0.5))) y=(px(TOP + plot_h + 18.0)) text-anchor="middle" { (bar.label) }
                }
            }
        }
        line.axis x1=(px(LEFT)) x2=(px(LEFT + plot_w)) y1=(px(zero)) y2=(px(zero)) {}
    };
    frame(f, HEIGHT, drawing)
}

/// Horizontal bars, one a row, largest first as given: the name on the left, the value at the
/// bar's end, the value axis along the top.
pub fn bars(f: &Frame<'_>, bars: &[Bar]) -> Markup {
    const LEFT: f64 = 210.0;
    const RIGHT: f64 = 72.0;
    const TOP: f64 = 24.0;
    const ROW: f64 = 26.0;
    const BOTTOM: f64 = 8.0;
    let rows = bars.len().max(2) as f64;
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, rows * ROW);
    let height = TOP + plot_h + BOTTOM;
    let scale = Scale::for_values(bars.iter().map(|b| b.value), TICKS);
    let x = |v: Decimal| LEFT + plot_w * scale.fraction(v);
    let zero = x(Decimal::ZERO);
    let drawing = html! {
        g.grid {
            @for tick in &scale.ticks {
                line x1=(px(x(*tick))) x2=(px(x(*tick))) y1=(px(TOP)) y2=(px(TOP + plot_h)) {}
            }
        }
        g.ticks {
            @for tick in &scale.ticks {
                text x=(px(x(*tick))) y=(px(TOP - 8.0)) text-anchor="middle" { (compact(*tick)) }
            }
        }
        @if bars.is_empty() {
            (no_data(f, LEFT + plot_w / 2.0, TOP + plot_h / 2.0))
        }
        @for (i, bar) in bars.iter().enumerate() {
            @let row_top = TOP + ROW * i as f64;
            @let end = x(bar.value);
            g.row.others[bar.others] {
                text.label x=(px(LEFT - 8.0)) y=(px(row_top + ROW / 2.0 + 4.0)) text-anchor="end" { (shorten(&bar.name)) }
                rect.bar.others[bar.others] data-value=(bar.value)
                    x=(px(end.min(zero))) y=(px(row_top + 4.0))
                    width=(px((end - zero).abs())) height=(px(ROW - 8.0)) {
                    title { (bar.name) ": " (compact(bar.value)) }
                }
                text.value x=(px(end.max(zero) + 4.0)) y=(px(row_top + ROW / 2.0 + 4.0)) { (compact(bar.value)) }
            }
        }
        line.axis x1=(px(zero)) x2=(px(zero)) y1=(px(TOP)) y2=(px(TOP + plot_h)) {}
    };
    frame(f, height, drawing)
}

/// One bar of the whole, split into its parts by share (negative parts count as none), each
/// labelled with its percentage when there is room, and a legend under it.
pub fn stacked(f: &Frame<'_>, parts: &[Part]) -> Markup {
    const HEIGHT: f64 = 110.0;
    const LEFT: f64 = 8.0;
    const TOP: f64 = 8.0;
    const BAR: f64 = 48.0;
    /// A part narrower than this shows its percentage in the legend only.
    const LABEL_ROOM: f64 = 56.0;
    const LEGEND_ITEM: f64 = 236.0;
    let plot_w = WIDTH - 2.0 * LEFT;
    let values: Vec<Decimal> = parts.iter().map(|p| p.value.max(Decimal::ZERO)).collect();
    let total: Decimal = values.iter().sum();
    let scale = Scale::for_values([total], TICKS);
    let mut start = Decimal::ZERO;
    let segments: Vec<(f64, f64)> = values
        .iter()
        .map(|v| {
            let from = LEFT + plot_w * scale.fraction(start);
            start += *v;
            (from, LEFT + plot_w * scale.fraction(start) - from)
        })
        .collect();
    let drawing = html! {
        @if total.is_zero() {
            rect.empty x=(px(LEFT)) y=(px(TOP)) width=(px(plot_w)) height=(px(BAR)) {}
            (no_data(f, LEFT + plot_w / 2.0, TOP + BAR / 2.0 + 5.0))
        }
        @for (part, (value, (from, width))) in parts.iter().zip(values.iter().zip(&segments)) {
            @if !value.is_zero() {
                rect.(format!("seg {}", part.class)) data-value=(part.value)
                    x=(px(*from)) y=(px(TOP)) width=(px(*width)) height=(px(BAR)) {
                    title { (part.label) ": " (percent(*value, total)) }
                }
                @if *width >= LABEL_ROOM {
                    text.share x=(px(from + width / 2.0)) y=(px(TOP + BAR / 2.0 + 5.0)) text-anchor="middle" { (percent(*value, total)) }
                }
            }
        }
        g.legend {
            @for (i, (part, value)) in parts.iter().zip(&values).enumerate() {
                @let at = LEFT + LEGEND_ITEM * i as f64;
                rect.(format!("seg {}", part.class)) x=(px(at)) y=(px(TOP + BAR + 22.0)) width="14" height="14" {}
                text x=(px(at + 20.0)) y=(px(TOP + BAR + 34.0)) {
                    (part.label) " " (percent(*value, total)) " (" (exact(part.value)) ")"
                }
            }
        }
    };
    frame(f, HEIGHT, drawing)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    const FRAME: Frame<'static> = Frame {
        id: "c",
        title: "Customs value",
        desc: "By month",
        no_data: "No data",
    };

    fn bar(label: &str, value: &str) -> Bar {
        Bar {
            label: label.to_owned(),
            name: format!("{label} name"),
            value: d(value),
            others: false,
        }
    }

    /// The attributes of every `<rect class="bar…">`, in order.
    fn rects(svg: &str, class: &str) -> Vec<Vec<(String, String)>> {
        svg.split("<rect ")
            .skip(1)
            .filter(|r| r.starts_with(&format!("class=\"{class}")))
            .map(|r| {
                let tag = r.split('>').next().unwrap();
                tag.split("\" ")
                    .filter_map(|pair| pair.split_once("=\""))
                    .map(|(k, v)| (k.trim().to_owned(), v.trim_end_matches('"').to_owned()))
                    .collect()
            })
            .collect()
    }

    fn attr(rect: &[(String, String)], name: &str) -> f64 {
        rect.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.parse().unwrap())
            .unwrap()
    }

    #[test]
    fn columns_scale_to_their_values_and_the_largest_spans_the_plot() {
        let svg = columns(
            &FRAME,
            &[
                bar("2024-01", "250"),
                bar("2024-02", "1000"),
                bar("2024-03", "500"),
            ],
        )
        .into_string();
        let heights: Vec<f64> = rects(&svg, "bar")
            .iter()
            .map(|r| attr(r, "height"))
            .collect();
        // The plot is 320 - 16 - 36 = 268 high.
        assert_eq!(heights, vec![67.0, 268.0, 134.0]);
        let tops: Vec<f64> = rects(&svg, "bar").iter().map(|r| attr(r, "y")).collect();
        assert_eq!(tops[1], 16.0, "the largest bar reaches the top of the plot");
        // Three slots of 644 / 3 units: bars at most 48 wide, centred in their slots.
        let xs: Vec<f64> = rects(&svg, "bar").iter().map(|r| attr(r, "x")).collect();
        let widths: Vec<f64> = rects(&svg, "bar")
            .iter()
            .map(|r| attr(r, "width"))
            .collect();
        assert_eq!(widths, vec![48.0; 3]);
        assert_eq!(xs, vec![147.3, 362.0, 576.7]);
        assert!(svg.contains("data-value=\"1000\""));
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title id=\"c-title\">Customs value</title>"));
        assert!(svg.contains("<desc id=\"c-desc\">By month</desc>"));
        assert!(svg.contains("aria-labelledby=\"c-title c-desc\""));
        assert!(svg.contains("<title>2024-02 name: 1 k</title>"));
    }

    #[test]
    fn columns_have_nice_ticks_and_labels_that_do_not_crowd() {
        let many: Vec<Bar> = (1..=24)
            .map(|m| bar(&format!("m{m:02}"), &format!("{}", m * 1000)))
            .collect();
        let svg = columns(&FRAME, &many).into_string();
        for tick in ["0", "5 k", "10 k", "15 k", "20 k"] {
            assert!(
                svg.contains(&format!(">{tick}</text>")),
                "tick {tick}: {svg}"
            );
        }
        // 24 slots of 27 units: every third month labelled.
        assert!(svg.contains(">m01</text>") && svg.contains(">m04</text>"));
        assert!(!svg.contains(">m02</text>") && !svg.contains(">m03</text>"));
    }

    #[test]
    fn negative_columns_hang_below_the_zero_line() {
        let svg = columns(&FRAME, &[bar("a", "300"), bar("b", "-100")]).into_string();
        let bars = rects(&svg, "bar");
        // Zero sits at 3/4 of the 268-unit plot: 16 + 201.
        assert_eq!(attr(&bars[0], "y"), 16.0);
        assert_eq!(attr(&bars[0], "height"), 201.0);
        assert_eq!(attr(&bars[1], "y"), 217.0);
        assert_eq!(attr(&bars[1], "height"), 67.0);
    }

    #[test]
    fn no_bars_or_only_zeros_draw_an_empty_plot_not_a_broken_one() {
        let empty = columns(&FRAME, &[]).into_string();
        assert!(empty.contains(">No data</text>"));
        assert!(rects(&empty, "bar").is_empty());
        assert!(!empty.contains("NaN") && !empty.contains("inf"));
        let zeros = bars(&FRAME, &[bar("a", "0"), bar("b", "0")]).into_string();
        assert!(rects(&zeros, "bar").iter().all(|r| attr(r, "width") == 0.0));
        assert!(!zeros.contains("NaN"));
        let nothing = stacked(&FRAME, &[]).into_string();
        assert!(nothing.contains(">No data</text>"));
        assert!(!nothing.contains("NaN"));
    }

    #[test]
    fn horizontal_bars_scale_from_the_name_column_and_others_stand_apart() {
        let mut others = bar("others", "100");
        others.others = true;
        let svg = bars(&FRAME, &[bar("CN", "400"), bar("US", "200"), others]).into_string();
        let widths: Vec<f64> = rects(&svg, "bar")
            .iter()
            .map(|r| attr(r, "width"))
            .collect();
        // The plot runs from 210 to 720 - 72 = 648: 438 wide.
        assert_eq!(widths, vec![438.0, 219.0, 109.5]);
        assert!(rects(&svg, "bar").iter().all(|r| attr(r, "x") == 210.0));
        assert_eq!(rects(&svg, "bar others").len(), 1);
        assert!(svg.contains(">CN name</text>"));
        assert!(svg.contains(">400</text>"));
    }

    #[test]
    fn labels_are_escaped_and_long_ones_shortened() {
        let mut evil = bar("<script>", "5");
        evil.name = "<b>\"&amp\" and a name far too long to fit".to_owned();
        let svg = bars(&FRAME, &[evil.clone()]).into_string();
        assert!(!svg.contains("<b>") && !svg.contains("<script>"));
        assert!(svg.contains("&lt;b&gt;&quot;&amp;amp&quot; and a name far too…"));
        let svg = columns(&FRAME, &[evil]).into_string();
        assert!(svg.contains(">&lt;script&gt;</text>"));
        let frame = Frame {
            title: "<i>",
            desc: "a & b",
            ..FRAME
        };
        let svg = stacked(&frame, &[]).into_string();
        assert!(svg.contains("<title id=\"c-title\">&lt;i&gt;</title>"));
        assert!(svg.contains("a &amp; b"));
    }

    #[test]
    fn a_stacked_bar_splits_the_width_by_share() {
        let part = |label: &str, value: &str, class| Part {
            label: label.to_owned(),
            value: d(value),
            class,
        };
        let svg = stacked(
            &FRAME,
            &[
                part("Green", "6000", "green"),
                part("Yellow", "3000", "yellow"),
                part("Red", "1000", "red"),
            ],
        )
        .into_string();
        let segments = rects(&svg, "seg");
        // The bar is 704 wide from 8; the legend squares follow the three segments.
        let widths: Vec<f64> = segments[..3].iter().map(|r| attr(r, "width")).collect();
        assert_eq!(widths, vec![422.4, 211.2, 70.4]);
        let xs: Vec<f64> = segments[..3].iter().map(|r| attr(r, "x")).collect();
        assert_eq!(xs, vec![8.0, 430.4, 641.6]);
        assert!(svg.contains("Green 60.0 % (6,000)"));
        for share in ["60.0 %", "30.0 %", "10.0 %"] {
            assert!(svg.contains(share), "{share}");
        }
        // A part of nothing has no segment but keeps its legend entry.
        let svg = stacked(
            &FRAME,
            &[part("Green", "2", "green"), part("Red", "0", "red")],
        )
        .into_string();
        assert_eq!(rects(&svg, "seg red").len(), 1);
        assert!(svg.contains("Red 0.0 % (0)"));
        assert!(svg.contains(">100.0 %</text>"));
    }
}
