//! Frame types and payload rules of protocol version 3 (iroh-relay 0.35).

use crate::key::{read_key, NodeKey};
use crate::{KEY_LEN, MAX_PACKET_SIZE};

/// Frame type byte values. Any other value is a protocol error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameType {
    /// C→S: the signed handshake, the first frame.
    ClientInfo = 2,
    /// C→S: destination key ‖ packet.
    SendPacket = 4,
    /// S→C: source key ‖ packet.
    RecvPacket = 5,
    /// S→C, empty; the relay never sends it.
    KeepAlive = 6,
    /// C→S, one byte, 0 or 1; ignored.
    NotePreferred = 7,
    /// S→C: the key of a peer that left.
    PeerGone = 8,
    /// Either way: 8 bytes to echo in a Pong.
    Ping = 12,
    /// Either way: the 8 bytes of the Ping answered.
    Pong = 13,
    /// S→C: a UTF-8 text; from a client it is an error.
    Health = 14,
    /// S→C: the server restarts; when to reconnect and how long to try.
    Restarting = 15,
}

impl FrameType {
    /// The type of a type byte; `None` for a number 0.35 does not define.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            2 => Self::ClientInfo,
            4 => Self::SendPacket,
            5 => Self::RecvPacket,
            6 => Self::KeepAlive,
            7 => Self::NotePreferred,
            8 => Self::PeerGone,
            12 => Self::Ping,
            13 => Self::Pong,
            14 => Self::Health,
            15 => Self::Restarting,
            _ => return None,
        })
    }
}

/// Why a frame was rejected. Every variant ends the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A type byte 0.35 does not define.
    #[error("unknown frame type {0}")]
    UnknownType(u8),
    /// A stream frame announcing more than 1 MiB.
    #[error("frame length {0} exceeds the limit")]
    TooLarge(usize),
    /// A payload of the wrong size for its type.
    #[error("{0:?} frame has invalid length {1}")]
    BadLength(FrameType, usize),
    /// A packet over [`MAX_PACKET_SIZE`] bytes.
    #[error("packet of {0} bytes exceeds 65536")]
    PacketTooLarge(usize),
    /// A NotePreferred byte other than 0 or 1.
    #[error("NotePreferred value {0} is not 0 or 1")]
    BadPreferred(u8),
    /// A Health text that is not UTF-8.
    #[error("Health text is not UTF-8")]
    BadHealthText,
    /// A websocket message without a type byte.
    #[error("empty message")]
    Empty,
}

