//! The client's side of the 1.x frames, sans-IO: what each server frame
//! means to a client (with the length rules of the 1.4.1 client decoder),
//! and the datagram a client sends. Load generators and tests use it; the
//! ClientAuth answer to a challenge is [`super::handshake::client_auth`].

use super::frame::{FrameError, FrameType, MAX_PAYLOAD};
use crate::datagram::Datagram;
use crate::key::{read_key, NodeKey};
use crate::postcard::decode_varint;
use crate::KEY_LEN;

/// A frame a server may send to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMsg<'a> {
    /// The 16 bytes to sign.
    Challenge([u8; 16]),
    /// The handshake succeeded.
    Confirmed,
    /// The denial reason (postcard string; lossy if not UTF-8).
    Denied(String),
    /// A datagram relayed from another endpoint.
    Datagram {
        /// The sender's endpoint id.
        src: &'a NodeKey,
        /// ECN cut to two bits; a zero segment size reads as none.
        datagram: Datagram<'a>,
    },
    /// An endpoint the client sent to has left.
    Gone(&'a NodeKey),
    /// 8 bytes to echo in a Pong.
    Ping([u8; 8]),
    /// The 8 bytes of the client's Ping.
    Pong([u8; 8]),
    /// v1 only: a text the client logs.
    Health(&'a [u8]),
    /// The server is restarting.
    Restarting {
        /// Wait this long before reconnecting, in milliseconds.
        reconnect_in_ms: u32,
        /// Keep trying for this long, in milliseconds.
        try_for_ms: u32,
    },
    /// v2 only: the status byte (0 Healthy, 1 SameEndpointIdConnected, 2 RateLimited).
    Status(u8),
}

/// Decodes a server frame (type and payload of one websocket message).
pub fn decode_server(ty: u64, payload: &[u8]) -> Result<ServerMsg<'_>, FrameError> {
    let ft = FrameType::from_u64(ty).ok_or(FrameError::UnknownType(ty))?;
    if payload.len() > MAX_PAYLOAD {
        return Err(FrameError::TooLarge(payload.len()));
    }
    let bad_len = || FrameError::BadLength(ft, payload.len());
    let exact8 = || -> Result<[u8; 8], FrameError> { payload.try_into().map_err(|_| bad_len()) };
    Ok(match ft {
        FrameType::ServerChallenge => {
            let c = payload.get(..16).ok_or_else(bad_len)?;
            ServerMsg::Challenge(c.try_into().map_err(|_| bad_len())?)
        }
        FrameType::ServerConfirmsAuth => ServerMsg::Confirmed,
        FrameType::ServerDeniesAuth => ServerMsg::Denied(denial_text(payload)),
        FrameType::RelayToClientDatagram | FrameType::RelayToClientDatagramBatch => {
            let src = read_key(payload).ok_or_else(bad_len)?;
            let ecn = *payload.get(KEY_LEN).ok_or_else(bad_len)? & 0b11;
            let (segment, contents) = if ft == FrameType::RelayToClientDatagram {
                (None, &payload[KEY_LEN + 1..])
            } else {
                let seg = payload.get(KEY_LEN + 1..KEY_LEN + 3).ok_or_else(bad_len)?;
                let seg = u16::from_be_bytes([seg[0], seg[1]]);
                ((seg != 0).then_some(seg), &payload[KEY_LEN + 3..])
            };
            ServerMsg::Datagram {
                src,
                datagram: Datagram {
                    ecn,
                    segment,
                    disco: false,
                    contents,
                },
            }
        }
        FrameType::EndpointGone if payload.len() != KEY_LEN => return Err(bad_len()),
        FrameType::EndpointGone => ServerMsg::Gone(read_key(payload).ok_or_else(bad_len)?),
        FrameType::Ping => ServerMsg::Ping(exact8()?),
        FrameType::Pong => ServerMsg::Pong(exact8()?),
        FrameType::Health => ServerMsg::Health(payload),
        FrameType::Restarting => {
            let b = exact8()?;
            ServerMsg::Restarting {
                reconnect_in_ms: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                try_for_ms: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            }
        }
        FrameType::Status => ServerMsg::Status(*payload.first().ok_or_else(bad_len)?),
        other => return Err(FrameError::Unexpected(other)),
    })
}

/// The reason in a ServerDeniesAuth payload: `varint(len) ‖ utf8`.
fn denial_text(payload: &[u8]) -> String {
    let len = decode_varint(payload).unwrap_or(0) as usize;
    let skip = payload
        .iter()
        .position(|b| b & 0x80 == 0)
        .map_or(0, |i| i + 1);
    let text = payload.get(skip..).unwrap_or_default();
    String::from_utf8_lossy(&text[..len.min(text.len())]).into_owned()
}

/// Length of the message body [`write_datagram`] writes.
pub fn datagram_len(contents_len: usize) -> usize {
    1 + KEY_LEN + 1 + contents_len
}

/// Appends a ClientToRelayDatagram body (type 4, no segment size) to `dst`.
pub fn write_datagram(out: &mut Vec<u8>, dst: &NodeKey, ecn: u8, contents: &[u8]) {
    out.push(FrameType::ClientToRelayDatagram as u8);
    out.extend_from_slice(dst);
    out.push(ecn & 0b11);
    out.extend_from_slice(contents);
}

