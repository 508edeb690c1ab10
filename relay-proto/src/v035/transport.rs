//! The two framings of the 0.35 family, chosen by the client at the
//! upgrade.

use super::frame::{Frame, FrameType};
use super::{message, stream};
use crate::{ws, KEY_LEN};

/// The two framings a 0.35 client can choose at upgrade time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `Upgrade: iroh derp http`: 5-byte-header stream frames.
    Derp,
    /// `Upgrade: websocket` without a subprotocol: one binary message per
    /// frame.
    Websocket,
}

impl Transport {
    /// Appends a 0.35 `frame` as the server sends it on this transport.
    pub fn encode(self, out: &mut Vec<u8>, frame: &Frame<'_>) {
        match self {
            Transport::Derp => stream::encode(out, frame),
            Transport::Websocket => message::encode(out, frame),
        }
    }

    /// Appends the header of a RecvPacket carrying `packet_len` bytes, so
    /// the caller can copy the key and packet straight after it.
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