/// A decoded frame borrowing its payload from the read buffer.
///
/// Key fields are not checked for point validity here: the hot path checks a
/// destination only when it is not a connected client (see `key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// The handshake payload, checked by [`crate::client_info`].
    ClientInfo(&'a [u8]),
    /// A packet for another client.
    SendPacket {
        /// The destination's key.
        dst: &'a NodeKey,
        /// The packet, at most 64 KiB.
        packet: &'a [u8],
    },
    /// A packet relayed from another client.
    RecvPacket {
        /// The sender's key.
        src: &'a NodeKey,
        /// The packet, at most 64 KiB.
        packet: &'a [u8],
    },
    /// Empty; ignored.
    KeepAlive,
    /// Whether this relay is the client's home relay; ignored.
    NotePreferred(bool),
    /// A peer the client sent to has left.
    PeerGone(&'a NodeKey),
    /// 8 bytes to echo in a Pong.
    Ping([u8; 8]),
    /// The 8 bytes of the Ping answered.
    Pong([u8; 8]),
    /// A text the client logs (a denial is `not authenticated`).
    Health(&'a str),
    /// The server is restarting.
    Restarting {
        /// Wait this long before reconnecting, in milliseconds.
        reconnect_in_ms: u32,
        /// Keep trying for this long, in milliseconds.
        try_for_ms: u32,
    },
}

impl Frame<'_> {
    /// The frame's type.
    pub fn frame_type(&self) -> FrameType {
        match self {
            Frame::ClientInfo(_) => FrameType::ClientInfo,
            Frame::SendPacket { .. } => FrameType::SendPacket,
            Frame::RecvPacket { .. } => FrameType::RecvPacket,
            Frame::KeepAlive => FrameType::KeepAlive,
            Frame::NotePreferred(_) => FrameType::NotePreferred,
            Frame::PeerGone(_) => FrameType::PeerGone,
            Frame::Ping(_) => FrameType::Ping,
            Frame::Pong(_) => FrameType::Pong,
            Frame::Health(_) => FrameType::Health,
            Frame::Restarting { .. } => FrameType::Restarting,
        }
    }

    /// Payload length on the wire (without any header).
    pub fn payload_len(&self) -> usize {
        match self {
            Frame::ClientInfo(p) => p.len(),
            Frame::SendPacket { packet, .. } | Frame::RecvPacket { packet, .. } => {
                KEY_LEN + packet.len()
            }
            Frame::KeepAlive => 0,
            Frame::NotePreferred(_) => 1,
            Frame::PeerGone(_) => KEY_LEN,
            Frame::Ping(_) | Frame::Pong(_) | Frame::Restarting { .. } => 8,
            Frame::Health(t) => t.len(),
        }
    }

    /// Appends the payload bytes (no header) to `out`.
    pub fn write_payload(&self, out: &mut Vec<u8>) {
        match self {
            Frame::ClientInfo(p) => out.extend_from_slice(p),
            Frame::SendPacket { dst: key, packet } | Frame::RecvPacket { src: key, packet } => {
                out.extend_from_slice(*key);
                out.extend_from_slice(packet);
            }
            Frame::KeepAlive => {}
            Frame::NotePreferred(p) => out.push(u8::from(*p)),
            Frame::PeerGone(k) => out.extend_from_slice(*k),
            Frame::Ping(d) | Frame::Pong(d) => out.extend_from_slice(d),
            Frame::Health(t) => out.extend_from_slice(t.as_bytes()),
            Frame::Restarting {
                reconnect_in_ms,
                try_for_ms,
            } => {
                out.extend_from_slice(&reconnect_in_ms.to_be_bytes());
                out.extend_from_slice(&try_for_ms.to_be_bytes());
            }
        }
    }
}

/// Decodes one frame from its type byte and complete payload, applying the
/// size and value rules of docs/protocol-0.35.md §3.3.
pub fn decode(ty: u8, payload: &[u8]) -> Result<Frame<'_>, FrameError> {
    let ft = FrameType::from_u8(ty).ok_or(FrameError::UnknownType(ty))?;
    let bad_len = || FrameError::BadLength(ft, payload.len());
    let fixed8 = || -> Result<[u8; 8], FrameError> { payload.try_into().map_err(|_| bad_len()) };
    Ok(match ft {
        FrameType::ClientInfo => Frame::ClientInfo(payload),
        FrameType::SendPacket | FrameType::RecvPacket => {
            let key = read_key(payload).ok_or_else(bad_len)?;
            let packet = &payload[KEY_LEN..];
            if packet.len() > MAX_PACKET_SIZE {
                return Err(FrameError::PacketTooLarge(packet.len()));
            }
            if ft == FrameType::SendPacket {
                Frame::SendPacket { dst: key, packet }
            } else {
                Frame::RecvPacket { src: key, packet }
            }
        }
        FrameType::KeepAlive if payload.is_empty() => Frame::KeepAlive,
        FrameType::KeepAlive => return Err(bad_len()),
        FrameType::NotePreferred => match payload {
            [0] => Frame::NotePreferred(false),
            [1] => Frame::NotePreferred(true),
            [v] => return Err(FrameError::BadPreferred(*v)),
            _ => return Err(bad_len()),
        },
        FrameType::PeerGone if payload.len() == KEY_LEN => {
            Frame::PeerGone(read_key(payload).ok_or_else(bad_len)?)
        }
        FrameType::PeerGone => return Err(bad_len()),
        FrameType::Ping => Frame::Ping(fixed8()?),
        FrameType::Pong => Frame::Pong(fixed8()?),
        FrameType::Health => {
            Frame::Health(std::str::from_utf8(payload).map_err(|_| FrameError::BadHealthText)?)
        }
        FrameType::Restarting => {
            let b = fixed8()?;
            Frame::Restarting {
                reconnect_in_ms: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                try_for_ms: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            }
        }
    })
}

