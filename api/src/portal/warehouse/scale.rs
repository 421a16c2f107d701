//! The value axis of a chart: its domain (zero and the data's extremes, so the largest bar spans
//! the plot) and "nice" ticks inside it, multiples of 1, 2 or 5 × 10ⁿ, computed in exact
//! decimals so a tick reads `0.3`, never `0.30000000000000004`.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;

/// A linear scale from `lo` to `hi` (`lo ≤ 0 ≤ hi`, `lo < hi`), with its ticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scale {
    pub lo: Decimal,
    pub hi: Decimal,
    /// Nice values within `lo..=hi`, ascending, zero among them.
    pub ticks: Vec<Decimal>,
}

impl Scale {
    /// The scale for `values`: from the smallest (or zero) to the largest (or zero), with about
    /// `target` ticks. No values, or only zeros, give `0..=1`.
    pub fn for_values(values: impl IntoIterator<Item = Decimal>, target: u32) -> Self {
        let (lo, hi) = values
            .into_iter()
            .fold((Decimal::ZERO, Decimal::ZERO), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        let (lo, hi) = if lo == hi {
            (Decimal::ZERO, Decimal::ONE)
        } else {
            (lo, hi)
        };
        Self {
            lo,
            hi,
            ticks: nice_ticks(lo, hi, target),
        }
    }

    /// Where `value` falls, as a fraction of the way from `lo` (0.0) to `hi` (1.0); for pixel
    /// geometry only.
    pub fn fraction(&self, value: Decimal) -> f64 {
        let span = self.hi - self.lo;
        let at = (value - self.lo).checked_div(span).unwrap_or(Decimal::ZERO);
        at.to_f64().unwrap_or(0.0).clamp(0.0, 1.0)
    }
}

/// Nice tick values within `lo..=hi` (`lo < hi`): multiples of a step of 1, 2 or 5 × 10ⁿ chosen
/// so that about `target` of them fit, always including zero when it lies in the range.
pub fn nice_ticks(lo: Decimal, hi: Decimal, target: u32) -> Vec<Decimal> {
    if lo >= hi {
        return vec![lo];
    }
    let step = nice_step((hi - lo) / Decimal::from(target.max(1)));
    let mut tick = (lo / step).ceil() * step;
    let mut ticks = Vec::new();
    // At most a few dozen: the step is at least a fifth of span / target.
    while tick <= hi && ticks.len() < 100 {
        ticks.push(tick.normalize());
        tick += step;
    }
    ticks
}

/// The nice number nearest `raw` (> 0): 1, 2, 5 or 10 times a power of ten.
pub fn nice_step(raw: Decimal) -> Decimal {
    let raw = raw.abs();
    if raw.is_zero() {
        return Decimal::ONE;
    }
    let power = power_of_ten(exponent(raw));
    let fraction = raw / power;
    let nice = if fraction < Decimal::new(15, 1) {
        Decimal::ONE
    } else if fraction < Decimal::from(3) {
        Decimal::TWO
    } else if fraction < Decimal::from(7) {
        Decimal::from(5)
    } else {
        Decimal::TEN
    };
    nice * power
}

/// ⌊log₁₀ x⌋ for `x > 0`, exactly: the digits of the mantissa less the scale.
fn exponent(x: Decimal) -> i64 {
    let digits = x.mantissa().unsigned_abs().to_string().len();
    i64::try_from(digits).unwrap_or(0) - 1 - i64::from(x.scale())
}

/// 10ⁿ, within what a decimal holds (n from −28 to 28).
fn power_of_ten(n: i64) -> Decimal {
    let n = n.clamp(-28, 28);
    if n < 0 {
        Decimal::new(1, u32::try_from(-n).unwrap_or(28))
    } else {
        (0..n).fold(Decimal::ONE, |p, _| p * Decimal::TEN)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn ds(texts: &[&str]) -> Vec<Decimal> {
        texts.iter().map(|t| d(t)).collect()
    }

    #[test]
    fn steps_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_step(d("246.8")), d("200"));
        assert_eq!(nice_step(d("0.031")), d("0.05"));
        assert_eq!(nice_step(d("0.025")), d("0.02"));
        assert_eq!(nice_step(d("7.2")), d("10"));
        assert_eq!(nice_step(d("4")), d("5"));
        assert_eq!(nice_step(d("1")), d("1"));
        assert_eq!(nice_step(d("1450000000")), d("1000000000"));
    }

    #[test]
    fn ticks_are_round_values_from_zero_within_the_range() {
        assert_eq!(
            nice_ticks(d("0"), d("1234"), 5),
            ds(&["0", "200", "400", "600", "800", "1000", "1200"])
        );
        assert_eq!(
            nice_ticks(d("0"), d("1"), 5),
            ds(&["0", "0.2", "0.4", "0.6", "0.8", "1"])
        );
        assert_eq!(
            nice_ticks(d("0"), d("0.9"), 5),
            ds(&["0", "0.2", "0.4", "0.6", "0.8"])
        );
    }

    #[test]
    fn ticks_cross_zero_for_negative_values() {
        assert_eq!(
            nice_ticks(d("-150"), d("420"), 5),
            ds(&["-100", "0", "100", "200", "300", "400"])
        );
    }

    #[test]
    fn a_scale_spans_zero_and_the_extremes() {
        let scale = Scale::for_values(ds(&["120", "7.5", "980"]), 5);
        assert_eq!((scale.lo, scale.hi), (d("0"), d("980")));
        assert_eq!(scale.fraction(d("980")), 1.0);
        assert_eq!(scale.fraction(d("0")), 0.0);
        assert!((scale.fraction(d("490")) - 0.5).abs() < 1e-12);
        let negative = Scale::for_values(ds(&["-50", "-200"]), 5);
        assert_eq!((negative.lo, negative.hi), (d("-200"), d("0")));
        assert_eq!(negative.fraction(d("0")), 1.0);
    }

    #[test]
    fn nothing_or_zeros_give_a_unit_scale() {
        for values in [vec![], ds(&["0", "0"])] {
            let scale = Scale::for_values(values, 5);
            assert_eq!((scale.lo, scale.hi), (d("0"), d("1")));
            assert_eq!(scale.ticks.first(), Some(&d("0")));
        }
    }

    #[test]
    fn every_tick_lies_in_the_range_and_zero_is_one() {
        for (lo, hi) in [("0", "3"), ("0", "77777"), ("-5", "5"), ("0", "0.0042")] {
            let ticks = nice_ticks(d(lo), d(hi), 5);
            assert!(
                ticks.len() >= 2 && ticks.len() <= 11,
                "{lo}..{hi}: {ticks:?}"
            );
            assert!(ticks.iter().all(|t| *t >= d(lo) && *t <= d(hi)));
            assert!(ticks.contains(&Decimal::ZERO));
            assert!(ticks.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
