//! Packets through the relay: one client sends `count` probe packets to the
//! other, which echoes each back; the sender times each round trip (two
//! passes through the relay). Three threads per direction, so a lost
//! packet costs the wait once, not once per packet: the sender's writer,
//! the echoing client's reader, the sender's reader.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::client::{
    is_restart, restarting_text, Client, FrameReader, FrameWriter, Inbound, Outbound, RecvError,
};
use super::net;

/// Pause between a direction's packets, so they do not arrive as one burst.
pub const SPACING: Duration = Duration::from_millis(10);
/// How often a waiting echo thread looks whether the run is over.
const POLL: Duration = Duration::from_millis(50);

const MAGIC: &[u8; 17] = b"uring-relay probe";
const KIND_PING: u8 = 1;
const KIND_ECHO: u8 = 2;
const PACKET_LEN: usize = MAGIC.len() + 8 + 1 + 4 + 8;

/// One probe packet: magic ‖ run nonce ‖ kind ‖ seq ‖ send time (ns since
/// the run's epoch, this process's clock: only the sender reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub nonce: u64,
    pub kind: u8,
    pub seq: u32,
    pub sent_ns: u64,
}

impl Probe {
    pub fn encode(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(PACKET_LEN);
        p.extend_from_slice(MAGIC);
        p.extend_from_slice(&self.nonce.to_be_bytes());
        p.push(self.kind);
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&self.sent_ns.to_be_bytes());
        p
    }

    /// `None` for anything that is not a probe packet.
    pub fn decode(p: &[u8]) -> Option<Probe> {
        let rest = p.strip_prefix(MAGIC.as_slice())?;
        if rest.len() != PACKET_LEN - MAGIC.len() {
            return None;
        }
        let (nonce, rest) = rest.split_first_chunk::<8>()?;
        let (kind, rest) = rest.split_first()?;
        let (seq, rest) = rest.split_first_chunk::<4>()?;
        let sent_ns = rest.first_chunk::<8>()?;
        Some(Probe {
            nonce: u64::from_be_bytes(*nonce),
            kind: *kind,
            seq: u32::from_be_bytes(*seq),
            sent_ns: u64::from_be_bytes(*sent_ns),
        })
    }
}

/// What one direction achieved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Direction {
    /// Packets written to the relay.
    pub sent: usize,
    /// Packets the other client received.
    pub delivered: usize,
    /// Echoes back at the sender: complete round trips.
    pub returned: usize,
    /// One per returned packet.
    pub rtts: Vec<Duration>,
    /// A client error (closed, Health, bad frame), if one ended the wait.
    pub error: Option<String>,
}

/// Sends `count` packets from `from` to `to` and waits for their echoes
/// until `timeout` after the last one was sent.
pub fn run(from: &mut Client, to: &mut Client, count: u32, timeout: Duration) -> Direction {
    let nonce: u64 = rand::random();
    let epoch = Instant::now();
    let sending = SPACING * count.saturating_sub(1);
    let deadline = epoch + sending + timeout;
    let done = AtomicBool::new(false);
    let (from_key, to_key) = (from.key, to.key);
    let (from_name, to_name) = (from.name, to.name);
    let writer = &from.writer;
    let sender_side = Side {
        name: from.name,
        reader: &mut from.reader,
        writer,
    };
    let echo_side = Side {
        name: to.name,
        reader: &mut to.reader,
        writer: &to.writer,
    };
    let (sent, sent_err, echo, back) = std::thread::scope(|s| {
        let sender = s.spawn(|| {
            let mut sent = 0;
            for seq in 0..count {
                let packet = Probe {
                    nonce,
                    kind: KIND_PING,
                    seq,
                    sent_ns: epoch.elapsed().as_nanos() as u64,
                }
                .encode();
                if let Err(e) = writer.send(&Outbound::Packet {
                    dst: &to_key,
                    data: &packet,
                }) {
                    return (sent, Some(format!("client {from_name} cannot send: {e}")));
                }
                sent += 1;
                if seq + 1 < count {
                    std::thread::sleep(SPACING);
                }
            }
            (sent, None)
        });
        let echoer = s.spawn(|| echo(echo_side, &from_key, nonce, count, deadline, &done));
        let back = collect(sender_side, &to_key, nonce, count, epoch, deadline);
        done.store(true, Ordering::Relaxed);
        let (sent, sent_err) = sender
            .join()
            .unwrap_or((0, Some("sender thread panicked".to_owned())));
        let echo = echoer
            .join()
            .unwrap_or((0, Some("echo thread panicked".to_owned())));
        (sent, sent_err, echo, back)
    });
    let (delivered, echo_err) = echo;
    let (rtts, back_err) = back;
    Direction {
        sent,
        delivered,
        returned: rtts.len(),
        rtts,
        error: first_error([echo_err, back_err, sent_err])
            .map(|e| format!("{e} (while sending {from_name} to {to_name})")),
    }
}

/// The error to report: a relay's restart announcement first (the write
/// errors after it only follow from the close), then what the readers saw,
/// then the sender's.
fn first_error(errors: [Option<String>; 3]) -> Option<String> {
    let restart = errors.iter().flatten().find(|e| is_restart(e)).cloned();
    restart.or_else(|| errors.into_iter().flatten().next())
}

