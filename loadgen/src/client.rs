//! One connected client during the run: answers server Pings, sends its
//! packets (coalesced into one write per wake-up), and counts and times the
//! packets it receives.

use std::io;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::config::Rate;
use crate::connect::Connected;
use crate::payload;
use crate::shared::Phase;
use crate::stats;
use crate::thread_state::ThreadState;
use crate::window;
use crate::wire::{Inbound, Wire};

/// Bytes requested per read.
const READ_CHUNK: usize = 64 * 1024;
/// Reads per wake-up before other clients get a turn: one busy socket
/// must not keep the thread from reading the others (the relay closes a
/// receiver that reads nothing for 2 s).
const READS_PER_TURN: usize = 1;
/// Unwritten bytes beyond which a fixed-rate sender skips packets (counted
/// as unsent) instead of queueing without bound.
const OUT_CAP: usize = 256 * 1024;
/// Buffers grown beyond this are released once empty (idle clients stay small).
const KEEP_CAPACITY: usize = 64 * 1024;
/// A max-rate sender whose window stays closed this long writes it off
/// (the relay dropped packets) so it does not stop for good.
const STALL: Duration = Duration::from_millis(250);

/// Why a connection ended before the run did.
#[derive(Debug)]
pub enum End {
    Eof,
    /// The server closed with unread data (RST) or before our write.
    Reset(io::Error),
    WsClose,
    Io(io::Error),
    Protocol(String),
    Health(String),
}

impl End {
    /// An I/O error, or on loopback the server closing the connection: a
    /// server that closes a socket with unread bytes in it sends a reset,
    /// and that is as much "closed by the server" as a FIN.
    pub fn from_io(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => End::Reset(e),
            _ => End::Io(e),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            End::Eof | End::Reset(_) => "server_closed",
            End::WsClose => "websocket_close",
            End::Io(_) => "io_error",
            End::Protocol(_) => "protocol_error",
            End::Health(_) => "health_frame",
        }
    }
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Eof => write!(f, "server closed the connection"),
            End::Reset(e) => write!(f, "server closed the connection ({e})"),
            End::WsClose => write!(f, "server sent websocket Close"),
            End::Io(e) => write!(f, "I/O error: {e}"),
            End::Protocol(e) => write!(f, "protocol error: {e}"),
            End::Health(t) => write!(f, "server health message: {t}"),
        }
    }
}

/// Per-client state the task owns.
struct Client {
    idx: usize,
    /// Protocol group (--mix; 0 otherwise).
    group: usize,
    stream: TcpStream,
    wire: Wire,
    /// Start of an incomplete frame carried over to the next read.
    partial: Vec<u8>,
    /// Encoded bytes not yet accepted by the kernel.
    out: Vec<u8>,
    /// Packets sent so far (also the next sequence number).
    seq: u64,
    /// Round-robin position for fanout destinations.
    rr: u64,
    /// When a max-rate sender found its window closed.
    blocked_at: Option<Instant>,
}

/// Runs a connected client until the run ends or the connection does.
pub async fn run(local: Rc<ThreadState>, idx: usize, conn: Connected) {
    let Connected {
        stream,
        wire,
        partial,
        out,
    } = conn;
    let mut c = Client {
        idx,
        group: local.shared.cfg.mix.group_of(idx),
        stream,
        wire,
        partial,
        out,
        seq: 0,
        rr: 0,
        blocked_at: None,
    };
    let end = c.run(&local).await;
    let sh = &*local.shared;
    if let Some(slot) = sh.slots.get(idx) {
        slot.connected.store(false, Ordering::Relaxed);
    }
    if let Some(e) = end {
        if local.phase.get() < Phase::Exit {
            local.counters().disconnects.add(1);
            local.note_error(e.kind(), e.to_string());
        }
    }
}

