//! One server connection's protocol, sans-IO, from its first byte to its
//! close: HTTP requests until one upgrades, the handshake of the family
//! the upgrade chose, then relaying with liveness (server pings, pong
//! matching, the silent-client timeout) and the receive limit.
//!
//! The caller moves bytes, owns the socket and the timers, checks
//! signatures (many at once, [`crate::sig`]), asks access control and
//! routes packets; everything the protocol decides is decided here. Time
//! is passed in and randomness comes from a seed, so every rule has a
//! test without a socket or a clock, in quinn-proto's manner:
//! [`Session::poll_timeout`] says when to call [`Session::handle_timeout`].
//!
//! ```text
//!          upgrade             first frame          signature valid       access allowed
//!   Http ───────────▶ Handshake ───────────▶ Verifying ───────────▶ Authorizing ───────────▶ Relaying
//!    │                    │                      │                       │                       │
//!    └── reply + close,   └── bad frame,         └── invalid             └── denied              └── peer close, protocol
//!        head timeout         handshake timeout                                                      error, ping timeout
//!                                        ╲          all of them end in Closed          ╱
//! ```
//!
//! Setup (every phase before Relaying) is driven by [`Session::setup`],
//! [`Session::signature`] and [`Session::access`], each answering with a
//! [`Setup`] step; relaying by [`Session::handle_input`], whose frames come
//! out through a [`Relay`] the caller implements.

mod liveness;
mod relaying;
mod rng;
mod setup;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use crate::handshake::{Handshake, Signed, Verified};
use crate::key::NodeKey;
use crate::ratelimit::RxLimit;
use crate::reader::FrameReader;
use crate::Dialect;

pub use liveness::{PING_INTERVAL, PING_JITTER_SECS, PING_TIMEOUT};
pub use relaying::{Flow, Note, Relay, RelayError, MAX_DESTINATIONS};
pub use setup::{Setup, SetupEnd};

use liveness::Due;
use relaying::Relaying;
use rng::Rng;

/// Time allowed for each request head to arrive.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed after the upgrade for the client's first frame (as the
/// 0.35 reference; 1.x clients give up after 10 s themselves).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What [`Session::handle_timeout`] found due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// Queue this Ping for the client (if it cannot be queued, call
    /// [`Session::ping_not_sent`]).
    Ping([u8; 8]),
    /// The head or handshake did not arrive in time, or the client did
    /// not answer a ping: close. The session is closed.
    Expired,
}

enum Phase {
    Http {
        deadline: Instant,
    },
    Handshake {
        hs: Handshake,
        reader: FrameReader,
        token: Option<Box<str>>,
        deadline: Instant,
    },
    Verifying {
        hs: Handshake,
        reader: FrameReader,
        token: Option<Box<str>>,
        signed: Box<Signed>,
    },
    Authorizing {
        hs: Handshake,
        reader: FrameReader,
        token: Option<Box<str>>,
        verified: Verified,
    },
    Relaying(Box<Relaying>),
    Closed,
}

/// One connection's protocol state.
pub struct Session {
    phase: Phase,
    rng: Rng,
    challenge: [u8; 16],
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("phase", &self.phase_name())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A connection accepted at `now`. `challenge` must be fresh random
    /// bytes (the 1.x handshake signs it); `seed` drives the ping jitter
    /// and ping payloads.
    pub fn new(now: Instant, challenge: [u8; 16], seed: u64) -> Self {
        Self {
            phase: Phase::Http {
                deadline: now + HEAD_TIMEOUT,
            },
            rng: Rng::new(seed),
            challenge,
        }
    }

