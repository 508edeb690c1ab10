//! Which shard owns a key, and the messages shards send each other.
//!
//! Every key lives on exactly one shard (owner = hash mod N), so each
//! shard's client map is a plain `HashMap` only it touches.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::proto::key::NodeKey;
use crate::proto::ws::WsDecoder;
use crate::proto::Transport;

/// A connection that finished its handshake on another shard.
pub struct Adopt {
    pub fd: OwnedFd,
    pub key: NodeKey,
    pub transport: Transport,
    /// Bytes read after ClientInfo, not yet processed.
    pub leftover: Vec<u8>,
    /// Websocket fragment state, if any.
    pub ws: Option<WsDecoder>,
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
    PeerGone = 1,
}

/// Cross-shard batch encoding: records of
/// `kind u8 ‖ dst 32 ‖ src 32 ‖ len u32 LE ‖ packet`. One allocation and
/// one wake-up per read batch instead of per packet.
pub struct Batch;

const RECORD_HEADER: usize = 1 + 32 + 32 + 4;

impl Batch {
    /// Bytes a record carrying `packet` takes in a batch.
    pub fn record_len(packet: &[u8]) -> usize {
        RECORD_HEADER + packet.len()
    }

    pub fn push(buf: &mut Vec<u8>, kind: RecordKind, dst: &NodeKey, src: &NodeKey, packet: &[u8]) {
        buf.reserve(RECORD_HEADER + packet.len());
        buf.push(kind as u8);
        buf.extend_from_slice(dst);
        buf.extend_from_slice(src);
        buf.extend_from_slice(&(packet.len() as u32).to_le_bytes());
        buf.extend_from_slice(packet);
    }

    /// Iterates records; batches are produced only by [`Batch::push`], a
    /// truncated tail is ignored.
    pub fn records(buf: &[u8]) -> impl Iterator<Item = (RecordKind, &NodeKey, &NodeKey, &[u8])> {
        let mut rest = buf;
        std::iter::from_fn(move || {
            let head = rest.get(..RECORD_HEADER)?;
            let kind = match head[0] {
                0 => RecordKind::Packet,
                1 => RecordKind::PeerGone,
                // Only Batch::push writes batches: an unknown kind is a
                // bug, and the rest of the batch cannot be trusted.
                other => {
                    debug_assert!(false, "unknown batch record kind {other}");
                    return None;
                }
            };
            let dst: &NodeKey = head[1..33].try_into().ok()?;
            let src: &NodeKey = head[33..65].try_into().ok()?;
            let len = u32::from_le_bytes(head[65..69].try_into().ok()?) as usize;
            let packet = rest.get(RECORD_HEADER..RECORD_HEADER + len)?;
            rest = &rest[RECORD_HEADER + len..];
            Some((kind, dst, src, packet))
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
        Batch::push(&mut b, RecordKind::Packet, &[1; 32], &[2; 32], b"abc");
        Batch::push(&mut b, RecordKind::PeerGone, &[3; 32], &[4; 32], b"");
        let recs: Vec<_> = Batch::records(&b).collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(
            recs[0],
            (RecordKind::Packet, &[1; 32], &[2; 32], &b"abc"[..])
        );
        assert_eq!(recs[1].0, RecordKind::PeerGone);
        assert_eq!(Batch::records(&b[..b.len() - 1]).count(), 1);
    }
}
