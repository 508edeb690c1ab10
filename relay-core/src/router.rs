//! Which shard owns a key, and the messages shards send each other.
//!
//! Every key lives on exactly one shard (owner = hash mod N), so each
//! shard's client map is a plain `HashMap` only it touches.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::proto::key::NodeKey;
use crate::proto::{Datagram, Family};

/// A connection that finished its handshake on another shard.
pub struct Adopt {
    pub fd: OwnedFd,
    /// The admitted session, its reader's state (websocket fragments)
    /// included.
    pub session: crate::proto::session::Session,
    /// Bytes read after the handshake, not yet processed.
    pub leftover: Vec<u8>,
    /// The handshake's last word (1.x: ServerConfirmsAuth), sent once the
    /// client is registered so no packet to it can be lost in between.
    pub confirm: Option<Vec<u8>>,
}

/// A shard's mailbox message.
pub enum ShardMsg {
    Adopt(Box<Adopt>),
    /// A batch of records for clients owned by the receiving shard; see
    /// [`Batch`].
    Batch(Vec<u8>),
    /// New access lists and limits (SIGHUP).
    Reload(std::sync::Arc<crate::config::Policy>),
    /// Send Restarting to every client, close them and stop.
    Shutdown,
    /// Store the number in the counter: the shard's loop is turning (the
    /// service watchdog, see [`crate::shard::Heartbeat`]).
    Heartbeat(u64, Arc<std::sync::atomic::AtomicU64>),
}

/// Owner shard of a key. Keys are uniformly random (ed25519 points), so
/// eight of their bytes are a good hash.
pub fn owner(key: &NodeKey, shards: usize) -> usize {
    let mut b = [0u8; 8];
    b.copy_from_slice(&key[8..16]);
    (u64::from_le_bytes(b) % shards as u64) as usize
}

/// The senders to every shard's mailbox.
#[derive(Clone)]
pub struct Router {
    mailboxes: Vec<UnboundedSender<ShardMsg>>,
    /// Batch bytes sent to each shard and not yet delivered by it: what a
    /// lagging shard makes the others hold.
    in_transit: Arc<[AtomicUsize]>,
}

impl Router {
    /// Creates the router and each shard's receiving end.
    pub fn new(shards: usize) -> (Self, Vec<UnboundedReceiver<ShardMsg>>) {
        let (tx, rx) = (0..shards)
            .map(|_| tokio::sync::mpsc::unbounded_channel())
            .unzip();
        let in_transit = (0..shards).map(|_| AtomicUsize::new(0)).collect();
        (
            Self {
                mailboxes: tx,
                in_transit,
            },
            rx,
        )
    }

    pub fn shards(&self) -> usize {
        self.mailboxes.len()
    }

    pub fn owner(&self, key: &NodeKey) -> usize {
        owner(key, self.mailboxes.len())
    }

    /// Delivers a message; false if that shard has stopped.
    pub fn send(&self, shard: usize, msg: ShardMsg) -> bool {
        self.mailboxes
            .get(shard)
            .is_some_and(|m| m.send(msg).is_ok())
    }

    /// Sends a batch, counted in transit until the shard calls
    /// [`Router::delivered`].
    pub fn send_batch(&self, shard: usize, batch: Vec<u8>) {
        let Some(count) = self.in_transit.get(shard) else {
            return;
        };
        let len = batch.len();
        count.fetch_add(len, Ordering::Relaxed);
        if !self.send(shard, ShardMsg::Batch(batch)) {
            count.fetch_sub(len, Ordering::Relaxed);
        }
    }

    /// A shard took a batch of `len` bytes off its mailbox.
    pub fn delivered(&self, shard: usize, len: usize) {
        if let Some(count) = self.in_transit.get(shard) {
            count.fetch_sub(len, Ordering::Relaxed);
        }
    }

    /// Batch bytes on their way to `shard`.
    pub fn in_transit(&self, shard: usize) -> usize {
        self.in_transit
            .get(shard)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

/// Record kinds inside a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordKind {
    Packet = 0,
    /// The source left: PeerGone (0.35) or EndpointGone (1.x).
    Gone = 1,
}

/// One record of a batch, borrowing from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub family: Family,
    pub kind: RecordKind,
    pub dst: &'a NodeKey,
    pub src: &'a NodeKey,
    pub datagram: Datagram<'a>,
}

