//! The pure accounting of `bench subscribers`: lag percentiles, the exactly-once check of each
//! subscriber's positions, lag over the seconds of the run, and readings of `/proc`. Nothing
//! here does IO except [`ProcReading::read`], so the arithmetic is tested without a server.

use serde::Serialize;

/// Values below this are counted exactly (one bucket per microsecond).
const LINEAR: u64 = 1 << (SUB_BITS + 1);
/// Buckets per power of two above [`LINEAR`]: 64, so a bucket is at most 1/64 (1.6%) wide.
const SUB_BITS: u32 = 6;

/// Lags in microseconds, log-linear buckets (as HdrHistogram does): 1,000 subscribers × 30,000
/// events are 30 million samples, too many to keep and sort, while a bucket of at most 1.6% of
/// its value is far finer than the 200 ms target needs. Grows only to the largest value seen,
/// so an idle subscriber costs nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LagHistogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl LagHistogram {
    pub fn record(&mut self, micros: u64) {
        let index = bucket(micros);
        if self.counts.len() <= index {
            self.counts.resize(index + 1, 0);
        }
        self.counts[index] += 1;
        self.total += 1;
        self.max = self.max.max(micros);
    }

    pub fn merge(&mut self, other: &Self) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0 < q ≤ 1) by the nearest-rank rule: the smallest recorded
    /// value with at least `q` of the samples at or below it, reported as its bucket's upper
    /// edge (never below the truth, at most 1.6% above), capped by the exact maximum. 0 when
    /// empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return upper_edge(index).min(self.max);
            }
        }
        self.max
    }
}

fn bucket(value: u64) -> usize {
    if value < LINEAR {
        return value as usize;
    }
    let exponent = 63 - value.leading_zeros(); // ≥ SUB_BITS + 1
    let shift = exponent - SUB_BITS;
    let top = (value >> shift) - (1 << SUB_BITS); // 0..64
    (LINEAR + u64::from(exponent - SUB_BITS - 1) * (1 << SUB_BITS) + top) as usize
}

/// The largest value that falls in bucket `index`.
fn upper_edge(index: usize) -> u64 {
    let index = index as u64;
    if index < LINEAR {
        return index;
    }
    let above = index - LINEAR;
    let shift = above / (1 << SUB_BITS) + 1;
    let top = above % (1 << SUB_BITS) + (1 << SUB_BITS);
    // In 128 bits: the last bucket's edge is 2^64 - 1.
    u64::try_from((u128::from(top + 1) << shift) - 1).unwrap_or(u64::MAX)
}

/// One subscriber's positions checked against the log: every position after `after` exactly
/// once, in order. The subscriber reads every category, so the positions it receives are dense
/// and the next one is always `last + 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    after: u64,
    last: u64,
    delivered: u64,
    /// Positions skipped over (received `last + k` with k > 1: k - 1 missing).
    gaps: u64,
    /// Positions received again, or out of order (at or below the last one).
    duplicates: u64,
}

/// What one received position was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    InOrder,
    /// After a gap of this many positions.
    AfterGap(u64),
    Duplicate,
}

impl Sequence {
    pub fn new(after: u64) -> Self {
        Self {
            after,
            last: after,
            delivered: 0,
            gaps: 0,
            duplicates: 0,
        }
    }

    pub fn receive(&mut self, position: u64) -> Received {
        if position <= self.last {
            self.duplicates += 1;
            return Received::Duplicate;
        }
        let skipped = position - self.last - 1;
        self.gaps += skipped;
        self.last = position;
        self.delivered += 1;
        if skipped == 0 {
            Received::InOrder
        } else {
            Received::AfterGap(skipped)
        }
    }

    /// The position to resume after, on reconnection.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Checked against the log's head at the end of the run.
    pub fn outcome(&self, head: u64) -> Outcome {
        let expected = head.saturating_sub(self.after);
        Outcome {
            expected,
            delivered: self.delivered,
            gaps: self.gaps,
            duplicates: self.duplicates,
            missing_at_end: head.saturating_sub(self.last),
        }
    }
}

/// How one subscriber fared, or (summed) all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub expected: u64,
    pub delivered: u64,
    pub gaps: u64,
    pub duplicates: u64,
    /// Positions up to the head not received when the run ended.
    pub missing_at_end: u64,
}

