//! Whether a relaying client is still there: the server pings a client it
//! has heard nothing from for its ping interval (15 s plus 1 to 5 s of
//! jitter, chosen once per connection, docs/protocol-0.35.md §5.3), and a
//! ping unanswered for [`PING_TIMEOUT`] ends the connection. Any bytes
//! from the client count as hearing from it; only the matching Pong
//! answers the ping.

use std::time::{Duration, Instant};

use super::rng::Rng;

/// The ping interval before jitter.
pub const PING_INTERVAL: Duration = Duration::from_secs(15);
/// Most jitter added to [`PING_INTERVAL`], in whole seconds (at least 1).
pub const PING_JITTER_SECS: u64 = 5;
/// A server ping unanswered this long disconnects the client.
pub const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// What is due at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Nothing yet.
    Nothing,
    /// Send a Ping with this payload (it is now outstanding).
    Ping([u8; 8]),
    /// The outstanding ping was not answered in time.
    TimedOut,
}

/// One connection's liveness state.
#[derive(Debug, Clone)]
pub struct Liveness {
    interval: Duration,
    last_heard: Instant,
    /// The outstanding ping: its payload and when it was sent.
    ping_out: Option<([u8; 8], Instant)>,
}

impl Liveness {
    pub fn new(now: Instant, rng: &mut Rng) -> Self {
        Self {
            interval: PING_INTERVAL + Duration::from_secs(rng.one_to(PING_JITTER_SECS)),
            last_heard: now,
            ping_out: None,
        }
    }

    /// This connection's ping interval, jitter included.
    #[cfg(test)]
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Bytes arrived from the client.
    pub fn heard(&mut self, now: Instant) {
        self.last_heard = now;
    }

    /// A Pong arrived; true if it answered the outstanding ping.
    pub fn pong(&mut self, data: [u8; 8]) -> bool {
        match self.ping_out {
            Some((want, _)) if want == data => {
                self.ping_out = None;
                true
            }
            _ => false,
        }
    }

    /// When [`Liveness::due`] next has something to do.
    pub fn next_deadline(&self) -> Instant {
        match self.ping_out {
            Some((_, sent)) => sent + PING_TIMEOUT,
            None => self.last_heard + self.interval,
        }
    }

    /// What is due at `now`; a ping it asks for counts as sent.
    pub fn due(&mut self, now: Instant, rng: &mut Rng) -> Due {
        match self.ping_out {
            Some((_, sent)) if now.saturating_duration_since(sent) > PING_TIMEOUT => Due::TimedOut,
            Some(_) => Due::Nothing,
            None if now.saturating_duration_since(self.last_heard) >= self.interval => {
                let data = rng.next_u64().to_le_bytes();
                self.ping_out = Some((data, now));
                Due::Ping(data)
            }
            None => Due::Nothing,
        }
    }

    /// Forgets a ping that could not be queued (the caller's queue was
    /// full): the next check asks again.
    pub fn ping_not_sent(&mut self) {
        self.ping_out = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Instant, Liveness, Rng) {
        let t0 = Instant::now();
        let mut rng = Rng::new(42);
        let l = Liveness::new(t0, &mut rng);
        (t0, l, rng)
    }

    #[test]
    fn interval_has_jitter_of_one_to_five_seconds() {
        let mut seen = std::collections::HashSet::new();
        for seed in 0..100 {
            let l = Liveness::new(Instant::now(), &mut Rng::new(seed));
            assert!(l.interval() >= PING_INTERVAL + Duration::from_secs(1));
            assert!(l.interval() <= PING_INTERVAL + Duration::from_secs(PING_JITTER_SECS));
            seen.insert(l.interval());
        }
        assert_eq!(seen.len(), PING_JITTER_SECS as usize);
    }

    #[test]
    fn ping_when_silent_then_timeout() {
        let (t0, mut l, mut rng) = setup();
        let iv = l.interval();
        assert_eq!(l.next_deadline(), t0 + iv);
        assert_eq!(
            l.due(t0 + iv - Duration::from_millis(1), &mut rng),
            Due::Nothing
        );
        let Due::Ping(data) = l.due(t0 + iv, &mut rng) else {
            panic!("no ping when due");
        };
        assert_eq!(l.next_deadline(), t0 + iv + PING_TIMEOUT);
        // Data from the client is not an answer.
        l.heard(t0 + iv + Duration::from_secs(1));
        assert_eq!(l.due(t0 + iv + PING_TIMEOUT, &mut rng), Due::Nothing);
        assert_eq!(
            l.due(t0 + iv + PING_TIMEOUT + Duration::from_millis(1), &mut rng),
            Due::TimedOut
        );
        // Only the matching pong answers.
        assert!(!l.pong([0; 8]));
        assert!(l.pong(data));
        assert!(!l.pong(data));
    }

    #[test]
    fn hearing_from_the_client_postpones_the_ping() {
        let (t0, mut l, mut rng) = setup();
        let iv = l.interval();
        l.heard(t0 + Duration::from_secs(10));
        assert_eq!(l.due(t0 + iv, &mut rng), Due::Nothing);
        assert_eq!(l.next_deadline(), t0 + Duration::from_secs(10) + iv);
        assert!(matches!(
            l.due(t0 + Duration::from_secs(10) + iv, &mut rng),
            Due::Ping(_)
        ));
    }

    #[test]
    fn answered_ping_starts_a_new_interval() {
        let (t0, mut l, mut rng) = setup();
        let iv = l.interval();
        let Due::Ping(data) = l.due(t0 + iv, &mut rng) else {
            panic!("no ping");
        };
        l.heard(t0 + iv + Duration::from_secs(1));
        assert!(l.pong(data));
        assert_eq!(l.next_deadline(), t0 + iv + Duration::from_secs(1) + iv);
        l.ping_not_sent();
        assert_eq!(
            l.due(t0 + iv + Duration::from_secs(2), &mut rng),
            Due::Nothing
        );
    }
}
