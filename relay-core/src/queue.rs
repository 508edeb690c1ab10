//! A client's bounded send queue: frames already encoded for its dialect,
//! appended back to back so the writer drains them in one write. Pongs go
//! in a lane of their own that is written first: 1.x clients want their
//! Pong within 3x the round-trip time, not behind megabytes of packets.

use crate::proto::key::NodeKey;
use crate::proto::{Datagram, Dialect, ServerFrame, PER_CLIENT_QUEUE_DEPTH};

/// Bytes a queue may hold, whatever the packet count (512 full-size
/// packets would be 32 MiB).
pub const MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;

/// Result of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued into an empty queue: the writer must be woken.
    First,
    /// Queued behind other frames (or nothing to queue): no wake needed.
    Behind,
    /// Not queued: the queue is full.
    Full,
}

/// Most bytes a relayed packet of `len` bytes takes in a queue.
pub const fn recv_packet_cost(len: usize) -> usize {
    Dialect::datagram_cost(len)
}

/// What the writer takes: the urgent lane first, then the rest.
#[derive(Debug, Default)]
pub struct Taken {
    pub urgent: Vec<u8>,
    pub bytes: Vec<u8>,
    /// Packets among `bytes`.
    pub packets: usize,
    /// Frames in both lanes, packets included.
    pub frames: usize,
}

#[derive(Debug)]
pub struct SendQueue {
    dialect: Dialect,
    bytes: Vec<u8>,
    urgent: Vec<u8>,
    packets: usize,
    frames: usize,
}

impl SendQueue {
    /// An empty queue allocates nothing.
    pub fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            bytes: Vec::new(),
            urgent: Vec::new(),
            packets: 0,
            frames: 0,
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Queues a packet from `src`, unless 512 packets or
    /// [`MAX_QUEUED_BYTES`] are already waiting.
    pub fn push_datagram(&mut self, src: &NodeKey, d: &Datagram<'_>) -> Pushed {
        if self.packets >= PER_CLIENT_QUEUE_DEPTH
            || self.bytes.len() + d.contents.len() > MAX_QUEUED_BYTES
        {
            return Pushed::Full;
        }
        let first = self.is_empty();
        self.bytes.reserve(recv_packet_cost(d.contents.len()));
        self.dialect.write_datagram(&mut self.bytes, src, d);
        self.packets += 1;
        self.frames += 1;
        if first {
            Pushed::First
        } else {
            Pushed::Behind
        }
    }

    /// Queues a control frame, bounded by bytes only: a client that floods
    /// pings but never reads stops getting pongs instead of growing memory.
    pub fn push_frame(&mut self, frame: &ServerFrame<'_>) -> Pushed {
        if self.len() + 64 > MAX_QUEUED_BYTES {
            return Pushed::Full;
        }
        let first = self.is_empty();
        let before = self.len();
        let lane = match frame {
            ServerFrame::Pong(_) => &mut self.urgent,
            _ => &mut self.bytes,
        };
        self.dialect.encode(lane, frame);
        if self.len() > before {
            self.frames += 1;
        }
        if first && self.len() > before {
            Pushed::First
        } else {
            Pushed::Behind
        }
    }

    /// Queues bytes already encoded for this dialect, bounded by bytes.
    pub fn push_raw(&mut self, bytes: &[u8]) -> Pushed {
        if bytes.is_empty() {
            return Pushed::Behind;
        }
        if self.len() + bytes.len() > MAX_QUEUED_BYTES {
            return Pushed::Full;
        }
        let first = self.is_empty();
        self.bytes.extend_from_slice(bytes);
        self.frames += 1;
        if first {
            Pushed::First
        } else {
            Pushed::Behind
        }
    }

    /// Takes everything queued, leaving the queue without buffers.
    pub fn take(&mut self) -> Taken {
        Taken {
            urgent: std::mem::take(&mut self.urgent),
            bytes: std::mem::take(&mut self.bytes),
            packets: std::mem::take(&mut self.packets),
            frames: std::mem::take(&mut self.frames),
        }
    }

    /// Whether the queue holds no buffer (give it one before pushing, so
    /// it does not grow from nothing).
    pub fn needs_buffer(&self) -> bool {
        self.bytes.capacity() == 0
    }