/// Cross-shard batch encoding: records of `family u8 ‖ kind u8 ‖ dst 32 ‖
/// src 32 ‖ ecn u8 (bit 7: disco) ‖ segment u16 LE (0: none) ‖ len u32 LE
/// ‖ contents`.
/// One allocation and one wake-up per flush instead of per packet.
pub struct Batch;

const RECORD_HEADER: usize = 2 + 32 + 32 + 1 + 2 + 4;
/// Beside the two ECN bits in their byte.
const DISCO_BIT: u8 = 0x80;

impl Batch {
    /// Bytes a record carrying `contents` takes in a batch.
    pub fn record_len(contents: &[u8]) -> usize {
        RECORD_HEADER + contents.len()
    }

    pub fn push(buf: &mut Vec<u8>, r: &Record<'_>) {
        let d = &r.datagram;
        buf.reserve(RECORD_HEADER + d.contents.len());
        buf.push(r.family as u8);
        buf.push(r.kind as u8);
        buf.extend_from_slice(r.dst);
        buf.extend_from_slice(r.src);
        buf.push(d.ecn | if d.disco { DISCO_BIT } else { 0 });
        buf.extend_from_slice(&d.segment.unwrap_or(0).to_le_bytes());
        buf.extend_from_slice(&(d.contents.len() as u32).to_le_bytes());
        buf.extend_from_slice(d.contents);
    }

    /// Iterates records. Only [`Batch::push`] writes batches: an unknown
    /// family or kind is a bug, and the rest of the batch is not trusted.
    pub fn records(buf: &[u8]) -> impl Iterator<Item = Record<'_>> {
        let mut rest = buf;
        std::iter::from_fn(move || {
            let head = rest.get(..RECORD_HEADER)?;
            let Some(&family) = Family::ALL.get(usize::from(head[0])) else {
                debug_assert!(false, "unknown batch family {}", head[0]);
                return None;
            };
            let kind = match head[1] {
                0 => RecordKind::Packet,
                1 => RecordKind::Gone,
                other => {
                    debug_assert!(false, "unknown batch record kind {other}");
                    return None;
                }
            };
            let dst: &NodeKey = head[2..34].try_into().ok()?;
            let src: &NodeKey = head[34..66].try_into().ok()?;
            let ecn = head[66] & !DISCO_BIT;
            let disco = head[66] & DISCO_BIT != 0;
            let segment = u16::from_le_bytes([head[67], head[68]]);
            let len = u32::from_le_bytes(head[69..73].try_into().ok()?) as usize;
            let contents = rest.get(RECORD_HEADER..RECORD_HEADER + len)?;
            rest = &rest[RECORD_HEADER + len..];
            Some(Record {
                family,
                kind,
                dst,
                src,
                datagram: Datagram {
                    ecn,
                    segment: (segment != 0).then_some(segment),
                    disco,
                    contents,
                },
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_spreads_keys() {
        let mut counts = [0usize; 3];
        for i in 0..3000u32 {
            let mut k = [0u8; 32];
            k[8..12].copy_from_slice(&i.wrapping_mul(2654435761).to_le_bytes());
            counts[owner(&k, 3)] += 1;
        }
        assert!(counts.iter().all(|c| *c > 800), "{counts:?}");
        assert_eq!(owner(&[7; 32], 1), 0);
    }

    #[test]
    fn batch_roundtrip() {
        let mut b = Vec::new();
        let packet = Record {
            family: Family::V035,
            kind: RecordKind::Packet,
            dst: &[1; 32],
            src: &[2; 32],
            datagram: Datagram {
                disco: true,
                ..Datagram::plain(b"abc")
            },
        };
        let gone = Record {
            family: Family::V1x,
            kind: RecordKind::Gone,
            dst: &[3; 32],
            src: &[4; 32],
            datagram: Datagram::plain(b""),
        };
        let batch = Record {
            family: Family::V1x,
            kind: RecordKind::Packet,
            dst: &[5; 32],
            src: &[6; 32],
            datagram: Datagram {
                ecn: 3,
                segment: Some(1200),
                disco: false,
                contents: b"xy",
            },
        };
        for r in [&packet, &gone, &batch] {
            Batch::push(&mut b, r);
        }
        let recs: Vec<_> = Batch::records(&b).collect();
        assert_eq!(recs, vec![packet, gone, batch]);
        assert_eq!(Batch::records(&b[..b.len() - 1]).count(), 2);
        assert_eq!(Batch::record_len(b"abc"), RECORD_HEADER + 3);
    }
}
