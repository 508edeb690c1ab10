//! The relaying phase: client frames in, what they ask for out through a
//! [`Relay`]; the receive limit (reads pause, nothing is dropped); the
//! destinations a client sent to, each key checked once.

use std::time::Instant;

use super::liveness::Liveness;
use crate::datagram::{Datagram, Event, ServerFrame, Status};
use crate::dialect::{Dialect, ProtocolError, RxCharge};
use crate::key::{is_valid_point, KeySet, NodeKey};
use crate::ratelimit::{frame_cost, RxLimit, TokenBucket};
use crate::reader::{FrameReader, ReadError, Step};

/// Distinct destinations remembered per client, for telling them it left.
pub const MAX_DESTINATIONS: usize = 4096;

/// Where a relaying session's frames go: the caller's routing and the
/// client's send queue.
pub trait Relay {
    /// A packet for `dst`, a valid key (checked here).
    fn forward(&mut self, dst: &NodeKey, datagram: &Datagram<'_>);
    /// A control frame for this client (Pong, Status); false if it could
    /// not be queued.
    fn send(&mut self, frame: &ServerFrame<'_>) -> bool;
    /// Bytes for this client as they are (a websocket Pong).
    fn send_raw(&mut self, bytes: &[u8]);
    /// Something worth counting that needs no action.
    fn note(&mut self, note: Note);
}

/// Events a [`Relay`] may count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// A client Ping.
    Ping {
        /// Whether its Pong was queued.
        answered: bool,
    },
    /// A datagram its receiver would reject (dropped, nobody closed).
    Unforwardable,
    /// A valid frame the relay has no use for.
    Ignored,
    /// Reading paused at the receive limit.
    RateLimited {
        /// Bytes already read that wait with it.
        held: usize,
        /// The first time for this connection.
        first: bool,
    },
}

/// What the connection does after [`super::Session::handle_input`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read until the buffer holds at least this many bytes.
    Read(usize),
    /// Over the receive limit: read nothing until this time (TCP holds the
    /// sender back; nothing is dropped), then call again.
    Paused(Instant),
    /// The client closed the session (websocket Close).
    Closed,
}

/// Why a relaying client is closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    /// The framing is broken (stream header, websocket).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A frame breaks its family's rules.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// A packet for a key that is not a valid public key.
    #[error("destination key is not a valid ed25519 point")]
    InvalidKey,
    /// Input before admission, or after the close.
    #[error("the session is not relaying")]
    NotRelaying,
}

/// A relaying client's state.
pub(super) struct Relaying {
    key: NodeKey,
    dialect: Dialect,
    reader: FrameReader,
    token: Option<Box<str>>,
    liveness: Liveness,
    rx: Option<TokenBucket>,
    /// Whether reading was ever paused (counted once, told once).
    limited: bool,
    destinations: KeySet,
    /// The last destination, whose key needs no lookup.
    last_dst: Option<NodeKey>,
}

impl Relaying {
    pub(super) fn new(
        key: NodeKey,
        dialect: Dialect,
        reader: FrameReader,
        token: Option<Box<str>>,
        liveness: Liveness,
    ) -> Self {
        Self {
            key,
            dialect,
            reader,
            token,
            liveness,
            rx: None,
            limited: false,
            destinations: KeySet::default(),
            last_dst: None,
        }
    }

    pub(super) fn key(&self) -> &NodeKey {
        &self.key
    }

    pub(super) fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub(super) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub(super) fn liveness(&self) -> &Liveness {
        &self.liveness
    }

    pub(super) fn liveness_mut(&mut self) -> &mut Liveness {
        &mut self.liveness
    }

    pub(super) fn destinations(&self) -> impl Iterator<Item = &NodeKey> {
        self.destinations.iter()
    }

    pub(super) fn set_rx_limit(&mut self, now: Instant, limit: Option<RxLimit>) {
        match (limit, self.rx.as_mut()) {
            (None, _) => self.rx = None,
            (Some(l), Some(bucket)) => bucket.reconfigure(l.bytes_per_second, l.burst_bytes),
            (Some(l), None) => self.rx = Some(l.bucket(now)),
        }
    }

