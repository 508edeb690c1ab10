//! Traffic patterns: which client sends, and to whom.

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    /// Client i and i^1 send to each other; with an odd count the last client only idles.
    Pairs,
    /// Client i sends to (i + 1) mod n.
    Ring,
    /// Client 0 sends to clients 1..n round robin; the others only receive.
    Fanout,
}

impl Pattern {
    /// Destination of the `seq`-th packet sent by client `i` out of `n`, or
    /// `None` if `i` never sends.
    pub fn dest(self, i: usize, n: usize, seq: u64) -> Option<usize> {
        if i >= n || n < 2 {
            return None;
        }
        match self {
            Pattern::Pairs => Some(i ^ 1).filter(|&d| d < n),
            Pattern::Ring => Some((i + 1) % n),
            Pattern::Fanout if i == 0 => Some(1 + (seq % (n as u64 - 1)) as usize),
            Pattern::Fanout => None,
        }
    }

    pub fn is_sender(self, i: usize, n: usize) -> bool {
        self.dest(i, n, 0).is_some()
    }

    /// Number of sending clients among `n`.
    pub fn senders(self, n: usize) -> usize {
        if n < 2 {
            return 0;
        }
        match self {
            Pattern::Pairs => n & !1,
            Pattern::Ring => n,
            Pattern::Fanout => 1,
        }
    }
}

/// Splits `n` clients over `threads` in contiguous, even-sized blocks, so
/// pair partners (i, i^1) always share a thread.
pub fn thread_ranges(n: usize, threads: usize) -> Vec<std::ops::Range<usize>> {
    let threads = threads.max(1);
    let pairs = n.div_ceil(2);
    let mut out = Vec::with_capacity(threads);
    let mut start = 0;
    for t in 0..threads {
        let p = pairs / threads + usize::from(t < pairs % threads);
        let end = (start + 2 * p).min(n);
        out.push(start..end);
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs() {
        let p = Pattern::Pairs;
        assert_eq!(p.dest(0, 4, 0), Some(1));
        assert_eq!(p.dest(1, 4, 9), Some(0));
        assert_eq!(p.dest(3, 4, 0), Some(2));
        assert_eq!(p.dest(4, 5, 0), None);
        assert_eq!(p.senders(5), 4);
        assert_eq!(p.senders(2), 2);
        assert_eq!(p.senders(1), 0);
        assert!(!p.is_sender(0, 1));
    }

    #[test]
    fn ring() {
        let p = Pattern::Ring;
        assert_eq!(p.dest(0, 3, 0), Some(1));
        assert_eq!(p.dest(2, 3, 0), Some(0));
        assert_eq!(p.senders(3), 3);
    }

    #[test]
    fn fanout() {
        let p = Pattern::Fanout;
        let d: Vec<_> = (0..5).map(|s| p.dest(0, 4, s)).collect();
        assert_eq!(d, [Some(1), Some(2), Some(3), Some(1), Some(2)]);
        assert_eq!(p.dest(2, 4, 0), None);
        assert_eq!(p.senders(4), 1);
    }

    #[test]
    fn ranges_keep_pairs_together() {
        for n in [1usize, 2, 3, 7, 10, 10_001] {
            for t in 1..5 {
                let r = thread_ranges(n, t);
                assert_eq!(r.len(), t);
                assert_eq!(r.iter().map(|r| r.len()).sum::<usize>(), n);
                assert_eq!(r[0].start, 0);
                for w in r.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                    assert!(w[1].is_empty() || w[1].start % 2 == 0);
                }
            }
        }
    }
}
