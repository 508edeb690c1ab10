//! Fixed-bucket histograms written by one shard, summed at scrape time.
//!
//! Buckets hold plain (not cumulative) counts so an observation is one
//! relaxed increment; the renderer adds them up into OpenMetrics'
//! cumulative `le` buckets.

use super::Counter;

/// A histogram's identity and its bucket bounds, in the unit observed.
#[derive(Debug)]
pub struct Spec {
    pub name: &'static str,
    pub help: &'static str,
    /// Upper bounds, ascending; a last `+Inf` bucket is implied.
    pub bounds: &'static [u64],
    /// Divides observed values (and their sum) for rendering, e.g. 1e6 to
    /// show microseconds as seconds.
    pub scale: f64,
}

/// Most buckets a histogram may have, `+Inf` included.
const MAX_BUCKETS: usize = 16;

#[derive(Debug)]
pub struct Histogram {
    spec: &'static Spec,
    buckets: [Counter; MAX_BUCKETS],
    sum: Counter,
}

impl Histogram {
    pub const fn new(spec: &'static Spec) -> Self {
        assert!(spec.bounds.len() < MAX_BUCKETS);
        Self {
            spec,
            buckets: [const { Counter::new() }; MAX_BUCKETS],
            sum: Counter::new(),
        }
    }

    /// Counts one observation of `v` (in the spec's unit).
    #[inline]
    pub fn observe(&self, v: u64) {
        let i = self.spec.bounds.partition_point(|&b| b < v);
        self.buckets[i].inc();
        self.sum.add(v);
    }

    pub fn spec(&self) -> &'static Spec {
        self.spec
    }

    /// Counts per bucket, the last one `+Inf`, and the sum.
    pub(super) fn read(&self) -> (Vec<u64>, u64) {
        let n = self.spec.bounds.len() + 1;
        (
            self.buckets[..n].iter().map(Counter::get).collect(),
            self.sum.get(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SPEC: Spec = Spec {
        name: "t",
        help: "t",
        bounds: &[1, 4, 16],
        scale: 1.0,
    };

    #[test]
    fn bounds_are_inclusive_and_the_rest_is_inf() {
        let h = Histogram::new(&SPEC);
        for v in [0, 1, 2, 4, 5, 16, 17, 1000] {
            h.observe(v);
        }
        let (counts, sum) = h.read();
        assert_eq!(counts, vec![2, 2, 2, 2]);
        assert_eq!(sum, 1045);
    }
}
