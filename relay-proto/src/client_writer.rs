//! What a client writes after the upgrade, in any dialect, sans-IO: the
//! client-side counterpart of [`crate::reader::FrameReader`] in
//! [`Role::Client`](crate::ws::Role::Client). Every frame goes through the
//! family's own encoder (0.35 [`crate::v035::stream`] and
//! [`crate::v035::message`], 1.x [`crate::v1x::client`]); websocket
//! messages are masked, as RFC 6455 §5.3 requires of a client.
//!
//! The masks come from a xorshift generator seeded by the caller: they
//! must differ from message to message, and a caller that needs them
//! unpredictable passes a random seed.

use crate::dialect::Dialect;
use crate::key::NodeKey;
use crate::v035::frame::Frame;
use crate::v035::{message, stream};
use crate::v1x::client;
use crate::ws;
use crate::Transport;

/// One client connection's frame writer.
#[derive(Debug, Clone)]
pub struct ClientWriter {
    dialect: Dialect,
    /// xorshift64 state, never 0.
    mask: u64,
}

impl ClientWriter {
    /// A writer for `dialect`; `seed` drives the websocket masks.
    pub fn new(dialect: Dialect, seed: u64) -> Self {
        Self {
            dialect,
            mask: seed | 1,
        }
    }

    /// The dialect it writes.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// A packet for `dst`: a 0.35 SendPacket, or a 1.x
    /// ClientToRelayDatagram (no ECN bits, no segment size).
    pub fn packet(&mut self, out: &mut Vec<u8>, dst: &NodeKey, contents: &[u8]) {
        match self.dialect {
            Dialect::V035(t) => self.frame(
                out,
                t,
                &Frame::SendPacket {
                    dst,
                    packet: contents,
                },
            ),
            Dialect::V1x(_) => self.message(out, client::datagram_len(contents.len()), |o| {
                client::write_datagram(o, dst, 0, contents)
            }),
        }
    }

    /// A Ping with `data`.
    pub fn ping(&mut self, out: &mut Vec<u8>, data: &[u8; 8]) {
        match self.dialect {
            Dialect::V035(t) => self.frame(out, t, &Frame::Ping(*data)),
            Dialect::V1x(_) => self.message(out, 9, |o| client::write_ping(o, false, data)),
        }
    }

    /// A Pong answering a server Ping with `data`.
    pub fn pong(&mut self, out: &mut Vec<u8>, data: &[u8; 8]) {
        match self.dialect {
            Dialect::V035(t) => self.frame(out, t, &Frame::Pong(*data)),
            Dialect::V1x(_) => self.message(out, 9, |o| client::write_ping(o, true, data)),
        }
    }

    /// The 0.35 ClientInfo with `payload` (from
    /// [`crate::client_info::build`]); nothing for 1.x, whose server opens
    /// the handshake.
    pub fn client_info(&mut self, out: &mut Vec<u8>, payload: &[u8]) {
        if let Dialect::V035(t) = self.dialect {
            self.frame(out, t, &Frame::ClientInfo(payload));
        }
    }

    /// The 1.x ClientAuth message `body` (from
    /// [`crate::v1x::handshake::client_auth`]); nothing for 0.35.
    pub fn client_auth(&mut self, out: &mut Vec<u8>, body: &[u8]) {
        if let Dialect::V1x(_) = self.dialect {
            self.message(out, body.len(), |o| o.extend_from_slice(body));
        }
    }

    /// A 0.35 frame on transport `t`.
    fn frame(&mut self, out: &mut Vec<u8>, t: Transport, frame: &Frame<'_>) {
        match t {
            Transport::Derp => stream::encode(out, frame),
            Transport::Websocket => message::encode_masked(out, frame, self.next_mask()),
        }
    }

