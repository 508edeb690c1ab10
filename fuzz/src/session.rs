//! One server connection driven through the pure code alone, in the order
//! the shard uses it: HTTP requests until one upgrades, the handshake of
//! the chosen family, then relay frames. Every step checks the invariants
//! the shard relies on: nothing panics, no step consumes more than it was
//! given, a request for more bytes is for more than the buffer holds and
//! is bounded, so the bytes held for a connection stay bounded.

use std::time::{Duration, SystemTime};

use crate::http::{self, Outcome, MAX_HEAD_LEN};
use crate::proto::handshake::{self, Handshake};
use crate::proto::key::is_valid_point;
use crate::proto::reader::{FrameReader, Step};
use crate::proto::ws::MAX_MESSAGE;
use crate::proto::{Dialect, Event, ServerFrame};

use crate::{client_reads, CHALLENGE};

/// Longest websocket frame header (2 + 8 length + 4 mask bytes).
const WS_HEADER_MAX: usize = 14;
/// Most bytes any step may ask to have buffered.
pub const MAX_NEED: usize = MAX_MESSAGE + WS_HEADER_MAX;

/// Where the connection is.
#[derive(Debug)]
pub enum Phase {
    Http,
    Handshake {
        hs: Handshake,
        reader: FrameReader,
        dialect: Dialect,
        /// Access control's answer: tokens starting with `deny` are denied.
        deny: bool,
    },
    Relay {
        reader: FrameReader,
        dialect: Dialect,
    },
    Closed,
}

/// A connection: its phase and the bytes received but not yet used.
#[derive(Debug)]
pub struct Session {
    pub phase: Phase,
    buf: Vec<u8>,
    /// Relay frames handled (for seeds that must reach this far).
    pub frames: usize,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    pub fn new() -> Self {
        Self {
            phase: Phase::Http,
            buf: Vec::new(),
            frames: 0,
        }
    }