/// Whether a packet would be classed as disco by the reference (`TS💬`
/// prefix, at least 38 bytes). Kept for metrics parity.
pub fn is_disco(packet: &[u8]) -> bool {
    const MAGIC: &[u8] = b"TS\xf0\x9f\x92\xac";
    packet.len() >= 38 && packet.starts_with(MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_numbers_are_pinned() {
        let pairs = [
            (FrameType::ClientInfo, 2),
            (FrameType::SendPacket, 4),
            (FrameType::RecvPacket, 5),
            (FrameType::KeepAlive, 6),
            (FrameType::NotePreferred, 7),
            (FrameType::PeerGone, 8),
            (FrameType::Ping, 12),
            (FrameType::Pong, 13),
            (FrameType::Health, 14),
            (FrameType::Restarting, 15),
        ];
        for (t, n) in pairs {
            assert_eq!(t as u8, n);
            assert_eq!(FrameType::from_u8(n), Some(t));
        }
    }

    #[test]
    fn unknown_types_are_errors() {
        for t in [0u8, 1, 3, 9, 10, 11, 16, 255] {
            assert_eq!(decode(t, &[]), Err(FrameError::UnknownType(t)));
        }
    }

    #[test]
    fn fixed_size_rules() {
        assert_eq!(decode(6, &[]), Ok(Frame::KeepAlive));
        assert!(decode(6, &[0]).is_err());
        assert_eq!(decode(7, &[0]), Ok(Frame::NotePreferred(false)));
        assert_eq!(decode(7, &[1]), Ok(Frame::NotePreferred(true)));
        assert_eq!(decode(7, &[2]), Err(FrameError::BadPreferred(2)));
        assert!(decode(7, &[]).is_err());
        assert!(decode(7, &[0, 0]).is_err());
        assert_eq!(decode(12, &[7; 8]), Ok(Frame::Ping([7; 8])));
        assert!(decode(12, &[7; 7]).is_err());
        assert!(decode(13, &[7; 9]).is_err());
        assert!(decode(8, &[1; 31]).is_err());
        assert!(decode(8, &[1; 33]).is_err());
        assert!(decode(15, &[0; 7]).is_err());
        assert_eq!(
            decode(15, &[0, 0, 1, 0, 0, 0, 0, 2]),
            Ok(Frame::Restarting {
                reconnect_in_ms: 256,
                try_for_ms: 2
            })
        );
        assert_eq!(decode(14, b"x"), Ok(Frame::Health("x")));
        assert_eq!(decode(14, &[0xff]), Err(FrameError::BadHealthText));
    }

    #[test]
    fn packet_limits() {
        let mut p = vec![9u8; KEY_LEN + MAX_PACKET_SIZE];
        assert!(
            matches!(decode(4, &p), Ok(Frame::SendPacket { packet, .. }) if packet.len() == MAX_PACKET_SIZE)
        );
        p.push(0);
        assert_eq!(
            decode(4, &p),
            Err(FrameError::PacketTooLarge(MAX_PACKET_SIZE + 1))
        );
        assert!(decode(4, &[1; 31]).is_err());
        assert!(matches!(
            decode(4, &[1; 32]),
            Ok(Frame::SendPacket { packet: [], .. })
        ));
        assert!(matches!(
            decode(5, &[1; 33]),
            Ok(Frame::RecvPacket { packet: [1], .. })
        ));
    }

    #[test]
    fn payload_roundtrip() {
        let k = [3u8; 32];
        let frames = [
            Frame::SendPacket {
                dst: &k,
                packet: b"hello",
            },
            Frame::RecvPacket {
                src: &k,
                packet: b"",
            },
            Frame::KeepAlive,
            Frame::NotePreferred(true),
            Frame::PeerGone(&k),
            Frame::Ping([1; 8]),
            Frame::Pong([2; 8]),
            Frame::Health("not authenticated"),
            Frame::Restarting {
                reconnect_in_ms: 5,
                try_for_ms: 6,
            },
        ];
        for f in frames {
            let mut out = Vec::new();
            f.write_payload(&mut out);
            assert_eq!(out.len(), f.payload_len());
            assert_eq!(decode(f.frame_type() as u8, &out), Ok(f));
        }
    }

    #[test]
    fn disco_classification() {
        let mut p = b"TS\xf0\x9f\x92\xac".to_vec();
        p.resize(38, 0);
        assert!(is_disco(&p));
        assert!(!is_disco(&p[..37]));
        assert!(!is_disco(&[0u8; 40]));
    }
}
