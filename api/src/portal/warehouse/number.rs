//! Amounts as people read them: thousands separators in tables, compact units on axes and bar
//! ends ("1.23 bn"), and shares as percentages. Exact decimals throughout: rounding happens
//! here, once, for display.

use rust_decimal::{Decimal, RoundingStrategy};

/// `d` rounded to `places` decimals and written with a comma between thousands:
/// `1234567.891` → `1,234,567.89` (two places).
pub fn grouped(d: Decimal, places: u32) -> String {
    let rounded = d.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero);
    let text = format!("{:.*}", places as usize, rounded.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let mut out = String::with_capacity(text.len() + whole.len() / 3 + 1);
    if rounded.is_sign_negative() && !rounded.is_zero() {
        out.push('-');
    }
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

/// A money amount in a table: two decimals, grouped.
pub fn money(d: Decimal) -> String {
    grouped(d, 2)
}

/// A count in a table: whole, grouped.
pub fn count(d: Decimal) -> String {
    grouped(d, 0)
}

const UNITS: [(i64, &str); 3] = [(1_000_000_000, "bn"), (1_000_000, "m"), (1_000, "k")];

/// `d` in the largest unit it reaches (k, m, bn), to about three significant digits, trailing
/// zeros dropped: `1234567` → `1.23 m`, `250000` → `250 k`, `12.5` → `12.5`. Exact for the
/// round values axis ticks take (`1250000` → `1.25 m`).
pub fn compact(d: Decimal) -> String {
    let magnitude = d.abs();
    let (scaled, unit) = UNITS
        .iter()
        .find(|(size, _)| magnitude >= Decimal::from(*size))
        .map_or((d, ""), |(size, unit)| (d / Decimal::from(*size), *unit));
    let places = match scaled.abs() {
        s if s >= Decimal::from(100) => 0,
        s if s >= Decimal::TEN => 1,
        _ => 2,
    };
    let rounded = scaled
        .round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero)
        .normalize();
    let number = grouped(rounded, rounded.scale());
    if unit.is_empty() {
        number
    } else {
        format!("{number} {unit}")
    }
}

/// `part` of `whole` as a percentage to one decimal, `62.5 %`; `0 %` of nothing.
pub fn percent(part: Decimal, whole: Decimal) -> String {
    format!(
        "{} %",
        grouped(share(part, whole) * Decimal::ONE_HUNDRED, 1)
    )
}

/// `part / whole` (0 when `whole` is zero).
pub fn share(part: Decimal, whole: Decimal) -> Decimal {
    if whole.is_zero() {
        Decimal::ZERO
    } else {
        part.checked_div(whole).unwrap_or(Decimal::ZERO)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn thousands_are_separated_and_cents_kept() {
        assert_eq!(money(d("1234567.891")), "1,234,567.89");
        assert_eq!(money(d("999.995")), "1,000.00");
        assert_eq!(money(d("0")), "0.00");
        assert_eq!(money(d("-1234.5")), "-1,234.50");
        assert_eq!(money(d("-0.001")), "0.00");
        assert_eq!(count(d("100000")), "100,000");
        assert_eq!(count(d("12")), "12");
    }

    #[test]
    fn compact_amounts_use_the_largest_unit_reached() {
        assert_eq!(compact(d("1234567890")), "1.23 bn");
        assert_eq!(compact(d("1234567")), "1.23 m");
        assert_eq!(compact(d("12345678")), "12.3 m");
        assert_eq!(compact(d("123456789")), "123 m");
        assert_eq!(compact(d("250000")), "250 k");
        assert_eq!(compact(d("1250000")), "1.25 m");
        assert_eq!(compact(d("1000")), "1 k");
        assert_eq!(compact(d("999")), "999");
        assert_eq!(compact(d("12.5")), "12.5");
        assert_eq!(compact(d("0.25")), "0.25");
        assert_eq!(compact(d("0")), "0");
        assert_eq!(compact(d("-2500000")), "-2.5 m");
        assert_eq!(compact(d("2500000000000")), "2,500 bn");
    }

    #[test]
    fn shares_are_percentages_with_one_decimal() {
        assert_eq!(percent(d("5"), d("8")), "62.5 %");
        assert_eq!(percent(d("1"), d("3")), "33.3 %");
        assert_eq!(percent(d("2"), d("3")), "66.7 %");
        assert_eq!(percent(d("3"), d("3")), "100.0 %");
        assert_eq!(percent(d("0"), d("0")), "0.0 %");
    }
}
