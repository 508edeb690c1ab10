//! Token buckets for the receive rate limit (docs/protocol-0.35.md §5.8) and the
//! accept rate limit. Pure: the caller passes the time in.

use std::time::{Duration, Instant};

/// A bucket refilled at `rate` units per second holding at most `burst`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// Starts full, as governor's GCRA does.
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Changes rate and burst, keeping the current fill (capped).
    pub fn reconfigure(&mut self, rate: f64, burst: f64) {
        self.rate = rate;
        self.burst = burst;
        self.tokens = self.tokens.min(burst);
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.last = now;
    }

    /// Charges `cost` units after the fact; the bucket may go into debt,
    /// which [`TokenBucket::wait`] then makes the caller pay off. A cost
    /// above the burst is charged as the burst.
    pub fn charge(&mut self, cost: f64, now: Instant) {
        self.refill(now);
        self.tokens -= cost.min(self.burst);
    }

    /// How long until the bucket is out of debt, if it is in debt.
    pub fn wait(&mut self, now: Instant) -> Option<Duration> {
        self.refill(now);
        (self.tokens < -1e-6)
            .then(|| Duration::from_secs_f64((-self.tokens / self.rate).max(0.000_1)))
    }

    /// Takes `cost` units, or says how long to wait until it can. A cost
    /// larger than the whole bucket waits for a full bucket and then
    /// passes (a configuration error the reference also lets through).
    pub fn take(&mut self, cost: f64, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        let need = cost.min(self.burst);
        if self.tokens >= need {
            self.tokens -= need;
            return Ok(());
        }
        let wait = (need - self.tokens) / self.rate;
        Err(Duration::from_secs_f64(wait.max(0.000_1)))
    }
}

/// The per-client receive limit from `[limits.client.rx]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RxLimit {
    /// Sustained rate, in bytes per second.
    pub bytes_per_second: f64,
    /// Bucket size, in bytes: what may arrive at once after a quiet spell.
    pub burst_bytes: f64,
}

impl RxLimit {
    /// A full bucket with these settings, starting at `now`.
    pub fn bucket(&self, now: Instant) -> TokenBucket {
        TokenBucket::new(self.bytes_per_second, self.burst_bytes, now)
    }
}

/// Cost of a received 0.35 frame: payload plus 5, on both transports (1.x
/// clients are charged the raw bytes read).
pub fn frame_cost(payload_len: usize) -> f64 {
    (payload_len + 5) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(400.0, 800.0, t0);
        assert!(b.take(800.0, t0).is_ok());
        let wait = b.take(100.0, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.25).abs() < 0.001, "{wait:?}");
        assert!(b.take(100.0, t0 + Duration::from_millis(250)).is_ok());
        // Refill never exceeds the burst.
        assert!(b.take(800.0, t0 + Duration::from_secs(100)).is_ok());
        assert!(b.take(1.0, t0 + Duration::from_secs(100)).is_err());
    }

    #[test]
    fn oversized_cost_passes_on_full_bucket() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 20.0, t0);
        assert!(b.take(1000.0, t0).is_ok());
        assert!(b.take(1000.0, t0).is_err());
        assert!(b.take(1000.0, t0 + Duration::from_secs(2)).is_ok());
    }

    #[test]
    fn debt_is_paid_by_waiting() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(400.0, 800.0, t0);
        b.charge(805.0, t0);
        assert_eq!(b.wait(t0), None);
        b.charge(205.0, t0);
        let w = b.wait(t0).unwrap();
        assert!((w.as_secs_f64() - 205.0 / 400.0).abs() < 0.001, "{w:?}");
        assert_eq!(b.wait(t0 + w), None);
    }

    #[test]
    fn reconfigure_caps_tokens() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 100.0, t0);
        b.reconfigure(10.0, 5.0);
        assert!(b.take(5.0, t0).is_ok());
        assert!(b.take(1.0, t0).is_err());
        assert_eq!(frame_cost(1200), 1205.0);
    }
}
