//! Setup, the phases before relaying: HTTP requests until one upgrades,
//! the client's first frame, its signature, and access control.

use std::time::{Instant, SystemTime};

use super::liveness::Liveness;
use super::relaying::Relaying;
use super::{Phase, Session, HANDSHAKE_TIMEOUT, HEAD_TIMEOUT};
use crate::handshake::{self, Handshake};
use crate::http::{self, Outcome};
use crate::reader::{FrameReader, Step};
use crate::sig::SigCheck;
use crate::ws::MAX_MESSAGE;
use crate::Dialect;

/// What the connection must do next during setup.
#[derive(Debug)]
pub enum Setup {
    /// Read until the buffer holds at least this many bytes (by
    /// [`Session::poll_timeout`]), then call [`Session::setup`] again.
    Read(usize),
    /// Write this reply, then call [`Session::setup`] again (the next
    /// request may already be in the buffer).
    Write(Vec<u8>),
    /// The request upgraded: write `reply`, then call [`Session::setup`]
    /// again.
    Upgrade {
        /// The 101 and, for 1.x, the challenge, for one write.
        reply: Vec<u8>,
        /// What the connection speaks from now on.
        dialect: Dialect,
    },
    /// Check this signature and report with [`Session::signature`].
    Verify(Box<SigCheck>),
    /// Ask access control about [`Session::key`] (which presented
    /// [`Session::token`]) and report with [`Session::access`].
    Authorize,
    /// Admitted: the session relays. Register the client.
    Admitted {
        /// Sent before anything else (1.x's ServerConfirmsAuth).
        confirm: Option<Vec<u8>>,
    },
    /// The connection ends.
    Close {
        /// Written first, if there is one (a 4xx, Health, ServerDeniesAuth).
        reply: Option<Vec<u8>>,
        /// Why.
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
    /// The first frame, its signature or its version was refused.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// Access control refused the key.
    #[error("access denied")]
    Denied,
}

impl Session {
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
}

fn out_of_order() -> Setup {
    Setup::Close {
        reply: None,
        end: SetupEnd::Handshake("setup step out of order".into()),
    }
}