/// One client's halves, as a thread uses them.
struct Side<'a> {
    name: &'static str,
    reader: &'a mut FrameReader,
    writer: &'a FrameWriter,
}

/// The receiving client: echoes every new probe packet from `peer`.
/// Returns how many distinct packets arrived, and an error that ended it.
fn echo(
    me: Side<'_>,
    peer: &[u8; 32],
    nonce: u64,
    count: u32,
    deadline: Instant,
    done: &AtomicBool,
) -> (usize, Option<String>) {
    let mut seen = vec![false; count as usize];
    let mut delivered = 0;
    while delivered < seen.len() && !done.load(Ordering::Relaxed) {
        let Some(left) = net::remaining(deadline) else {
            break;
        };
        match me.reader.next(Instant::now() + left.min(POLL)) {
            Ok(Inbound::Packet { src, data }) if src == *peer => {
                let Some(p) = first_sight(&data, nonce, KIND_PING, &mut seen) else {
                    continue;
                };
                delivered += 1;
                let reply = Probe {
                    kind: KIND_ECHO,
                    ..p
                }
                .encode();
                if let Err(e) = me.writer.send(&Outbound::Packet {
                    dst: peer,
                    data: &reply,
                }) {
                    return (
                        delivered,
                        Some(format!("client {} cannot send: {e}", me.name)),
                    );
                }
            }
            Ok(other) => {
                if let Err(e) = other_frame(&me, other) {
                    return (delivered, Some(e));
                }
            }
            Err(RecvError::Timeout) => {}
            Err(e) => return (delivered, Some(recv_error(me.name, e))),
        }
    }
    (delivered, None)
}

/// The probe packet in `data` if it is of this run and `kind` and its
/// sequence number was not seen yet (marking it seen); else `None`.
fn first_sight(data: &[u8], nonce: u64, kind: u8, seen: &mut [bool]) -> Option<Probe> {
    let p = Probe::decode(data).filter(|p| p.nonce == nonce && p.kind == kind)?;
    let slot = seen.get_mut(p.seq as usize)?;
    if *slot {
        return None;
    }
    *slot = true;
    Some(p)
}

/// The sending client's reader: round-trip times of the echoes from `peer`.
fn collect(
    me: Side<'_>,
    peer: &[u8; 32],
    nonce: u64,
    count: u32,
    epoch: Instant,
    deadline: Instant,
) -> (Vec<Duration>, Option<String>) {
    let mut seen = vec![false; count as usize];
    let mut rtts = Vec::with_capacity(seen.len());
    while rtts.len() < seen.len() {
        match me.reader.next(deadline) {
            Ok(Inbound::Packet { src, data }) if src == *peer => {
                let now = epoch.elapsed();
                let Some(p) = first_sight(&data, nonce, KIND_ECHO, &mut seen) else {
                    continue;
                };
                rtts.push(now.saturating_sub(Duration::from_nanos(p.sent_ns)));
            }
            Ok(other) => {
                if let Err(e) = other_frame(&me, other) {
                    return (rtts, Some(e));
                }
            }
            Err(RecvError::Timeout) => break,
            Err(e) => return (rtts, Some(recv_error(me.name, e))),
        }
    }
    (rtts, None)
}

/// Frames besides our packets: Pings are answered; a 0.35 Health and a
/// Restarting end the client (a 1.x v1 Health text is only news).
fn other_frame(me: &Side<'_>, frame: Inbound) -> Result<(), String> {
    match frame {
        Inbound::Ping(d) => me
            .writer
            .send(&Outbound::Pong(d))
            .map_err(|e| format!("client {} cannot answer a Ping: {e}", me.name)),
        Inbound::Health(t) if me.writer.protocol().version().is_none() => {
            Err(format!("relay sent client {} Health({t:?})", me.name))
        }
        Inbound::Restarting {
            reconnect_in_ms,
            try_for_ms,
        } => Err(format!(
            "{} to client {}",
            restarting_text(reconnect_in_ms, try_for_ms),
            me.name
        )),
        _ => Ok(()),
    }
}

fn recv_error(name: &str, e: RecvError) -> String {
    match e {
        RecvError::Timeout => format!("client {name} timed out"),
        RecvError::Closed => format!("relay closed client {name}'s connection"),
        RecvError::Io(e) => format!("client {name}: {e}"),
        RecvError::Protocol(e) => format!("relay sent client {name} an invalid frame: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_packets_roundtrip() {
        let p = Probe {
            nonce: 7,
            kind: KIND_PING,
            seq: 3,
            sent_ns: 12345,
        };
        let bytes = p.encode();
        assert_eq!(bytes.len(), PACKET_LEN);
        assert_eq!(Probe::decode(&bytes), Some(p));
        assert_eq!(Probe::decode(&bytes[..PACKET_LEN - 1]), None);
        assert_eq!(Probe::decode(b"uring-relay probe"), None);
        assert_eq!(Probe::decode(&[0u8; PACKET_LEN]), None);
        // Not a disco packet, so relays count it as ordinary data.
        assert!(!relay_proto::frame::is_disco(&bytes));
    }
}
