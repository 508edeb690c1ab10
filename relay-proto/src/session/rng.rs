//! The session's own randomness from a seed the caller gives (the ping
//! interval's jitter, ping payloads): reproducible in tests, with no
//! dependency on an OS source. Nothing secret comes from it; the 1.x
//! challenge is passed in by the caller.

/// SplitMix64: a small generator with a full 2^64 period.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `1..=n` (n > 0).
    pub fn one_to(&mut self, n: u64) -> u64 {
        1 + self.next_u64() % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_values_and_range() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert_eq!(a.next_u64(), b.next_u64());
        assert_ne!(Rng::new(7).next_u64(), Rng::new(8).next_u64());
        let mut seen = [false; 5];
        for _ in 0..200 {
            let v = a.one_to(5);
            assert!((1..=5).contains(&v));
            seen[(v - 1) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}