impl Client {
    /// `None` when the run ended, `Some(reason)` when the connection did.
    async fn run(&mut self, local: &ThreadState) -> Option<End> {
        let sh = &*local.shared;
        let slot = sh.slots.get(self.idx)?;
        let is_sender = sh.cfg.pattern.is_sender(self.idx, sh.cfg.clients);
        // Replies owed from the handshake phase.
        if let Err(e) = flush(&self.stream, &mut self.out) {
            return Some(End::from_io(e));
        }
        loop {
            let phase = local.phase.get();
            if phase == Phase::Exit {
                return None;
            }
            if phase != Phase::Traffic {
                self.blocked_at = None;
            }
            if is_sender && phase == Phase::Traffic {
                let n = self.allowance(local);
                if n > 0 {
                    self.build(local, n);
                }
            }
            if !self.out.is_empty() {
                if let Err(e) = flush(&self.stream, &mut self.out) {
                    return Some(End::from_io(e));
                }
            }
            let interest = if self.out.is_empty() {
                Interest::READABLE
            } else {
                Interest::READABLE | Interest::WRITABLE
            };
            let stall_at = self.blocked_at.map(|t| t + STALL);
            tokio::select! {
                biased;
                r = self.stream.ready(interest) => match r {
                    Ok(ready) if ready.is_readable() || ready.is_read_closed() => {
                        match self.on_readable(local) {
                            Err(e) => return Some(e),
                            Ok(Drained::No) => tokio::task::yield_now().await,
                            Ok(Drained::Yes) => {}
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return Some(End::Io(e)),
                },
                _ = slot.wake.notified() => {}
                _ = sleep_until_opt(stall_at) => {
                    // The relay lost part of this window: write it off.
                    slot.acked.fetch_max(self.seq, Ordering::SeqCst);
                    slot.blocked.store(false, Ordering::SeqCst);
                    self.blocked_at = None;
                    local.counters().window_stalls.add(1);
                }
            }
        }
    }

    /// Packets this sender may send now.
    fn allowance(&mut self, local: &ThreadState) -> u64 {
        let sh = &*local.shared;
        match sh.cfg.rate {
            Rate::Fixed(_) => {
                let credits = u64::from(local.take_credits(self.idx));
                if self.out.len() > OUT_CAP {
                    local.counters().unsent.add(credits);
                    0
                } else {
                    credits
                }
            }
            Rate::Max => {
                let Some(slot) = sh.slots.get(self.idx) else {
                    return 0;
                };
                let allow = window::allowance(slot, sh.cfg.window, self.seq);
                if allow > 0 {
                    self.blocked_at = None;
                } else {
                    self.blocked_at.get_or_insert_with(Instant::now);
                }
                allow
            }
        }
    }

    /// Encodes `n` SendPackets into the output buffer.
    fn build(&mut self, local: &ThreadState, n: u64) {
        let sh = &*local.shared;
        let cfg = &sh.cfg;
        let mut pkt = local.packet.borrow_mut();
        let now = sh.now_ns();
        let (mut sent, mut unsent) = (0u64, 0u64);
        for _ in 0..n {
            let dst = cfg.pattern.dest(self.idx, cfg.clients, self.rr);
            self.rr += 1;
            let Some(dst) = dst.filter(|&d| sh.is_connected(d)) else {
                unsent += 1;
                continue;
            };
            payload::write(
                &mut pkt,
                &payload::Header {
                    sender: self.idx as u32,
                    seq: self.seq,
                    sent_ns: now,
                },
            );
            self.wire.packet(&mut self.out, &sh.keys[dst], &pkt);
            self.seq += 1;
            sent += 1;
        }
        let ctr = local.counters();
        ctr.sent.add(sent);
        ctr.unsent.add(unsent);
        if let Some(g) = ctr.groups.get(self.group) {
            g.sent.add(sent);
        }
        if cfg.rate == Rate::Max {
            ctr.offered.add(sent + unsent);
            if let Some(slot) = sh.slots.get(self.idx) {
                slot.sent.store(self.seq, Ordering::SeqCst);
            }
        }
    }

    /// Reads until the socket is drained or its turn is over, handling
    /// every complete frame.
    fn on_readable(&mut self, local: &ThreadState) -> Result<Drained, End> {
        let sh = &*local.shared;
        let mut rbuf = local.rbuf.borrow_mut();
        let mut lat = local.latency.borrow_mut();
        let mut groups = local.groups.borrow_mut();
        let mut group_lat = groups.get_mut(self.group).map(|g| &mut g.latency);
        let ctr = local.counters();
        let in_window = local.phase.get() == Phase::Traffic;
        let max_mode = sh.cfg.rate == Rate::Max;
        for _ in 0..READS_PER_TURN {
            let pre = self.partial.len();
            if rbuf.len() < pre + READ_CHUNK {
                rbuf.resize(pre + READ_CHUNK, 0);
            }
            rbuf[..pre].copy_from_slice(&self.partial);
            let n = match self.stream.try_read(&mut rbuf[pre..]) {
                Ok(0) => return Err(End::Eof),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Drained::Yes),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(End::from_io(e)),
            };
            self.partial.clear();
            let total = pre + n;
            let (mut delivered, mut bad, mut pings, mut gone) = (0u64, 0u64, 0u64, 0u64);
            let mut fail = None;
            let (mut notices, out) = (0u64, &mut self.out);
            let drained = self.wire.drain(&mut rbuf[..total], out, |inbound| {
                match inbound {
                    Inbound::Packet { src, packet } => match payload::read(packet) {
                        Some(h) if sh.keys.get(h.sender as usize) == Some(src) => {
                            delivered += 1;
                            let ns = sh.now_ns().saturating_sub(h.sent_ns);
                            stats::record(&mut lat, ns);
                            if let Some(g) = group_lat.as_deref_mut() {
                                stats::record(g, ns);
                            }
                            if max_mode {
                                window::ack(sh, h.sender as usize);
                            }
                        }
                        _ => bad += 1,
                    },
                    Inbound::Ping(_) => pings += 1,
                    Inbound::Quiet => {}
                    Inbound::Notice => notices += 1,
                    Inbound::Gone => gone += 1,
                    Inbound::Health(t) => {
                        fail = Some(End::Health(t));
                        return false;
                    }
                    Inbound::Unexpected(e) => {
                        fail = Some(End::Protocol(e));
                        return false;
                    }
                }
                true
            });
            ctr.delivered.add(delivered);
            ctr.health.add(notices);
            if in_window {
                ctr.delivered_in_window.add(delivered);
            }
            if let Some(g) = ctr.groups.get(self.group) {
                g.delivered.add(delivered);
                if in_window {
                    g.delivered_in_window.add(delivered);
                }
            }
            ctr.bad_payload.add(bad);
            ctr.server_pings.add(pings);
            ctr.peer_gone.add(gone);
            let drained = match drained {
                Ok(d) => d,
                Err(e) => {
                    ctr.protocol_errors.add(1);
                    return Err(End::Protocol(e.to_string()));
                }
            };
            if let Some(e) = fail {
                match e {
                    End::Health(_) => ctr.health.add(1),
                    _ => ctr.protocol_errors.add(1),
                }
                return Err(e);
            }
            if drained.closed {
                return Err(End::WsClose);
            }
            self.partial
                .extend_from_slice(&rbuf[drained.consumed..total]);
            if self.partial.is_empty() && self.partial.capacity() > KEEP_CAPACITY {
                self.partial = Vec::new();
            }
        }
        Ok(Drained::No)
    }
}

/// Whether a turn of reads emptied the socket.
enum Drained {
    Yes,
    No,
}

/// Writes as much of `out` as the socket takes now.
fn flush(stream: &TcpStream, out: &mut Vec<u8>) -> io::Result<()> {
    while !out.is_empty() {
        match stream.try_write(out) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(k) if k == out.len() => out.clear(),
            Ok(k) => {
                out.drain(..k);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if out.capacity() > KEEP_CAPACITY {
        *out = Vec::new();
    }
    Ok(())
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_count_as_closed_by_the_server() {
        for kind in [
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::ConnectionAborted,
            io::ErrorKind::BrokenPipe,
        ] {
            let e = End::from_io(io::Error::from(kind));
            assert_eq!(e.kind(), "server_closed", "{kind:?}");
            assert!(e.to_string().starts_with("server closed the connection ("));
        }
        assert_eq!(End::Eof.kind(), "server_closed");
        let other = End::from_io(io::Error::from(io::ErrorKind::OutOfMemory));
        assert_eq!(other.kind(), "io_error");
    }
}