    /// The phase, for logs and tests: `http`, `handshake`, `verifying`,
    /// `authorizing`, `relaying` or `closed`.
    pub fn phase_name(&self) -> &'static str {
        match self.phase {
            Phase::Http { .. } => "http",
            Phase::Handshake { .. } => "handshake",
            Phase::Verifying { .. } => "verifying",
            Phase::Authorizing { .. } => "authorizing",
            Phase::Relaying(_) => "relaying",
            Phase::Closed => "closed",
        }
    }

    /// The client's key, once its handshake verified.
    pub fn key(&self) -> Option<&NodeKey> {
        match &self.phase {
            Phase::Authorizing { verified, .. } => Some(&verified.key),
            Phase::Relaying(r) => Some(r.key()),
            _ => None,
        }
    }

    /// The access token presented at the upgrade, if any.
    pub fn token(&self) -> Option<&str> {
        match &self.phase {
            Phase::Handshake { token, .. }
            | Phase::Verifying { token, .. }
            | Phase::Authorizing { token, .. } => token.as_deref(),
            Phase::Relaying(r) => r.token(),
            _ => None,
        }
    }

    /// The protocol chosen at the upgrade.
    pub fn dialect(&self) -> Option<Dialect> {
        match &self.phase {
            Phase::Handshake { hs, .. }
            | Phase::Verifying { hs, .. }
            | Phase::Authorizing { hs, .. } => Some(hs.dialect()),
            Phase::Relaying(r) => Some(r.dialect()),
            _ => None,
        }
    }

    /// When [`Session::handle_timeout`] next has something to do: the
    /// head or handshake deadline, the next ping or the ping's deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Http { deadline } | Phase::Handshake { deadline, .. } => Some(*deadline),
            Phase::Relaying(r) => Some(r.liveness().next_deadline()),
            _ => None,
        }
    }

    /// Acts on what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Timeout> {
        match &mut self.phase {
            Phase::Http { deadline } | Phase::Handshake { deadline, .. } => {
                if now < *deadline {
                    return None;
                }
                self.phase = Phase::Closed;
                Some(Timeout::Expired)
            }
            Phase::Relaying(r) => match r.liveness_mut().due(now, &mut self.rng) {
                Due::Nothing => None,
                Due::Ping(data) => Some(Timeout::Ping(data)),
                Due::TimedOut => {
                    self.phase = Phase::Closed;
                    Some(Timeout::Expired)
                }
            },
            _ => None,
        }
    }

    /// The ping from [`Timeout::Ping`] could not be queued.
    pub fn ping_not_sent(&mut self) {
        if let Phase::Relaying(r) = &mut self.phase {
            r.liveness_mut().ping_not_sent();
        }
    }

    /// Bytes arrived from a relaying client at `now` (it is alive).
    pub fn heard(&mut self, now: Instant) {
        if let Phase::Relaying(r) = &mut self.phase {
            r.liveness_mut().heard(now);
        }
    }

    /// Sets, changes or removes the receive limit of a relaying client.
    pub fn set_rx_limit(&mut self, now: Instant, limit: Option<RxLimit>) {
        if let Phase::Relaying(r) = &mut self.phase {
            r.set_rx_limit(now, limit);
        }
    }

    /// Handles the frames at the start of `buf` (removing what it used),
    /// handing what they ask for to `out`.
    pub fn handle_input(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        out: &mut impl Relay,
    ) -> Result<Flow, RelayError> {
        match &mut self.phase {
            Phase::Relaying(r) => r.handle_input(now, buf, out),
            _ => Err(RelayError::NotRelaying),
        }
    }

    /// [`Session::handle_input`] over bytes the caller keeps (a buffer it
    /// lends, such as a ring's provided buffer): returns the flow and how
    /// many bytes from the start were used; the caller keeps the rest for
    /// the next call, in front of the bytes that follow.
    pub fn handle_slice(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        out: &mut impl Relay,
    ) -> (Result<Flow, RelayError>, usize) {
        match &mut self.phase {
            Phase::Relaying(r) => r.handle_slice(now, buf, out),
            _ => (Err(RelayError::NotRelaying), 0),
        }
    }

    /// Every destination this client sent to (whom to tell it is gone).
    pub fn destinations(&self) -> impl Iterator<Item = &NodeKey> {
        match &self.phase {
            Phase::Relaying(r) => Some(r.destinations()),
            _ => None,
        }
        .into_iter()
        .flatten()
    }

    /// Whether the client was admitted and not closed since.
    pub fn is_relaying(&self) -> bool {
        matches!(self.phase, Phase::Relaying(_))
    }
}
