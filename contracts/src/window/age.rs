//! Record ages as a mergeable histogram: fixed buckets, so that the counts of several flushes,
//! time buckets and replicas add up slot by slot (the shared store sums them without knowing
//! what they mean) and quantiles are taken only after the merge.
//!
//! The edges are the durations SLAs are usually written in (1 s, 10 s, 1 min, 1 h, 1 d, …):
//! a latency SLA on one of them makes "p95 ≤ SLA" read off the histogram exactly as the
//! `staleRecords` share does. Between edges a quantile is interpolated on a log scale; it
//! lies in the same bucket as the true quantile, so it is off by at most the bucket's ratio
//! (3 at most, [`MAX_BUCKET_RATIO`]).

use serde::{Deserialize, Serialize};

/// Upper bucket edges in milliseconds, from 10 ms to 7 days. Bucket 0 holds ages up to
/// 10 ms (and records stamped in the future), bucket `i` ages in `(EDGES[i-1], EDGES[i]]`, the
/// last one everything older than 7 days.
pub const EDGES_MS: [i64; 24] = [
    10,
    25,
    50,
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    1_800_000,
    3_600_000,
    7_200_000,
    21_600_000,
    43_200_000,
    86_400_000,
    259_200_000,
    604_800_000,
    1_814_400_000,
];

/// Buckets of an age histogram: one per edge and the open-ended last.
pub const BUCKETS: usize = EDGES_MS.len() + 1;

/// Largest ratio of a bounded bucket's upper to lower edge: the worst relative error of a
/// quantile estimate that does not fall in the first or last bucket.
pub const MAX_BUCKET_RATIO: f64 = 3.0;

/// The bucket of an age in milliseconds (upper edges inclusive: an age equal to a 10 s SLA
/// is within it, as in the stale rule, which counts ages above the SLA).
#[must_use]
pub fn bucket_of(age_ms: i64) -> usize {
    EDGES_MS.partition_point(|e| *e < age_ms)
}

/// Counts one age into `bins` (a histogram of [`BUCKETS`] counts; shorter ones are ignored:
/// they belong to another layout).
pub fn count(bins: &mut [u64], age_ms: i64) {
    if let Some(b) = bins.get_mut(bucket_of(age_ms)) {
        *b += 1;
    }
}

/// The `q`-quantile (0 < q ≤ 1) of the ages in `bins`, in seconds: the age at rank ⌈q·n⌉,
/// interpolated within its bucket on a log scale (linearly in the first bucket, which starts
/// at 0). In the open-ended last bucket it is that bucket's lower edge: a lower bound. `None`
/// without ages.
#[must_use]
pub fn quantile(bins: &[u64], q: f64) -> Option<f64> {
    let n: u64 = bins.iter().sum();
    if n == 0 || !(q > 0.0 && q <= 1.0) {
        return None;
    }
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
    let mut below = 0u64;
    for (i, c) in bins.iter().enumerate() {
        if *c == 0 || below + c < rank {
            below += c;
            continue;
        }
        #[allow(clippy::cast_precision_loss)]
        let within = (rank - below) as f64 / *c as f64;
        #[allow(clippy::cast_precision_loss)]
        let edge = |j: usize| EDGES_MS.get(j).map(|e| *e as f64 / 1000.0);
        let hi = edge(i);
        let lo = i.checked_sub(1).and_then(edge);
        return Some(match (lo, hi) {
            (Some(lo), Some(hi)) => lo * (hi / lo).powf(within),
            (None, Some(hi)) => hi * within,
            (lo, None) => lo.unwrap_or(0.0),
        });
    }
    None
}

/// Quantiles of record age over a window or batch, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AgeQuantiles {
    /// Median age.
    pub p50: f64,
    /// 95th percentile: above the SLA exactly when more than 5 % of the records are stale.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Records with an age (a readable timestamp) behind the quantiles.
    pub records: u64,
}