    /// Installs an empty buffer with spare capacity.
    pub fn install(&mut self, mut buf: Vec<u8>) {
        if self.bytes.capacity() == 0 {
            buf.clear();
            self.bytes = buf;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty() && self.urgent.is_empty()
    }

    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.bytes.len() + self.urgent.len()
    }

    /// Drops everything; returns the packets and bytes lost.
    pub fn clear(&mut self) -> (usize, usize) {
        let bytes = self.len();
        self.bytes = Vec::new();
        self.urgent = Vec::new();
        self.frames = 0;
        (std::mem::take(&mut self.packets), bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::frame::{decode, Frame};
    use crate::proto::stream::next_frame;
    use crate::proto::Transport;

    const DERP: Dialect = Dialect::V035(Transport::Derp);

    #[test]
    fn packets_are_encoded_back_to_back_pongs_first() {
        let mut q = SendQueue::new(DERP);
        assert_eq!(
            q.push_datagram(&[1; 32], &Datagram::plain(b"ab")),
            Pushed::First
        );
        assert_eq!(q.push_frame(&ServerFrame::Ping([3; 8])), Pushed::Behind);
        assert_eq!(q.push_frame(&ServerFrame::Pong([2; 8])), Pushed::Behind);
        let t = q.take();
        assert_eq!(t.packets, 1);
        assert_eq!(t.frames, 3);
        assert!(q.is_empty());
        let p = next_frame(&t.urgent).unwrap().unwrap();
        assert_eq!(
            decode(p.ty, &t.urgent[p.start..p.end]),
            Ok(Frame::Pong([2; 8]))
        );
        let f = next_frame(&t.bytes).unwrap().unwrap();
        assert_eq!(
            decode(f.ty, &t.bytes[f.start..f.end]),
            Ok(Frame::RecvPacket {
                src: &[1; 32],
                packet: b"ab"
            })
        );
        let g = next_frame(&t.bytes[f.end..]).unwrap().unwrap();
        assert_eq!(g.ty, 12);
        // A frame the dialect lacks queues nothing and wakes nobody.
        assert_eq!(
            q.push_frame(&ServerFrame::Status(crate::proto::Status::Healthy)),
            Pushed::Behind
        );
        assert!(q.is_empty());
    }

    #[test]
    fn installed_buffers_are_used_once_empty() {
        let mut q = SendQueue::new(DERP);
        assert!(q.needs_buffer());
        q.install(Vec::with_capacity(4096));
        assert!(!q.needs_buffer());
        q.push_datagram(&[1; 32], &Datagram::plain(b"x"));
        q.install(Vec::with_capacity(9999));
        let t = q.take();
        assert_eq!(t.bytes.capacity(), 4096);
        assert!(q.needs_buffer());
    }

    #[test]
    fn depth_and_byte_limits() {
        let mut q = SendQueue::new(Dialect::V035(Transport::Websocket));
        for _ in 0..PER_CLIENT_QUEUE_DEPTH {
            assert_ne!(
                q.push_datagram(&[1; 32], &Datagram::plain(b"x")),
                Pushed::Full
            );
        }
        assert_eq!(
            q.push_datagram(&[1; 32], &Datagram::plain(b"x")),
            Pushed::Full
        );
        // Control frames still fit.
        assert_eq!(q.push_frame(&ServerFrame::Pong([0; 8])), Pushed::Behind);
        assert_eq!(q.clear().0, PER_CLIENT_QUEUE_DEPTH);
        let big = vec![0u8; 64 * 1024];
        let mut pushed = 0;
        while q.push_datagram(&[1; 32], &Datagram::plain(&big)) != Pushed::Full {
            pushed += 1;
        }
        let t = q.take();
        assert_eq!(t.packets, pushed);
        assert!(pushed < PER_CLIENT_QUEUE_DEPTH);
        assert!(
            t.bytes.len() <= MAX_QUEUED_BYTES + big.len() + 64,
            "{}",
            t.bytes.len()
        );
        assert!(t.bytes.len() > MAX_QUEUED_BYTES - big.len());
    }
}
