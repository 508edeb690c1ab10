//! 1.x frame types and payload rules. A frame is one websocket message:
//! `[type varint][payload]`, the payload at most 65,536 bytes.

use super::varint;
use crate::datagram::Datagram;
use crate::key::{read_key, NodeKey};
use crate::KEY_LEN;

/// Frame type numbers (one table, so no number is used twice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameType {
    /// S→C: the 16-byte challenge.
    ServerChallenge = 0,
    /// C→S: key ‖ `40` ‖ signature.
    ClientAuth = 1,
    /// S→C: the handshake succeeded; empty.
    ServerConfirmsAuth = 2,
    /// S→C: varint length ‖ UTF-8 reason.
    ServerDeniesAuth = 3,
    /// C→S: destination ‖ ECN ‖ contents.
    ClientToRelayDatagram = 4,
    /// C→S: destination ‖ ECN ‖ segment size (u16 BE) ‖ contents.
    ClientToRelayDatagramBatch = 5,
    /// S→C: source ‖ ECN ‖ contents.
    RelayToClientDatagram = 6,
    /// S→C: source ‖ ECN ‖ segment size (u16 BE) ‖ contents.
    RelayToClientDatagramBatch = 7,
    /// S→C: the endpoint id of a peer that left.
    EndpointGone = 8,
    /// Either way: 8 bytes to echo in a Pong.
    Ping = 9,
    /// Either way: the 8 bytes of the Ping answered.
    Pong = 10,
    /// v1 only: UTF-8 text.
    Health = 11,
    /// Never sent by 1.4.1 servers; iroh ignores it.
    Restarting = 12,
    /// v2 only: one status byte.
    Status = 13,
}

impl FrameType {
    /// The type of a number; `None` above 13.
    pub fn from_u64(v: u64) -> Option<Self> {
        Some(match v {
            0 => Self::ServerChallenge,
            1 => Self::ClientAuth,
            2 => Self::ServerConfirmsAuth,
            3 => Self::ServerDeniesAuth,
            4 => Self::ClientToRelayDatagram,
            5 => Self::ClientToRelayDatagramBatch,
            6 => Self::RelayToClientDatagram,
            7 => Self::RelayToClientDatagramBatch,
            8 => Self::EndpointGone,
            9 => Self::Ping,
            10 => Self::Pong,
            11 => Self::Health,
            12 => Self::Restarting,
            13 => Self::Status,
            _ => return None,
        })
    }
}

/// Largest payload after the type byte, either direction.
pub const MAX_PAYLOAD: usize = 65_536;
/// Bytes a datagram frame adds around its contents: key, ECN byte, and the
/// segment size of a batch.
pub const DATAGRAM_OVERHEAD: usize = KEY_LEN + 1 + 2;

/// Why a client frame was rejected; each ends the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A message without a type.
    #[error("empty message")]
    Empty,
    /// The type varint is cut short.
    #[error("frame type does not decode")]
    BadType,
    /// A type number 1.x does not define.
    #[error("unknown frame type {0}")]
    UnknownType(u64),
    /// A defined type this side may not receive here (a server type from a
    /// client, a client type from a server, a second ClientAuth).
    #[error("{0:?} frame is not allowed here")]
    Unexpected(FrameType),
    /// A payload of the wrong size for its type.
    #[error("{0:?} frame has invalid length {1}")]
    BadLength(FrameType, usize),
    /// A payload over 65,536 bytes.
    #[error("frame payload of {0} bytes exceeds 65536")]
    TooLarge(usize),
}

/// Splits a complete websocket message into type and payload.
pub fn split_message(msg: &[u8]) -> Result<(u64, &[u8]), FrameError> {
    if msg.is_empty() {
        return Err(FrameError::Empty);
    }
    let (ty, n) = varint::decode(msg).ok_or(FrameError::BadType)?;
    Ok((ty, &msg[n..]))
}

