//! The 1.x server's rules, sans-IO: what each client frame means after the
//! handshake, and how server frames and relayed datagrams are written (one
//! unmasked websocket message each).

use super::frame::{self, ClientFrame, FrameError, FrameType};
use super::Version;
use crate::datagram::{Datagram, Event, ServerFrame};
use crate::key::NodeKey;
use crate::ws;

/// What a client frame asks for. Datagrams whose forwarded copy the
/// receiver would reject (empty, or over 65,536 bytes) are dropped.
pub fn on_frame(ty: u64, payload: &[u8]) -> Result<Event<'_>, FrameError> {
    Ok(match frame::decode_client(ty, payload)? {
        ClientFrame::Datagram { dst, datagram } if frame::forwardable(&datagram) => {
            Event::Forward { dst, datagram }
        }
        ClientFrame::Datagram { .. } => Event::Unforwardable,
        ClientFrame::Ping(d) => Event::Ping(d),
        ClientFrame::Pong(d) => Event::Pong(d),
        // A second ClientAuth, as 1.4.1 treats it.
        ClientFrame::ClientAuth(_) => return Err(FrameError::Unexpected(FrameType::ClientAuth)),
    })
}

/// Appends a server frame. v1 gets Status as a Health text (nothing for
/// RateLimited); v2 never gets Health.
pub fn encode(out: &mut Vec<u8>, version: Version, f: &ServerFrame<'_>) {
    let mut body = [0u8; 1 + 32];
    let (ty, payload): (FrameType, &[u8]) = match *f {
        ServerFrame::Ping(ref d) => (FrameType::Ping, d),
        ServerFrame::Pong(ref d) => (FrameType::Pong, d),
        ServerFrame::Gone(k) => (FrameType::EndpointGone, k),
        ServerFrame::Restarting {
            reconnect_in_ms,
            try_for_ms,
        } => {
            body[..4].copy_from_slice(&reconnect_in_ms.to_be_bytes());
            body[4..8].copy_from_slice(&try_for_ms.to_be_bytes());
            (FrameType::Restarting, &body[..8])
        }
        ServerFrame::Status(s) if version == Version::V2 => {
            body[0] = s as u8;
            (FrameType::Status, &body[..1])
        }
        ServerFrame::Status(s) => match s.v1_text() {
            Some(t) => (FrameType::Health, t.as_bytes()),
            None => return,
        },
        ServerFrame::Health(t) if version == Version::V1 => (FrameType::Health, t.as_bytes()),
        ServerFrame::Health(_) => return,
    };
    ws::write_header(out, 1 + payload.len(), None);
    out.push(ty as u8);
    out.extend_from_slice(payload);
}

/// Appends a relayed datagram from `src`.
pub fn write_datagram(out: &mut Vec<u8>, src: &NodeKey, d: &Datagram<'_>) {
    ws::write_header(out, frame::datagram_len(d), None);
    frame::write_datagram(out, src, d);
}

/// Wraps a handshake message body as a server websocket message.
pub fn message(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 4);
    ws::write_header(&mut out, body.len(), None);
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagram::Status;

    fn enc(v: Version, f: ServerFrame<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&mut out, v, &f);
        out
    }

    #[test]
    fn server_frames_per_version() {
        // docs/protocol-1x.md §2.8, inside `82 <len>` websocket headers.
        assert_eq!(
            enc(Version::V2, ServerFrame::Ping([0x2a; 8])),
            [&[0x82, 9, 0x09][..], &[0x2a; 8]].concat()
        );
        assert_eq!(enc(Version::V2, ServerFrame::Pong([0x2a; 8]))[2], 0x0a);
        assert_eq!(
            enc(
                Version::V1,
                ServerFrame::Restarting {
                    reconnect_in_ms: 10,
                    try_for_ms: 20
                }
            ),
            [0x82, 9, 0x0c, 0, 0, 0, 10, 0, 0, 0, 20]
        );
        assert_eq!(
            enc(Version::V2, ServerFrame::Status(Status::Healthy)),
            [0x82, 2, 0x0d, 0]
        );
        assert_eq!(
            enc(
                Version::V2,
                ServerFrame::Status(Status::SameEndpointIdConnected)
            ),
            [0x82, 2, 0x0d, 1]
        );
        assert_eq!(
            enc(Version::V2, ServerFrame::Status(Status::RateLimited)),
            [0x82, 2, 0x0d, 2]
        );
        let v1 = enc(
            Version::V1,
            ServerFrame::Status(Status::SameEndpointIdConnected),
        );
        assert_eq!(v1.len(), 2 + 89, "the whole frame is 89 bytes");
        assert_eq!(v1[2], 0x0b);
        assert!(enc(Version::V1, ServerFrame::Status(Status::RateLimited)).is_empty());
        assert!(enc(Version::V2, ServerFrame::Health("x")).is_empty());
        let gone = enc(Version::V2, ServerFrame::Gone(&[7; 32]));
        assert_eq!(&gone[..3], &[0x82, 33, 0x08]);
    }

    #[test]
    fn frame_meanings() {
        let mut d = vec![0u8; 32];
        d.push(0xff);
        assert_eq!(on_frame(4, &d), Ok(Event::Unforwardable));
        d.extend_from_slice(b"q");
        assert!(matches!(
            on_frame(4, &d),
            Ok(Event::Forward { datagram, .. }) if datagram.ecn == 3 && datagram.contents == b"q"
        ));
        assert_eq!(on_frame(9, &[1; 8]), Ok(Event::Ping([1; 8])));
        assert!(on_frame(1, &[0; 97]).is_err());
        assert!(on_frame(14, &[]).is_err());
        let mut out = Vec::new();
        write_datagram(&mut out, &[1; 32], &Datagram::plain(b"abc"));
        assert_eq!(&out[..3], &[0x82, 37, 0x06]);
    }
}
