//! The 0.35 server's rules, sans-IO: what each client frame means after the
//! handshake, and how server frames and relayed packets are written.

use super::client_info::MAGIC;
use super::frame::{self, is_disco, Frame, FrameError};
use super::Transport;
use super::{message, stream, HEADER_LEN};
use crate::datagram::{Datagram, Event, ServerFrame};
use crate::key::{is_valid_point, read_key, NodeKey};

/// Why a 0.35 client is closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServeError {
    /// The frame breaks the size or value rules.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A key field is not an ed25519 point.
    #[error("key is not a valid ed25519 point")]
    InvalidKey,
    /// The client sent a Health frame, which only servers send.
    #[error("client sent a Health frame")]
    Health,
}

/// What a client frame asks for (docs/protocol-0.35.md §5: keys in frames the server
/// ignores must still be valid points; Health from a client is an error).
pub fn on_frame(ty: u8, payload: &[u8]) -> Result<Event<'_>, ServeError> {
    Ok(match frame::decode(ty, payload)? {
        Frame::SendPacket { dst, packet } => Event::Forward {
            dst,
            datagram: Datagram {
                disco: is_disco(packet),
                ..Datagram::plain(packet)
            },
        },
        Frame::Ping(d) => Event::Ping(d),
        Frame::Pong(d) => Event::Pong(d),
        Frame::Health(_) => return Err(ServeError::Health),
        Frame::RecvPacket { src: key, .. } | Frame::PeerGone(key) => {
            if !is_valid_point(key) {
                return Err(ServeError::InvalidKey);
            }
            Event::Ignored
        }
        Frame::ClientInfo(p) => {
            // A later ClientInfo is checked for magic and key, then ignored.
            let key = p.get(MAGIC.len()..).and_then(read_key);
            if !p.starts_with(&MAGIC) || !key.is_some_and(is_valid_point) {
                return Err(ServeError::InvalidKey);
            }
            Event::Ignored
        }
        Frame::KeepAlive | Frame::NotePreferred(_) | Frame::Restarting { .. } => Event::Ignored,
    })
}

/// Appends a server frame; Status has no 0.35 form and writes nothing.
pub fn encode(out: &mut Vec<u8>, transport: Transport, f: &ServerFrame<'_>) {
    let frame = match *f {
        ServerFrame::Ping(d) => Frame::Ping(d),
        ServerFrame::Pong(d) => Frame::Pong(d),
        ServerFrame::Gone(k) => Frame::PeerGone(k),
        ServerFrame::Health(t) => Frame::Health(t),
        ServerFrame::Restarting {
            reconnect_in_ms,
            try_for_ms,
        } => Frame::Restarting {
            reconnect_in_ms,
            try_for_ms,
        },
        ServerFrame::Status(_) => return,
    };
    match transport {
        Transport::Derp => stream::encode(out, &frame),
        Transport::Websocket => message::encode(out, &frame),
    }
}

/// Appends a RecvPacket from `src` carrying `packet`.
pub fn write_packet(out: &mut Vec<u8>, transport: Transport, src: &NodeKey, packet: &[u8]) {
    transport.write_recv_header(out, packet.len());
    out.extend_from_slice(src);
    out.extend_from_slice(packet);
}

/// Most bytes a RecvPacket header takes on either transport.
pub const MAX_PACKET_HEADER: usize = if HEADER_LEN > 11 { HEADER_LEN } else { 11 };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_meanings() {
        let mut sp = vec![0u8; 32];
        sp.extend_from_slice(b"data");
        assert!(matches!(
            on_frame(4, &sp),
            Ok(Event::Forward { datagram, .. }) if datagram.contents == b"data" && !datagram.disco
        ));
        assert_eq!(on_frame(12, &[1; 8]), Ok(Event::Ping([1; 8])));
        assert_eq!(on_frame(6, &[]), Ok(Event::Ignored));
        assert_eq!(on_frame(14, b"hi"), Err(ServeError::Health));
        // PeerGone with a key that is not a point.
        let mut bad = [0u8; 32];
        bad[0] = 2;
        assert_eq!(on_frame(8, &bad), Err(ServeError::InvalidKey));
        assert!(matches!(on_frame(99, &[]), Err(ServeError::Frame(_))));
    }

    #[test]
    fn packets_match_the_frame_encoder() {
        for t in [Transport::Derp, Transport::Websocket] {
            let mut a = Vec::new();
            write_packet(&mut a, t, &[3; 32], b"xyz");
            let mut b = Vec::new();
            let f = Frame::RecvPacket {
                src: &[3; 32],
                packet: b"xyz",
            };
            match t {
                Transport::Derp => stream::encode(&mut b, &f),
                Transport::Websocket => message::encode(&mut b, &f),
            }
            assert_eq!(a, b);
        }
        let mut out = Vec::new();
        encode(
            &mut out,
            Transport::Derp,
            &ServerFrame::Status(crate::datagram::Status::Healthy),
        );
        assert!(out.is_empty());
    }
}