/// A frame a client may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame<'a> {
    /// ClientAuth, during the handshake only.
    ClientAuth(&'a [u8]),
    /// A datagram for another endpoint (type 4, or 5 with a segment size).
    Datagram {
        /// The destination endpoint id.
        dst: &'a NodeKey,
        /// ECN cut to two bits; a zero segment size reads as none.
        datagram: Datagram<'a>,
    },
    /// 8 bytes to echo in a Pong.
    Ping([u8; 8]),
    /// The 8 bytes of the server's Ping.
    Pong([u8; 8]),
}

/// Decodes a client frame, with 1.4.1's length rules.
pub fn decode_client(ty: u64, payload: &[u8]) -> Result<ClientFrame<'_>, FrameError> {
    let ft = FrameType::from_u64(ty).ok_or(FrameError::UnknownType(ty))?;
    if payload.len() > MAX_PAYLOAD {
        return Err(FrameError::TooLarge(payload.len()));
    }
    let bad_len = || FrameError::BadLength(ft, payload.len());
    Ok(match ft {
        FrameType::ClientAuth => ClientFrame::ClientAuth(payload),
        FrameType::ClientToRelayDatagram | FrameType::ClientToRelayDatagramBatch => {
            let dst = read_key(payload).ok_or_else(bad_len)?;
            let ecn = *payload.get(KEY_LEN).ok_or_else(bad_len)? & 0b11;
            let (segment, contents) = if ft == FrameType::ClientToRelayDatagram {
                (None, &payload[KEY_LEN + 1..])
            } else {
                let seg = payload.get(KEY_LEN + 1..KEY_LEN + 3).ok_or_else(bad_len)?;
                let seg = u16::from_be_bytes([seg[0], seg[1]]);
                // A zero stride means "no segment size".
                ((seg != 0).then_some(seg), &payload[KEY_LEN + 3..])
            };
            ClientFrame::Datagram {
                dst,
                datagram: Datagram {
                    ecn,
                    segment,
                    disco: false,
                    contents,
                },
            }
        }
        FrameType::Ping => ClientFrame::Ping(payload.try_into().map_err(|_| bad_len())?),
        FrameType::Pong => ClientFrame::Pong(payload.try_into().map_err(|_| bad_len())?),
        other => return Err(FrameError::Unexpected(other)),
    })
}

/// Whether a datagram can be forwarded: a receiver must never be handed a
/// frame its client rejects (1.4.1 drops the *receiver* for an empty one or
/// one over 65,536 bytes; here the datagram is dropped instead).
pub fn forwardable(d: &Datagram<'_>) -> bool {
    let seg = if d.segment.is_some() { 2 } else { 0 };
    !d.contents.is_empty() && 1 + KEY_LEN + 1 + seg + d.contents.len() <= MAX_PAYLOAD
}

/// The message body of a datagram from `src` (type 6, or 7 with a segment
/// size), appended to `out`.
pub fn write_datagram(out: &mut Vec<u8>, src: &NodeKey, d: &Datagram<'_>) {
    match d.segment {
        None => out.push(FrameType::RelayToClientDatagram as u8),
        Some(_) => out.push(FrameType::RelayToClientDatagramBatch as u8),
    }
    out.extend_from_slice(src);
    out.push(d.ecn & 0b11);
    if let Some(seg) = d.segment {
        out.extend_from_slice(&seg.to_be_bytes());
    }
    out.extend_from_slice(d.contents);
}