impl Outcome {
    /// Every event exactly once, in order.
    pub fn is_exact(&self) -> bool {
        self.delivered == self.expected && self.gaps == 0 && self.duplicates == 0
    }

    pub fn add(&mut self, other: &Self) {
        self.expected += other.expected;
        self.delivered += other.delivered;
        self.gaps += other.gaps;
        self.duplicates += other.duplicates;
        self.missing_at_end += other.missing_at_end;
    }
}

/// Lag by the second of the run in which the event was recorded: whether lag stays level (the
/// server keeps up) or climbs (it falls further behind while events keep coming).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    seconds: Vec<Second>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Second {
    count: u64,
    sum_micros: u64,
    max_micros: u64,
}

/// One second of the run in the report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecondReport {
    pub second: usize,
    pub deliveries: u64,
    pub mean_ms: f64,
    pub max_ms: f64,
}

impl Timeline {
    /// `second`: when the event was recorded, counted from the start of the appends (events
    /// recorded after the last tracked second count in it).
    pub fn record(&mut self, second: usize, lag_micros: u64, tracked: usize) {
        let second = second.min(tracked.saturating_sub(1));
        if self.seconds.len() <= second {
            self.seconds.resize(second + 1, Second::default());
        }
        let slot = &mut self.seconds[second];
        slot.count += 1;
        slot.sum_micros += lag_micros;
        slot.max_micros = slot.max_micros.max(lag_micros);
    }

    pub fn merge(&mut self, other: &Self) {
        if self.seconds.len() < other.seconds.len() {
            self.seconds.resize(other.seconds.len(), Second::default());
        }
        for (mine, theirs) in self.seconds.iter_mut().zip(&other.seconds) {
            mine.count += theirs.count;
            mine.sum_micros += theirs.sum_micros;
            mine.max_micros = mine.max_micros.max(theirs.max_micros);
        }
    }

    pub fn report(&self) -> Vec<SecondReport> {
        self.seconds
            .iter()
            .enumerate()
            .map(|(second, s)| SecondReport {
                second,
                deliveries: s.count,
                mean_ms: millis(s.sum_micros.checked_div(s.count).unwrap_or(0)),
                max_ms: millis(s.max_micros),
            })
            .collect()
    }
}

/// Microseconds as milliseconds with three decimals.
pub fn millis(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// Memory and CPU of a process, from `/proc/<pid>/status` and `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcReading {
    pub rss_kib: u64,
    pub hwm_kib: u64,
    /// User plus system CPU time.
    pub cpu_seconds: f64,
}

/// Clock ticks per second of `/proc/<pid>/stat` (Linux's USER_HZ, 100 on every architecture
/// this runs on; reading it through `sysconf` would need `unsafe`, which the workspace forbids).
const USER_HZ: f64 = 100.0;