    /// One masked binary message of `len` bytes, written by `body`.
    fn message(&mut self, out: &mut Vec<u8>, len: usize, body: impl FnOnce(&mut Vec<u8>)) {
        let mask = self.next_mask();
        ws::write_header(out, len, Some(mask));
        let start = out.len();
        body(out);
        debug_assert_eq!(out.len() - start, len, "message length");
        ws::apply_mask(&mut out[start..], mask);
    }

    fn next_mask(&mut self) -> [u8; 4] {
        self.mask ^= self.mask << 13;
        self.mask ^= self.mask >> 7;
        self.mask ^= self.mask << 17;
        (self.mask as u32).to_le_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::whole_frames;
    use crate::v1x::Version;
    use crate::ws::Role;

    /// (type, payload) of every frame in `wire`, read as the server reads
    /// them (so websocket messages must be masked).
    fn server_reads(dialect: Dialect, wire: Vec<u8>) -> Vec<(u64, Vec<u8>)> {
        whole_frames(dialect, Role::Server, &wire)
            .unwrap_or_else(|| panic!("{dialect}: the server cannot read what was written"))
    }

    #[test]
    fn the_server_reads_every_frame_as_written() {
        for d in Dialect::ALL {
            let mut w = ClientWriter::new(d, 7);
            let mut out = Vec::new();
            w.packet(&mut out, &[3; 32], b"payload");
            w.ping(&mut out, &[1; 8]);
            w.pong(&mut out, &[2; 8]);
            let frames = server_reads(d, out);
            assert_eq!(frames.len(), 3, "{d}");
            let mut frames = frames.into_iter();
            for want in [4u64, 9, 10] {
                let Some((ty, payload)) = frames.next() else {
                    panic!("{d}: missing frame");
                };
                // The 0.35 numbers: SendPacket 4, Ping 12, Pong 13.
                let want = match (d, want) {
                    (Dialect::V035(_), 9) => 12,
                    (Dialect::V035(_), 10) => 13,
                    _ => want,
                };
                assert_eq!(ty, want, "{d}");
                let event = d.on_client_frame(ty, &payload);
                assert!(event.is_ok(), "{d}: {event:?}");
                if want == 4 {
                    assert!(payload.starts_with(&[3; 32]) && payload.ends_with(b"payload"));
                }
            }
        }
    }

    #[test]
    fn handshake_frames_belong_to_their_family() {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[0x2a; 32]);
        let info = crate::client_info::build(&sk, 3);
        let auth = crate::v1x::handshake::client_auth(&sk, &[5; 16]);
        for d in Dialect::ALL {
            let mut w = ClientWriter::new(d, 1);
            let mut out = Vec::new();
            w.client_info(&mut out, &info);
            w.client_auth(&mut out, &auth);
            let frames = server_reads(d, out);
            let hs = crate::handshake::Handshake::new(d, [5; 16]);
            let [(ty, payload)] = &frames[..] else {
                panic!("{d}: {frames:?}");
            };
            let verified = hs.on_frame(*ty, payload);
            assert_eq!(verified.map(|v| v.key), Ok(*sk.verifying_key().as_bytes()));
        }
    }

    #[test]
    fn derp_frames_are_unmasked_and_websocket_masks_change() {
        let mut w = ClientWriter::new(Dialect::V035(Transport::Derp), 9);
        let mut out = Vec::new();
        w.ping(&mut out, &[0x2a; 8]);
        assert_eq!(
            out,
            [0x0c, 0, 0, 0, 8, 0x2a, 0x2a, 0x2a, 0x2a, 0x2a, 0x2a, 0x2a, 0x2a]
        );
        let mut w = ClientWriter::new(Dialect::V1x(Version::V2), 9);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        w.ping(&mut a, &[0; 8]);
        w.ping(&mut b, &[0; 8]);
        // `82 89 <mask>`: masked, 9 bytes; the masks differ.
        assert_eq!(&a[..2], &[0x82, 0x89]);
        assert_ne!(a[2..6], b[2..6]);
    }
}
