//! The iroh 0.35 relay wire protocol, as pure functions over byte slices.
//!
//! Nothing here touches a socket: the shard code feeds bytes in and writes
//! the bytes these functions produce. Frame type numbers and byte layouts
//! are defined here because iroh-relay 0.35 keeps its own private.

pub mod client_info;
pub mod frame;
pub mod key;
pub mod reader;
pub mod stream;
pub mod stun;
pub mod ws;

pub use client_info::{ClientInfo, HandshakeError};
pub use frame::{Frame, FrameError, FrameType};

/// Largest frame payload accepted on the 5-byte-header stream (1 MiB).
pub const MAX_FRAME_SIZE: usize = 1024 * 1024;
/// Largest packet inside SendPacket/RecvPacket (64 KiB).
pub const MAX_PACKET_SIZE: usize = 64 * 1024;
/// Length of an ed25519 public key on the wire.
pub const KEY_LEN: usize = 32;
/// Length of the stream frame header: type byte + u32 BE length.
pub const HEADER_LEN: usize = 5;
/// Packets a destination may have queued before new ones are dropped.
pub const PER_CLIENT_QUEUE_DEPTH: usize = 512;

/// The two framings a 0.35 client can choose at upgrade time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `Upgrade: iroh derp http`: 5-byte-header stream frames.
    Derp,
    /// `Upgrade: websocket`: one binary message per frame.
    Websocket,
}

impl Transport {
    /// Appends `frame` as the server sends it on this transport.
    pub fn encode(self, out: &mut Vec<u8>, frame: &Frame<'_>) {
        match self {
            Transport::Derp => stream::encode(out, frame),
            Transport::Websocket => ws::encode(out, frame),
        }
    }

    /// Appends the header of a RecvPacket frame carrying `packet_len` bytes,
    /// so the caller can copy the key and packet straight after it.
    pub fn write_recv_header(self, out: &mut Vec<u8>, packet_len: usize) {
        let len = KEY_LEN + packet_len;
        match self {
            Transport::Derp => stream::write_header(out, FrameType::RecvPacket as u8, len),
            Transport::Websocket => {
                ws::write_header(out, 1 + len, None);
                out.push(FrameType::RecvPacket as u8);
            }
        }
    }
}
