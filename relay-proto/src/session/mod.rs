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
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant, SystemTime};

use crate::handshake::{self, Handshake, Signed, Verified};
use crate::http::{self, Outcome};
use crate::key::NodeKey;
use crate::ratelimit::RxLimit;
use crate::reader::{FrameReader, Step};
use crate::sig::SigCheck;
use crate::ws::MAX_MESSAGE;
use crate::Dialect;

pub use liveness::{PING_INTERVAL, PING_JITTER_SECS, PING_TIMEOUT};
pub use relaying::{Flow, Note, Relay, RelayError, MAX_DESTINATIONS};

use liveness::{Due, Liveness};
use relaying::Relaying;
use rng::Rng;

/// Time allowed for each request head to arrive.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed after the upgrade for the client's first frame (as the
/// 0.35 reference; 1.x clients give up after 10 s themselves).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the connection must do next during setup.
#[derive(Debug)]
pub enum Setup {
    /// Read until the buffer holds at least this many bytes (by
    /// [`Session::poll_timeout`]), then call [`Session::setup`] again.
    Read(usize),
    /// Write this reply, then call [`Session::setup`] again (the next
    /// request may already be in the buffer).
    Write(Vec<u8>),
    /// The request upgraded to `dialect`: write these bytes (the 101 and,
    /// for 1.x, the challenge), then call [`Session::setup`] again.
    Upgrade { reply: Vec<u8>, dialect: Dialect },
    /// Check this signature and report with [`Session::signature`].
    Verify(Box<SigCheck>),
    /// Ask access control about [`Session::key`] (which presented
    /// [`Session::token`]) and report with [`Session::access`].
    Authorize,
    /// Admitted: the session relays. Register the client and send
    /// `confirm` (1.x's ServerConfirmsAuth) before anything else.
    Admitted { confirm: Option<Vec<u8>> },
    /// Write `reply` if there is one, then close.
    Close {
        reply: Option<Vec<u8>>,
        end: SetupEnd,
    },
}