    pub(super) fn handle_input(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        out: &mut impl Relay,
    ) -> Result<Flow, RelayError> {
        let (result, consumed) = self.handle_slice(now, buf, out);
        buf.drain(..consumed);
        result
    }

    /// [`Self::handle_input`] over bytes the caller keeps: returns the flow
    /// and how many bytes from the start were used (websocket payloads
    /// are unmasked in place).
    pub(super) fn handle_slice(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        out: &mut impl Relay,
    ) -> (Result<Flow, RelayError>, usize) {
        let Self {
            dialect,
            reader,
            rx,
            limited,
            liveness,
            destinations,
            last_dst,
            ..
        } = self;
        let dialect = *dialect;
        let charge = dialect.family().rx_charge();
        let mut pos = 0;
        let result = loop {
            if let Some(until) = pause(rx, limited, now, buf.len() - pos, out) {
                break Ok(Flow::Paused(until));
            }
            let step = reader.next_with(&mut buf[pos..], |ty, payload| {
                let done = on_frame(dialect, ty, payload, liveness, destinations, last_dst, out);
                if done.is_ok() && charge == RxCharge::FramePayload {
                    if let Some(b) = rx.as_mut() {
                        b.charge(frame_cost(payload.len()), now);
                    }
                }
                done
            });
            let consumed = match step {
                Ok(Step::Frame {
                    out: Ok(()),
                    consumed,
                }) => consumed,
                Ok(Step::Frame { out: Err(e), .. }) => break Err(e),
                Ok(Step::Skip { consumed }) => consumed,
                Ok(Step::Reply { bytes, consumed }) => {
                    out.send_raw(&bytes);
                    consumed
                }
                Ok(Step::Close) => break Ok(Flow::Closed),
                Ok(Step::Need(n)) => break Ok(Flow::Read(n)),
                Err(e) => break Err(e.into()),
            };
            if charge == RxCharge::WireBytes {
                if let Some(b) = rx.as_mut() {
                    b.charge(consumed as f64, now);
                }
            }
            pos += consumed;
        };
        (result, pos)
    }
}

/// If the client is over its receive limit, until when to pause; `held`
/// bytes already read wait with it.
fn pause(
    rx: &mut Option<TokenBucket>,
    limited: &mut bool,
    now: Instant,
    held: usize,
    out: &mut impl Relay,
) -> Option<Instant> {
    let wait = rx.as_mut()?.wait(now)?;
    let first = !std::mem::replace(limited, true);
    out.note(Note::RateLimited { held, first });
    if first {
        // v2 clients are told once (v1 and 0.35 have no such notice).
        out.send(&ServerFrame::Status(Status::RateLimited));
    }
    Some(now + wait)
}

fn on_frame(
    dialect: Dialect,
    ty: u64,
    payload: &[u8],
    liveness: &mut Liveness,
    destinations: &mut KeySet,
    last_dst: &mut Option<NodeKey>,
    out: &mut impl Relay,
) -> Result<(), RelayError> {
    match dialect.on_client_frame(ty, payload)? {
        Event::Forward { dst, datagram } => {
            if !note_destination(destinations, last_dst, dst) {
                return Err(RelayError::InvalidKey);
            }
            out.forward(dst, &datagram);
        }
        Event::Unforwardable => out.note(Note::Unforwardable),
        Event::Ping(data) => {
            let answered = out.send(&ServerFrame::Pong(data));
            out.note(Note::Ping { answered });
        }
        Event::Pong(data) => {
            liveness.pong(data);
        }
        Event::Ignored => out.note(Note::Ignored),
    }
    Ok(())
}

/// Records `dst`; false if it is not a valid key. Each new destination
/// costs one point decompression, once.
fn note_destination(
    destinations: &mut KeySet,
    last_dst: &mut Option<NodeKey>,
    dst: &NodeKey,
) -> bool {
    if last_dst.as_ref() == Some(dst) {
        return true;
    }
    if !destinations.contains(dst) {
        if !is_valid_point(dst) {
            return false;
        }
        if destinations.len() < MAX_DESTINATIONS {
            destinations.insert(*dst);
        }
    }
    *last_dst = Some(*dst);
    true
}