    /// Appends one read and handles everything it completes.
    pub fn feed(&mut self, read: &[u8]) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        self.buf.extend_from_slice(read);
        while self.step() {}
        if matches!(self.phase, Phase::Closed) {
            self.buf = Vec::new();
        }
        assert!(self.buf.len() < MAX_NEED, "{} bytes held", self.buf.len());
    }

    /// One step; `false` once more bytes are needed or the connection is
    /// closed.
    fn step(&mut self) -> bool {
        let phase = std::mem::replace(&mut self.phase, Phase::Closed);
        let (next, go_on) = match phase {
            Phase::Closed => (Phase::Closed, false),
            Phase::Http => self.http(),
            Phase::Handshake {
                hs,
                reader,
                dialect,
                deny,
            } => self.handshake(hs, reader, dialect, deny),
            Phase::Relay { reader, dialect } => self.relay(reader, dialect),
        };
        self.phase = next;
        go_on
    }

    fn http(&mut self) -> (Phase, bool) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        match http::handle(&self.buf, now) {
            Outcome::Partial => {
                assert!(self.buf.len() <= MAX_HEAD_LEN, "partial head too long");
                (Phase::Http, false)
            }
            Outcome::Reply {
                reply,
                consumed,
                close,
            } => {
                check_http_reply(&reply, false);
                self.consume(consumed);
                if close {
                    (Phase::Closed, false)
                } else {
                    (Phase::Http, !self.buf.is_empty())
                }
            }
            Outcome::Upgrade {
                reply,
                consumed,
                dialect,
                token,
            } => {
                check_http_reply(&reply, true);
                self.consume(consumed);
                let hs = Handshake::new(dialect, CHALLENGE);
                if let Some(greeting) = hs.greeting() {
                    let frames = client_reads(dialect, &greeting);
                    assert_eq!(frames.len(), 1);
                }
                let mut reader = FrameReader::server(dialect);
                reader.set_message_limit(handshake::MAX_FRAME);
                let next = Phase::Handshake {
                    hs,
                    reader,
                    dialect,
                    deny: token.is_some_and(|t| t.starts_with("deny")),
                };
                (next, true)
            }
        }
    }

    fn handshake(
        &mut self,
        hs: Handshake,
        mut reader: FrameReader,
        d: Dialect,
        deny: bool,
    ) -> (Phase, bool) {
        let len = self.buf.len();
        let step = match reader.next_with(&mut self.buf, |ty, p| hs.on_frame(ty, p)) {
            Ok(s) => s,
            Err(_) => return (Phase::Closed, false),
        };
        check_message_limit(&reader, handshake::MAX_FRAME);
        match step {
            Step::Frame { out, consumed } => {
                assert!(consumed <= len);
                self.consume(consumed);
                let verified = match out {
                    Ok(v) => v,
                    Err(f) => {
                        if let Some(reply) = f.reply {
                            client_reads(d, &reply);
                        }
                        return (Phase::Closed, false);
                    }
                };
                if deny {
                    client_reads(d, &hs.deny());
                    return (Phase::Closed, false);
                }
                match hs.confirm(&verified) {
                    Ok(confirm) => {
                        if let Some(c) = confirm {
                            client_reads(d, &c);
                        }
                    }
                    Err(_) => return (Phase::Closed, false),
                }
                reader.set_message_limit(MAX_MESSAGE);
                (Phase::Relay { reader, dialect: d }, true)
            }
            Step::Skip { consumed } | Step::Reply { consumed, .. } => {
                assert!(consumed <= len);
                self.consume(consumed);
                (self.handshake_phase(hs, reader, d, deny), true)
            }
            Step::Close => (Phase::Closed, false),
            Step::Need(n) => {
                assert!(n > len, "asked for {n} bytes holding {len}");
                if n > handshake::MAX_FRAME {
                    return (Phase::Closed, false);
                }
                (self.handshake_phase(hs, reader, d, deny), false)
            }
        }
    }

    fn handshake_phase(&self, hs: Handshake, reader: FrameReader, d: Dialect, deny: bool) -> Phase {
        Phase::Handshake {
            hs,
            reader,
            dialect: d,
            deny,
        }
    }

    fn relay(&mut self, mut reader: FrameReader, d: Dialect) -> (Phase, bool) {
        let len = self.buf.len();
        let step = reader.next_with(&mut self.buf, |ty, payload| on_frame(d, ty, payload));
        check_message_limit(&reader, MAX_MESSAGE);
        let step = match step {
            Ok(s) => s,
            Err(_) => return (Phase::Closed, false),
        };
        match step {
            Step::Frame { out, consumed } => {
                assert!(consumed <= len);
                self.consume(consumed);
                self.frames += 1;
                if !out {
                    return (Phase::Closed, false);
                }
            }
            Step::Skip { consumed } => {
                assert!(consumed <= len);
                self.consume(consumed);
            }
            Step::Reply { bytes, consumed } => {
                assert!(consumed <= len);
                assert!(bytes.len() <= 2 + 125, "pong of {} bytes", bytes.len());
                self.consume(consumed);
            }
            Step::Close => return (Phase::Closed, false),
            Step::Need(n) => {
                assert!(n > len, "asked for {n} bytes holding {len}");
                assert!(n <= MAX_NEED, "asked for {n} bytes");
                return (Phase::Relay { reader, dialect: d }, false);
            }
        }
        (Phase::Relay { reader, dialect: d }, true)
    }

    fn consume(&mut self, n: usize) {
        assert!(n <= self.buf.len(), "consumed {n} of {}", self.buf.len());
        self.buf.drain(..n);
    }
}

/// A relay frame as the shard handles it; `false` closes the connection.
/// Whatever the server would send in answer must read back whole.
fn on_frame(d: Dialect, ty: u64, payload: &[u8]) -> bool {
    let mut out = Vec::new();
    match d.on_client_frame(ty, payload) {
        Err(_) => return false,
        Ok(Event::Forward { dst, datagram, .. }) => {
            if !is_valid_point(dst) {
                return false;
            }
            // Delivered to a receiver of the same dialect, from `dst`.
            d.write_datagram(&mut out, dst, &datagram);
            assert!(out.len() <= Dialect::datagram_cost(datagram.contents.len()));
            let frames = client_reads(d, &out);
            assert_eq!(frames.len(), 1);
            assert!(frames[0].1.ends_with(datagram.contents));
        }
        Ok(Event::Ping(data)) => {
            d.encode(&mut out, &ServerFrame::Pong(data));
            let frames = client_reads(d, &out);
            assert_eq!(frames.len(), 1);
            assert_eq!(frames[0].1, data);
        }
        Ok(Event::Pong(_) | Event::Unforwardable | Event::Ignored) => {}
    }
    true
}

/// A websocket reader never holds a message over its limit.
fn check_message_limit(reader: &FrameReader, limit: usize) {
    if let FrameReader::Websocket { decoder, .. } = reader {
        assert!(decoder.message().len() <= limit);
    }
}

/// A reply is one complete HTTP/1.1 response head (plus its body).
pub fn check_http_reply(reply: &[u8], upgrade: bool) {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let status = resp.parse(reply).expect("reply does not parse");
    assert!(status.is_complete(), "reply head is incomplete");
    let code = resp.code.unwrap_or(0);
    assert_eq!(code == 101, upgrade, "status {code}");
}
