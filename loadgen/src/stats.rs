//! Counters and latency distributions.

use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;
use serde::Serialize;

/// A counter written by one thread and read by others (progress, totals).
/// Plain load+store: no locked read-modify-write on the hot path.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0
            .store(self.0.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Values up to one hour in the histogram's unit, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

/// Records `v`, clamping it into the histogram's range instead of failing.
pub fn record(h: &mut Histogram<u64>, v: u64) {
    h.saturating_record(v.max(1));
}

/// Summary of a distribution, in the unit given by `scale` (value / scale).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>, scale: f64) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let q = |p: f64| h.value_at_quantile(p) as f64 / scale;
        Self {
            count: h.len(),
            p50: q(0.50),
            p99: q(0.99),
            p999: q(0.999),
            max: h.max() as f64 / scale,
            mean: h.mean() / scale,
        }
    }
}

/// Median and range of repeated measurements (used by reports over rounds).
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let m = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[m]
    } else {
        (values[m - 1] + values[m]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_uniform() {
        let mut h = histogram();
        for v in 1..=10_000u64 {
            record(&mut h, v * 1000);
        }
        let p = Percentiles::of(&h, 1000.0);
        assert_eq!(p.count, 10_000);
        assert!((p.p50 - 5000.0).abs() / 5000.0 < 0.01, "{p:?}");
        assert!((p.p99 - 9900.0).abs() / 9900.0 < 0.01, "{p:?}");
        assert!((p.p999 - 9990.0).abs() / 9990.0 < 0.01, "{p:?}");
        assert!((p.max - 10_000.0).abs() / 10_000.0 < 0.01, "{p:?}");
        assert!((p.mean - 5000.5).abs() / 5000.0 < 0.01, "{p:?}");
    }

    #[test]
    fn empty_and_out_of_range() {
        assert_eq!(Percentiles::of(&histogram(), 1.0), Percentiles::default());
        let mut h = histogram();
        record(&mut h, 0);
        record(&mut h, u64::MAX);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = histogram();
        let mut b = histogram();
        record(&mut a, 10);
        record(&mut b, 20);
        a.add(&b).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a.max(), 20);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn counter() {
        let c = Counter::default();
        c.add(2);
        c.add(3);
        assert_eq!(c.get(), 5);
    }
}