/// Appends a Ping or Pong body.
pub fn write_ping(out: &mut Vec<u8>, pong: bool, data: &[u8; 8]) {
    out.push(if pong {
        FrameType::Pong
    } else {
        FrameType::Ping
    } as u8);
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagram::{ServerFrame, Status};
    use crate::v1x::frame::{decode_client, split_message, ClientFrame};
    use crate::v1x::{handshake, serve, Version};
    use crate::ws::{Progress, Role, WsDecoder, WsItem};

    /// The binary message bodies in `wire` (server frames, unmasked).
    fn bodies(mut wire: Vec<u8>) -> Vec<Vec<u8>> {
        let mut dec = WsDecoder::new(Role::Client);
        let mut out = Vec::new();
        let mut at = 0;
        while at < wire.len() {
            let Ok(Progress::Item { item, consumed }) = dec.decode(&mut wire[at..]) else {
                panic!("incomplete message");
            };
            if let WsItem::Binary(r) = item {
                out.push(wire[at + r.start..at + r.end].to_vec());
            }
            at += consumed;
        }
        out
    }

    fn decoded(body: &[u8]) -> ServerMsg<'_> {
        let (ty, p) = split_message(body).unwrap();
        decode_server(ty, p).unwrap()
    }

    #[test]
    fn reads_what_the_server_writes() {
        let k = [7u8; 32];
        let mut wire = Vec::new();
        serve::encode(&mut wire, Version::V2, &ServerFrame::Ping([1; 8]));
        serve::encode(&mut wire, Version::V2, &ServerFrame::Gone(&k));
        serve::encode(
            &mut wire,
            Version::V2,
            &ServerFrame::Status(Status::RateLimited),
        );
        serve::encode(
            &mut wire,
            Version::V1,
            &ServerFrame::Status(Status::SameEndpointIdConnected),
        );
        let d = Datagram {
            ecn: 3,
            segment: Some(6),
            disco: false,
            contents: b"Hello World!",
        };
        serve::write_datagram(&mut wire, &k, &d);
        serve::write_datagram(&mut wire, &k, &Datagram::plain(b"x"));
        let b = bodies(wire);
        assert_eq!(decoded(&b[0]), ServerMsg::Ping([1; 8]));
        assert_eq!(decoded(&b[1]), ServerMsg::Gone(&k));
        assert_eq!(decoded(&b[2]), ServerMsg::Status(2));
        assert!(matches!(decoded(&b[3]), ServerMsg::Health(t) if t.starts_with(b"Another")));
        assert_eq!(
            decoded(&b[4]),
            ServerMsg::Datagram {
                src: &k,
                datagram: d
            }
        );
        assert_eq!(
            decoded(&b[5]),
            ServerMsg::Datagram {
                src: &k,
                datagram: Datagram::plain(b"x")
            }
        );
    }

    #[test]
    fn handshake_messages() {
        let challenge = [5u8; 16];
        let hs = crate::handshake::Handshake::new(crate::Dialect::V1x(Version::V2), challenge);
        let greeting = bodies(hs.greeting().unwrap());
        assert_eq!(decoded(&greeting[0]), ServerMsg::Challenge(challenge));
        let sk = ed25519_dalek::SigningKey::from_bytes(&[0x2a; 32]);
        let auth = handshake::client_auth(&sk, &challenge);
        let (ty, p) = split_message(&auth).unwrap();
        let v = hs.on_frame(ty, p).unwrap();
        let confirm = bodies(hs.confirm(&v).unwrap().unwrap());
        assert_eq!(decoded(&confirm[0]), ServerMsg::Confirmed);
        let deny = bodies(hs.deny());
        assert_eq!(
            decoded(&deny[0]),
            ServerMsg::Denied(handshake::NOT_AUTHORIZED.into())
        );
    }

    #[test]
    fn client_datagrams_decode_on_the_server() {
        let mut body = Vec::new();
        write_datagram(&mut body, &[9; 32], 0xff, b"abc");
        assert_eq!(body.len(), datagram_len(3));
        let (ty, p) = split_message(&body).unwrap();
        let ClientFrame::Datagram { dst, datagram } = decode_client(ty, p).unwrap() else {
            panic!("not a datagram");
        };
        assert_eq!(
            (dst, datagram.ecn, datagram.contents),
            (&[9; 32], 3, &b"abc"[..])
        );
        body.clear();
        write_ping(&mut body, true, &[4; 8]);
        let (ty, p) = split_message(&body).unwrap();
        assert_eq!(decode_client(ty, p), Ok(ClientFrame::Pong([4; 8])));
    }

    #[test]
    fn bad_server_frames_are_errors() {
        assert!(decode_server(4, &[0; 40]).is_err());
        assert!(decode_server(9, &[0; 7]).is_err());
        assert!(decode_server(6, &[0; 31]).is_err());
        assert!(decode_server(13, &[]).is_err());
        assert!(decode_server(0, &[0; 15]).is_err());
        assert!(decode_server(8, &[0; 33]).is_err());
        assert!(decode_server(99, &[]).is_err());
        assert_eq!(
            decode_server(3, &[0xff]),
            Ok(ServerMsg::Denied(String::new()))
        );
    }
}