/// Length of the message [`write_datagram`] writes.
pub fn datagram_len(d: &Datagram<'_>) -> usize {
    1 + KEY_LEN + 1 + if d.segment.is_some() { 2 } else { 0 } + d.contents.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const K: &str = "197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61";

    #[test]
    fn datagrams_and_their_forwarded_form() {
        // C->S datagram to K, CE, "Hello World!" (docs/protocol-1x.md §2.8).
        let msg = hex(&format!("04{K}0348656c6c6f20576f726c6421"));
        let (ty, payload) = split_message(&msg).unwrap();
        let ClientFrame::Datagram { dst, datagram } = decode_client(ty, payload).unwrap() else {
            panic!()
        };
        assert_eq!(&dst[..], &hex(K)[..]);
        assert_eq!(datagram.ecn, 3);
        assert_eq!(datagram.segment, None);
        assert_eq!(datagram.contents, b"Hello World!");
        let mut out = Vec::new();
        write_datagram(&mut out, dst, &datagram);
        assert_eq!(out, hex(&format!("06{K}0348656c6c6f20576f726c6421")));
        assert_eq!(out.len(), datagram_len(&datagram));

        let batch = hex(&format!("05{K}ff000648656c6c6f20576f726c6421"));
        let (ty, payload) = split_message(&batch).unwrap();
        let ClientFrame::Datagram { dst, datagram } = decode_client(ty, payload).unwrap() else {
            panic!()
        };
        assert_eq!((datagram.ecn, datagram.segment), (3, Some(6)));
        out.clear();
        write_datagram(&mut out, dst, &datagram);
        assert_eq!(out, hex(&format!("07{K}03000648656c6c6f20576f726c6421")));

        // Segment size 0 is forwarded as a single datagram.
        let zero = hex(&format!("05{K}00000068"));
        let (ty, payload) = split_message(&zero).unwrap();
        let ClientFrame::Datagram { datagram, .. } = decode_client(ty, payload).unwrap() else {
            panic!()
        };
        assert_eq!(datagram.segment, None);
    }

    #[test]
    fn types_lengths_and_limits() {
        assert_eq!(split_message(&[]), Err(FrameError::Empty));
        assert_eq!(split_message(&[0x40]), Err(FrameError::BadType));
        // Non-minimal type encodings.
        let mut m = vec![0x40, 0x09];
        m.extend_from_slice(&[7; 8]);
        let (ty, p) = split_message(&m).unwrap();
        assert_eq!(decode_client(ty, p), Ok(ClientFrame::Ping([7; 8])));
        let mut m = vec![0x80, 0, 0, 0x0a];
        m.extend_from_slice(&[7; 8]);
        let (ty, p) = split_message(&m).unwrap();
        assert_eq!(decode_client(ty, p), Ok(ClientFrame::Pong([7; 8])));
        assert_eq!(
            decode_client(9, &[0; 7]),
            Err(FrameError::BadLength(FrameType::Ping, 7))
        );
        for t in [0u64, 2, 3, 6, 7, 8, 11, 12, 13] {
            assert!(
                matches!(decode_client(t, &[]), Err(FrameError::Unexpected(_))),
                "{t}"
            );
        }
        assert_eq!(decode_client(14, &[]), Err(FrameError::UnknownType(14)));
        assert_eq!(
            decode_client(1 << 40, &[]),
            Err(FrameError::UnknownType(1 << 40))
        );
        assert!(matches!(
            decode_client(4, &[0; 31]),
            Err(FrameError::BadLength(..))
        ));
        assert!(matches!(
            decode_client(4, &[0; 32]),
            Err(FrameError::BadLength(..))
        ));
        assert!(matches!(
            decode_client(5, &[0; 34]),
            Err(FrameError::BadLength(..))
        ));
        // Payload limits: 65,536 after the type decodes, one more does not.
        assert!(decode_client(4, &vec![0; MAX_PAYLOAD]).is_ok());
        assert_eq!(
            decode_client(4, &vec![0; MAX_PAYLOAD + 1]),
            Err(FrameError::TooLarge(MAX_PAYLOAD + 1))
        );
    }

    #[test]
    fn what_may_be_forwarded() {
        let d = |segment, len| Datagram {
            ecn: 0,
            segment,
            disco: false,
            contents: &[1u8; 70_000][..len],
        };
        assert!(!forwardable(&d(None, 0)));
        assert!(forwardable(&d(None, 65_502)));
        assert!(!forwardable(&d(None, 65_503)));
        assert!(forwardable(&d(Some(1200), 65_500)));
        assert!(!forwardable(&d(Some(1200), 65_501)));
    }
}