/// Why a connection ended before it was admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupEnd {
    /// The requests were answered and none upgraded (or one asked to close).
    #[error("HTTP exchange ended without upgrade")]
    Http,
    /// A head or the handshake did not arrive in time.
    #[error("timed out")]
    TimedOut,
    /// The peer closed the websocket during the handshake.
    #[error("closed by peer")]
    Closed,
    #[error("handshake failed: {0}")]
    Handshake(String),
    #[error("access denied")]
    Denied,
}

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

    /// Handles the bytes at the start of `buf` during setup (removing
    /// what it used); `now` is for deadlines, `wall` for HTTP dates.
    pub fn setup(&mut self, now: Instant, wall: SystemTime, buf: &mut Vec<u8>) -> Setup {
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Http { deadline } => self.http(now, wall, buf, deadline),
            Phase::Handshake {
                hs,
                reader,
                token,
                deadline,
            } => self.first_frame(hs, reader, token, deadline, buf),
            other => {
                self.phase = other;
                Setup::Close {
                    reply: None,
                    end: SetupEnd::Handshake("setup step out of order".into()),
                }
            }
        }
    }

    fn http(
        &mut self,
        now: Instant,
        wall: SystemTime,
        buf: &mut Vec<u8>,
        deadline: Instant,
    ) -> Setup {
        match http::handle(buf, wall) {
            Outcome::Partial => {
                self.phase = Phase::Http { deadline };
                Setup::Read(buf.len() + 1)
            }
            Outcome::Reply {
                reply,
                consumed,
                close,
            } => {
                buf.drain(..consumed.min(buf.len()));
                if close {
                    return Setup::Close {
                        reply: Some(reply),
                        end: SetupEnd::Http,
                    };
                }
                // Each request gets its own time.
                self.phase = Phase::Http {
                    deadline: now + HEAD_TIMEOUT,
                };
                Setup::Write(reply)
            }
            Outcome::Upgrade {
                mut reply,
                consumed,
                dialect,
                token,
            } => {
                buf.drain(..consumed.min(buf.len()));
                let hs = Handshake::new(dialect, self.challenge);
                // The 101 and the server's first frame leave in one write.
                if let Some(greeting) = hs.greeting() {
                    reply.extend_from_slice(&greeting);
                }
                let mut reader = FrameReader::server(dialect);
                // Nothing larger than a handshake is buffered before it
                // verifies, in one websocket frame or in fragments.
                reader.set_message_limit(handshake::MAX_FRAME);
                self.phase = Phase::Handshake {
                    hs,
                    reader,
                    token: token.map(String::into_boxed_str),
                    deadline: now + HANDSHAKE_TIMEOUT,
                };
                Setup::Upgrade { reply, dialect }
            }
        }
    }

    fn first_frame(
        &mut self,
        hs: Handshake,
        mut reader: FrameReader,
        token: Option<Box<str>>,
        deadline: Instant,
        buf: &mut Vec<u8>,
    ) -> Setup {
        let fail = |why: String| Setup::Close {
            reply: None,
            end: SetupEnd::Handshake(why),
        };
        loop {
            let step = match reader.next_with(buf, |ty, payload| hs.decode(ty, payload)) {
                Ok(s) => s,
                Err(e) => return fail(e.to_string()),
            };
            match step {
                Step::Frame { out, consumed } => {
                    buf.drain(..consumed);
                    return match out {
                        Ok(signed) => {
                            let sig = Box::new(signed.sig().clone());
                            self.phase = Phase::Verifying {
                                hs,
                                reader,
                                token,
                                signed: Box::new(signed),
                            };
                            Setup::Verify(sig)
                        }
                        Err(f) => Setup::Close {
                            reply: f.reply,
                            end: SetupEnd::Handshake(f.why),
                        },
                    };
                }
                // Websocket Pings are not answered before the client is known.
                Step::Skip { consumed } | Step::Reply { consumed, .. } => {
                    buf.drain(..consumed);
                }
                Step::Close => {
                    return Setup::Close {
                        reply: None,
                        end: SetupEnd::Closed,
                    }
                }
                Step::Need(n) if n > handshake::MAX_FRAME => {
                    return fail(format!("first frame of {n} bytes"));
                }
                Step::Need(n) => {
                    self.phase = Phase::Handshake {
                        hs,
                        reader,
                        token,
                        deadline,
                    };
                    return Setup::Read(n);
                }
            }
        }
    }

    /// The signature from [`Setup::Verify`] was found `valid` or not.
    pub fn signature(&mut self, valid: bool) -> Setup {
        let Phase::Verifying {
            hs,
            mut reader,
            token,
            signed,
        } = std::mem::replace(&mut self.phase, Phase::Closed)
        else {
            return out_of_order();
        };
        match hs.checked(*signed, valid) {
            Ok(verified) => {
                reader.set_message_limit(MAX_MESSAGE);
                self.phase = Phase::Authorizing {
                    hs,
                    reader,
                    token,
                    verified,
                };
                Setup::Authorize
            }
            Err(f) => Setup::Close {
                reply: f.reply,
                end: SetupEnd::Handshake(f.why),
            },
        }
    }

    /// Access control's answer for [`Setup::Authorize`], at `now`.
    pub fn access(&mut self, now: Instant, allowed: bool) -> Setup {
        let Phase::Authorizing {
            hs,
            reader,
            token,
            verified,
        } = std::mem::replace(&mut self.phase, Phase::Closed)
        else {
            return out_of_order();
        };
        if !allowed {
            return Setup::Close {
                reply: Some(hs.deny()),
                end: SetupEnd::Denied,
            };
        }
        match hs.confirm(&verified) {
            Ok(confirm) => {
                let liveness = Liveness::new(now, &mut self.rng);
                self.phase = Phase::Relaying(Box::new(Relaying::new(
                    verified.key,
                    hs.dialect(),
                    reader,
                    token,
                    liveness,
                )));
                Setup::Admitted { confirm }
            }
            Err(f) => Setup::Close {
                reply: None,
                end: SetupEnd::Handshake(f.why),
            },
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

fn out_of_order() -> Setup {
    Setup::Close {
        reply: None,
        end: SetupEnd::Handshake("setup step out of order".into()),
    }
}