impl AgeQuantiles {
    /// The quantiles of `bins`; `None` without ages.
    #[must_use]
    pub fn of(bins: &[u64]) -> Option<Self> {
        Some(Self { p50: quantile(bins, 0.5)?, p95: quantile(bins, 0.95)?, p99: quantile(bins, 0.99)?, records: bins.iter().sum() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(ages_ms: &[i64]) -> Vec<u64> {
        let mut bins = vec![0; BUCKETS];
        ages_ms.iter().for_each(|a| count(&mut bins, *a));
        bins
    }

    /// The exact nearest-rank quantile of `ages_ms`, in seconds.
    fn exact(ages_ms: &[i64], q: f64) -> f64 {
        let mut v = ages_ms.to_vec();
        v.sort_unstable();
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        #[allow(clippy::cast_precision_loss)]
        let s = v[rank - 1] as f64 / 1000.0;
        s
    }

    #[test]
    fn edges_ascend_and_no_bucket_is_wider_than_the_bound() {
        assert!(EDGES_MS.windows(2).all(|w| w[0] < w[1]));
        #[allow(clippy::cast_precision_loss)]
        let widest = EDGES_MS.windows(2).map(|w| w[1] as f64 / w[0] as f64).fold(0.0, f64::max);
        assert!(widest <= MAX_BUCKET_RATIO, "{widest}");
        assert!((16..=26).contains(&BUCKETS), "few enough slots for a flush: {BUCKETS}");
    }

    #[test]
    fn buckets_table() {
        // (age ms, bucket)
        let cases = [(-5_000, 0), (0, 0), (10, 0), (11, 1), (9_999, 9), (10_000, 9), (10_001, 10), (3_600_000, 16), (3_600_001, 17), (1_814_400_000, 23), (i64::MAX, 24)];
        for (age, want) in cases {
            assert_eq!(bucket_of(age), want, "{age} ms");
        }
    }

    #[test]
    fn merged_histograms_are_the_histogram_of_all_ages() {
        // (ages seen by one replica, ages seen by another)
        let cases: [(&[i64], &[i64]); 3] = [(&[5, 800, 12_000], &[3_600_000, 3_600_000]), (&[], &[40]), (&[1; 10], &[86_400_001; 3])];
        for (a, b) in cases {
            let mut merged = hist(a);
            merged.iter_mut().zip(hist(b)).for_each(|(m, x)| *m += x);
            let all: Vec<i64> = a.iter().chain(b).copied().collect();
            assert_eq!(merged, hist(&all), "{a:?} + {b:?}");
            for q in [0.5, 0.95, 0.99] {
                assert_eq!(quantile(&merged, q), quantile(&hist(&all), q));
            }
        }
    }

    #[test]
    fn quantiles_stay_within_the_bucket_bound() {
        // Streams of ages (ms): fresh, a stale mix, a wide spread, an SLA-sized cluster.
        let spread: Vec<i64> = (1..=2_000).map(|i| i * i * 37).collect();
        let mix: Vec<i64> = (0..1_000).map(|i| if i % 10 == 0 { 3_600_000 + i } else { 200 + i }).collect();
        let cases: [(&str, Vec<i64>); 4] = [("fresh", (0..500).map(|i| 20 + i % 400).collect()), ("mix", mix), ("spread", spread), ("at the SLA", vec![10_000; 100])];
        for (name, ages) in cases {
            let bins = hist(&ages);
            for q in [0.5, 0.95, 0.99] {
                let (est, want) = (quantile(&bins, q).expect("ages"), exact(&ages, q));
                let ratio = if want > 0.0 && est > 0.0 { (est / want).max(want / est) } else { 1.0 };
                assert!(ratio <= MAX_BUCKET_RATIO + 1e-9, "{name} q{q}: {est} s vs {want} s");
                #[allow(clippy::cast_possible_truncation)]
                let b = bucket_of((want * 1000.0).round() as i64);
                #[allow(clippy::cast_precision_loss)]
                let (lo, hi) = (b.checked_sub(1).map_or(0.0, |i| EDGES_MS[i] as f64 / 1000.0), EDGES_MS.get(b).map_or(f64::INFINITY, |e| *e as f64 / 1000.0));
                assert!(est >= lo * (1.0 - 1e-9) && est <= hi * (1.0 + 1e-9), "{name} q{q}: {est} s outside the bucket ({lo}, {hi}] of {want} s");
            }
        }
    }

    #[test]
    fn p95_crosses_an_sla_on_an_edge_with_the_stale_share() {
        // 100 records, `stale` of them 1 h old, the rest 1 s: p95 ≤ 10 s exactly while at most
        // 5 % are stale.
        for stale in [0usize, 4, 5, 6, 50] {
            let ages: Vec<i64> = (0..100).map(|i| if i < stale { 3_600_000 } else { 1_000 }).collect();
            let p95 = quantile(&hist(&ages), 0.95).expect("ages");
            assert_eq!(p95 <= 10.0, stale <= 5, "{stale} stale: p95 {p95}");
        }
    }

    #[test]
    fn empty_and_out_of_range_give_none() {
        assert_eq!(quantile(&[0; BUCKETS], 0.5), None);
        assert_eq!(quantile(&hist(&[5]), 0.0), None);
        assert_eq!(quantile(&hist(&[5]), 1.5), None);
        assert_eq!(AgeQuantiles::of(&[0; BUCKETS]), None);
        let last = hist(&[i64::MAX]);
        assert_eq!(quantile(&last, 0.5), Some(1_814_400.0), "the open bucket reports its lower edge");
    }
}