impl ProcReading {
    /// `pid` "self" for this process. `None` when the process is gone or `/proc` unreadable.
    pub fn read(pid: &str) -> Option<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        Self::parse(&status, &stat)
    }

    fn parse(status: &str, stat: &str) -> Option<Self> {
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        };
        // The command name (field 2) is in parentheses and may hold spaces: count fields from
        // the last ')'. utime and stime are fields 14 and 15, the 12th and 13th after it.
        let fields: Vec<&str> = stat
            .get(stat.rfind(')')? + 1..)?
            .split_whitespace()
            .collect();
        let ticks = |n: usize| fields.get(n).and_then(|f| f.parse::<u64>().ok());
        Some(Self {
            rss_kib: kib("VmRSS:")?,
            hwm_kib: kib("VmHWM:")?,
            cpu_seconds: (ticks(11)? + ticks(12)?) as f64 / USER_HZ,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn small_lags_are_counted_exactly_and_large_ones_within_a_sixty_fourth() {
        for value in [
            0,
            1,
            127,
            128,
            129,
            1_000,
            199_999,
            200_000,
            5_000_000,
            u64::MAX / 2,
        ] {
            let index = bucket(value);
            let upper = upper_edge(index);
            assert!(upper >= value, "{value}: upper edge {upper}");
            assert!(
                (upper - value) as f64 <= value as f64 / 64.0,
                "{value}: upper edge {upper} too far"
            );
            if value < LINEAR {
                assert_eq!(upper, value);
            }
            // Buckets are contiguous: the next value past an edge opens the next bucket.
            assert_eq!(bucket(upper + 1), index + 1, "{value}");
        }
    }

    #[test]
    fn quantiles_follow_the_nearest_rank_rule() {
        let mut lags = LagHistogram::default();
        for micros in 1..=100 {
            lags.record(micros);
        }
        assert_eq!(lags.count(), 100);
        assert_eq!(lags.quantile(0.5), 50);
        assert_eq!(lags.quantile(0.99), 99);
        assert_eq!(lags.quantile(1.0), 100);
        assert_eq!(lags.max(), 100);
        assert_eq!(LagHistogram::default().quantile(0.99), 0);
    }

    #[test]
    fn a_quantile_is_never_below_the_true_value_nor_above_the_maximum() {
        let mut lags = LagHistogram::default();
        for _ in 0..98 {
            lags.record(1_000);
        }
        lags.record(250_000);
        lags.record(250_001);
        let p99 = lags.quantile(0.99);
        assert!((250_000..=250_001).contains(&p99), "{p99}");
        assert_eq!(lags.quantile(1.0), 250_001);
        let p50 = lags.quantile(0.5);
        assert!((1_000..=1_000 + 1_000 / 64).contains(&p50), "{p50}");
    }

    #[test]
    fn merged_histograms_count_every_sample() {
        let (mut a, mut b) = (LagHistogram::default(), LagHistogram::default());
        a.record(10);
        b.record(1_000_000);
        b.record(20);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.max(), 1_000_000);
        assert_eq!(a.quantile(0.5), 20);
    }

    #[test]
    fn a_subscriber_that_got_every_position_once_in_order_is_exact() {
        let mut sequence = Sequence::new(10);
        for position in 11..=20 {
            assert_eq!(sequence.receive(position), Received::InOrder);
        }
        let outcome = sequence.outcome(20);
        assert!(outcome.is_exact(), "{outcome:?}");
        assert_eq!((outcome.expected, outcome.delivered), (10, 10));
    }

    #[test]
    fn gaps_duplicates_and_a_short_tail_are_each_counted() {
        let mut sequence = Sequence::new(0);
        assert_eq!(sequence.receive(1), Received::InOrder);
        assert_eq!(sequence.receive(4), Received::AfterGap(2));
        assert_eq!(sequence.receive(4), Received::Duplicate);
        assert_eq!(sequence.receive(3), Received::Duplicate);
        assert_eq!(sequence.receive(5), Received::InOrder);
        assert_eq!(sequence.last(), 5);
        let outcome = sequence.outcome(8);
        assert_eq!(
            outcome,
            Outcome {
                expected: 8,
                delivered: 3,
                gaps: 2,
                duplicates: 2,
                missing_at_end: 3,
            }
        );
        assert!(!outcome.is_exact());
    }

    #[test]
    fn the_timeline_keeps_mean_and_maximum_per_second_and_folds_late_events_into_the_last() {
        let mut timeline = Timeline::default();
        timeline.record(0, 1_000, 3);
        timeline.record(0, 3_000, 3);
        timeline.record(7, 9_000, 3);
        let mut other = Timeline::default();
        other.record(1, 500, 3);
        timeline.merge(&other);
        let report = timeline.report();
        assert_eq!(report.len(), 3);
        assert_eq!((report[0].deliveries, report[0].mean_ms), (2, 2.0));
        assert_eq!(report[0].max_ms, 3.0);
        assert_eq!((report[1].deliveries, report[1].max_ms), (1, 0.5));
        assert_eq!((report[2].deliveries, report[2].max_ms), (1, 9.0));
    }

    #[test]
    fn proc_readings_parse_status_and_stat() {
        let status = "Name:\taduana\nVmHWM:\t  120000 kB\nVmRSS:\t   98765 kB\n";
        let stat = "4242 (tokio runtime) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 8";
        let reading = ProcReading::parse(status, stat).unwrap();
        assert_eq!((reading.rss_kib, reading.hwm_kib), (98_765, 120_000));
        assert_eq!(reading.cpu_seconds, 3.0);
        assert_eq!(ProcReading::parse("VmRSS: 1 kB\n", stat), None);
    }
}
