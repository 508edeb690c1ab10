//! A client's bounded send queue: frames already encoded for its transport,
//! appended back to back so the writer drains them in one write.

use crate::proto::key::NodeKey;
use crate::proto::{Frame, Transport, HEADER_LEN, KEY_LEN, PER_CLIENT_QUEUE_DEPTH};

/// Bytes a queue may hold, whatever the packet count (512 full-size
/// packets would be 32 MiB).
pub const MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;

/// Result of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued into an empty queue: the writer must be woken.
    First,
    /// Queued behind other frames: the writer is already due.
    Behind,
    /// Not queued: the queue is full.
    Full,
}

/// Most bytes a RecvPacket of `packet_len` takes in a queue, on either
/// transport.
pub const fn recv_packet_cost(packet_len: usize) -> usize {
    ws_or_stream_overhead() + KEY_LEN + packet_len
}

/// Largest RecvPacket header on either transport (websocket: 10 + type).
const fn ws_or_stream_overhead() -> usize {
    if HEADER_LEN > 11 {
        HEADER_LEN
    } else {
        11
    }
}

#[derive(Debug)]
pub struct SendQueue {
    transport: Transport,
    bytes: Vec<u8>,
    packets: usize,
}

impl SendQueue {
    /// An empty queue allocates nothing.
    pub fn new(transport: Transport) -> Self {
        Self {
            transport,
            bytes: Vec::new(),
            packets: 0,
        }
    }

    /// Queues a RecvPacket from `src`, unless 512 packets or
    /// [`MAX_QUEUED_BYTES`] are already waiting.
    pub fn push_packet(&mut self, src: &NodeKey, packet: &[u8]) -> Pushed {
        if self.packets >= PER_CLIENT_QUEUE_DEPTH
            || self.bytes.len() + packet.len() > MAX_QUEUED_BYTES
        {
            return Pushed::Full;
        }
        let first = self.bytes.is_empty();
        self.bytes.reserve(recv_packet_cost(packet.len()));
        self.transport
            .write_recv_header(&mut self.bytes, packet.len());
        self.bytes.extend_from_slice(src);
        self.bytes.extend_from_slice(packet);
        self.packets += 1;
        if first {
            Pushed::First
        } else {
            Pushed::Behind
        }
    }

    /// Queues a control frame, bounded by bytes only: a client that floods
    /// pings but never reads stops getting pongs instead of growing memory.
    pub fn push_frame(&mut self, frame: &Frame<'_>) -> Pushed {
        if self.bytes.len() + frame.payload_len() > MAX_QUEUED_BYTES {
            return Pushed::Full;
        }
        let first = self.bytes.is_empty();
        self.transport.encode(&mut self.bytes, frame);
        if first {
            Pushed::First
        } else {
            Pushed::Behind
        }
    }

    /// Takes everything queued, leaving the queue without a buffer;
    /// returns the bytes and the number of packets among them.
    pub fn take(&mut self) -> (Vec<u8>, usize) {
        (
            std::mem::take(&mut self.bytes),
            std::mem::take(&mut self.packets),
        )
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
        self.bytes.is_empty()
    }

    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Drops everything; returns the packets and bytes lost.
    pub fn clear(&mut self) -> (usize, usize) {
        let bytes = std::mem::take(&mut self.bytes).len();
        (std::mem::take(&mut self.packets), bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::frame::decode;
    use crate::proto::stream::next_frame;

    #[test]
    fn packets_are_encoded_back_to_back() {
        let mut q = SendQueue::new(Transport::Derp);
        assert_eq!(q.push_packet(&[1; 32], b"ab"), Pushed::First);
        assert_eq!(q.push_frame(&Frame::Pong([2; 8])), Pushed::Behind);
        let (bytes, n) = q.take();
        assert_eq!(n, 1);
        assert!(q.is_empty());
        let f = next_frame(&bytes).unwrap().unwrap();
        assert_eq!(
            decode(f.ty, &bytes[f.start..f.end]),
            Ok(Frame::RecvPacket {
                src: &[1; 32],
                packet: b"ab"
            })
        );
        let g = next_frame(&bytes[f.end..]).unwrap().unwrap();
        assert_eq!(g.ty, 13);
    }

    #[test]
    fn installed_buffers_are_used_once_empty() {
        let mut q = SendQueue::new(Transport::Derp);
        assert!(q.needs_buffer());
        q.install(Vec::with_capacity(4096));
        assert!(!q.needs_buffer());
        q.push_packet(&[1; 32], b"x");
        q.install(Vec::with_capacity(9999));
        let (bytes, _) = q.take();
        assert_eq!(bytes.capacity(), 4096);
        assert!(q.needs_buffer());
    }

    #[test]
    fn depth_and_byte_limits() {
        let mut q = SendQueue::new(Transport::Websocket);
        for _ in 0..PER_CLIENT_QUEUE_DEPTH {
            assert_ne!(q.push_packet(&[1; 32], b"x"), Pushed::Full);
        }
        assert_eq!(q.push_packet(&[1; 32], b"x"), Pushed::Full);
        // Control frames still fit.
        assert_eq!(q.push_frame(&Frame::Pong([0; 8])), Pushed::Behind);
        assert_eq!(q.clear().0, PER_CLIENT_QUEUE_DEPTH);
        let big = vec![0u8; 64 * 1024];
        let mut pushed = 0;
        while q.push_packet(&[1; 32], &big) != Pushed::Full {
            pushed += 1;
        }
        let (bytes, n) = q.take();
        assert_eq!(n, pushed);
        assert!(pushed < PER_CLIENT_QUEUE_DEPTH);
        assert!(
            bytes.len() <= MAX_QUEUED_BYTES + big.len() + 64,
            "{}",
            bytes.len()
        );
        assert!(bytes.len() > MAX_QUEUED_BYTES - big.len());
    }
}
