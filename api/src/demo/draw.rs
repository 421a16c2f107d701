//! Random draws (a ChaCha8 stream read with integer arithmetic only, so the output is the same
//! on every platform) and the decimals made from them.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use rust_decimal::{Decimal, RoundingStrategy};

use super::tables::PRICE_KRW;

/// Random draws: a ChaCha8 stream read with integer arithmetic only.
#[derive(Debug)]
pub(super) struct Draw(ChaCha8Rng);

impl Draw {
    pub(super) fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-40 for our `n`).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.0.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub(super) fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    pub(super) fn per_mille(&mut self, p: u64) -> bool {
        self.below(1000) < p
    }

    pub(super) fn next53(&mut self) -> u64 {
        self.0.next_u64() >> 11
    }

    pub(super) fn pick<'t, T>(&mut self, xs: &'t [T]) -> &'t T {
        &xs[self.below(xs.len() as u64) as usize]
    }

    /// Log-uniform from `lo` to `lo · 2^doublings`, in steps of an eighth of a doubling.
    pub(super) fn log_uniform(&mut self, (lo, doublings): (u64, u32)) -> u64 {
        const EIGHTHS: [u64; 8] = [1000, 1091, 1189, 1297, 1414, 1542, 1682, 1834];
        let k = self.below(u64::from(doublings) * 8 + 1);
        (lo << (k / 8)) * EIGHTHS[(k % 8) as usize] / 1000
    }

    /// An item value in KRW from [`PRICE_KRW`].
    pub(super) fn price_krw(&mut self) -> u64 {
        let u = self.below(64 << 20);
        let (bin, fraction) = ((u >> 20) as usize, u & ((1 << 20) - 1));
        let (lo, hi) = (PRICE_KRW[bin], PRICE_KRW[bin + 1]);
        lo + (((hi - lo) * fraction) >> 20)
    }
}

/// Values drawn with probability proportional to their weights.
#[derive(Debug)]
pub(super) struct Weighted<T> {
    values: Vec<T>,
    /// Running totals of the weights.
    ends: Vec<u64>,
}

impl<T> Weighted<T> {
    pub(super) fn new(weights: impl IntoIterator<Item = (T, u64)>) -> Self {
        let (mut values, mut ends, mut total) = (Vec::new(), Vec::new(), 0);
        for (value, weight) in weights.into_iter().filter(|(_, w)| *w > 0) {
            total += weight;
            values.push(value);
            ends.push(total);
        }
        Self { values, ends }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Callers check [`Weighted::is_empty`] when they build one.
    pub(super) fn pick(&self, d: &mut Draw) -> &T {
        let x = d.below(self.ends.last().copied().unwrap_or(0));
        &self.values[self.ends.partition_point(|&end| end <= x)]
    }
}

/// The entries of a `key:count` table.
pub(super) fn counts(table: &'static str) -> impl Iterator<Item = (&'static str, u64)> {
    table.split_whitespace().filter_map(|entry| {
        let (key, n) = entry.split_once(':')?;
        Some((key, n.parse().ok()?))
    })
}

/// An amount in the currency's minor units, at least one of them.
pub(super) fn money(value: Decimal, places: u32) -> Decimal {
    let smallest = Decimal::new(1, places);
    let mut m = value
        .round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero)
        .max(smallest);
    m.rescale(places);
    m
}

/// A mass in kg with 3 significant-ish decimals (grams below 1 kg, whole kg from 10 t).
pub(super) fn mass(kg: Decimal) -> Decimal {
    let places = match kg {
        k if k < Decimal::ONE => 3,
        k if k < Decimal::ONE_HUNDRED => 2,
        k if k < Decimal::from(10_000) => 1,
        _ => 0,
    };
    let m = kg.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero);
    if m.is_zero() {
        Decimal::new(1, 3)
    } else {
        m.normalize()
    }
}
