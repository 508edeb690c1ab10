//! RFC 6455 framing, shared by both protocol families: each relay frame is
//! one binary message (`[type][payload]`, no length field; the type is one
//! byte in 0.35 and a QUIC varint in 1.x).
//!
//! Frame headers are parsed and written with `tungstenite`; this module adds
//! the message rules the relay needs: client frames must be masked,
//! fragmented messages are reassembled, text/ping/pong are ignored and Close
//! ends the session.

use std::io::Cursor;
use std::ops::Range;

use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use super::MAX_FRAME_SIZE;
// The 0.35 message helpers under this path too, for the benches, the fuzz
// seeds and tests that build websocket frames.
pub use super::v035::message::{encode, encode_masked, split_message};

/// Largest message accepted: a maximal relay frame plus its type byte.
pub const MAX_MESSAGE: usize = MAX_FRAME_SIZE + 1;

/// Which side of the connection decodes: a server requires masked frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Decodes what a client sends: frames must be masked.
    Server,
    /// Decodes what a server sends, masked or not.
    Client,
}

/// Why a websocket stream is refused; each ends the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// The frame header does not parse (tungstenite's reason).
    #[error("websocket header: {0}")]
    Header(String),
    /// A server got an unmasked frame.
    #[error("unmasked frame from client")]
    Unmasked,
    /// A reserved bit is set (no extension is negotiated).
    #[error("reserved bits set")]
    Reserved,
    /// A message longer than the limit, in bytes (one frame, or the
    /// fragments so far).
    #[error("message of {0} bytes exceeds the limit")]
    TooLarge(u64),
    /// A control frame that is fragmented or carries over 125 bytes.
    #[error("bad control frame")]
    BadControl,
    /// A continuation frame with no message open.
    #[error("continuation without a message")]
    StrayContinuation,
    /// A new data frame while a fragmented message is open.
    #[error("new data frame inside a fragmented message")]
    Interleaved,
}

/// What one websocket frame amounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsItem {
    /// A complete binary message, unmasked in place: `buf[range]`.
    Binary(Range<usize>),
    /// A fragmented binary message completed: read [`WsDecoder::message`],
    /// then call [`WsDecoder::clear_message`].
    Reassembled,
    /// A websocket Ping: answer with a Pong carrying `buf[range]`.
    Ping(Range<usize>),
    /// A frame with nothing for the relay (text, pong, a fragment).
    Ignored,
    /// The peer sent Close.
    Close,
}

/// Result of one decode step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// `consumed` bytes at the start of the buffer formed `item`.
    Item {
        /// What the frame amounted to.
        item: WsItem,
        /// Bytes the frame took.
        consumed: usize,
    },
    /// At least this many bytes (from the buffer start) are needed.
    Need(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    Binary,
    Text,
}

/// Incremental websocket message decoder; holds only fragment state.
#[derive(Debug)]
pub struct WsDecoder {
    role: Role,
    open: Open,
    message: Vec<u8>,
    /// Largest message accepted (frame or reassembled).
    limit: usize,
}

impl WsDecoder {
    /// A decoder for the `role` side, its limit at [`MAX_MESSAGE`].
    pub fn new(role: Role) -> Self {
        Self {
            role,
            open: Open::None,
            message: Vec::new(),
            limit: MAX_MESSAGE,
        }
    }

    /// Lowers (or restores) the largest message accepted: before a client
    /// is authenticated nothing larger than its handshake is buffered,
    /// fragmented or not.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.min(MAX_MESSAGE);
    }

    /// Decodes one websocket frame from the start of `buf`, unmasking its
    /// payload in place.
    pub fn decode(&mut self, buf: &mut [u8]) -> Result<Progress, WsError> {
        let mut cur = Cursor::new(&*buf);
        let (header, len) = match FrameHeader::parse(&mut cur) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(Progress::Need(buf.len() + 1)),
            Err(e) => return Err(WsError::Header(e.to_string())),
        };
        let hlen = cur.position() as usize;
        if len > self.limit as u64 {
            return Err(WsError::TooLarge(len));
        }
        let end = hlen + len as usize;
        if buf.len() < end {
            return Ok(Progress::Need(end));
        }
        if header.rsv1 || header.rsv2 || header.rsv3 {
            return Err(WsError::Reserved);
        }
        let payload = &mut buf[hlen..end];
        match (header.mask, self.role) {
            (Some(mask), _) => apply_mask(payload, mask),
            (None, Role::Server) => return Err(WsError::Unmasked),
            (None, Role::Client) => {}
        }
        let item = self.on_frame(&header, hlen..end, payload)?;
        Ok(Progress::Item {
            item,
            consumed: end,
        })
    }

    fn on_frame(
        &mut self,
        header: &FrameHeader,
        range: Range<usize>,
        payload: &[u8],
    ) -> Result<WsItem, WsError> {
        match header.opcode {
            OpCode::Control(c) => {
                if !header.is_final || payload.len() > 125 {
                    return Err(WsError::BadControl);
                }
                Ok(match c {
                    Control::Close => WsItem::Close,
                    Control::Ping => WsItem::Ping(range),
                    _ => WsItem::Ignored,
                })
            }
            OpCode::Data(Data::Continue) => {
                match self.open {
                    Open::None => return Err(WsError::StrayContinuation),
                    Open::Text => {}
                    Open::Binary => {
                        if self.message.len() + payload.len() > self.limit {
                            return Err(WsError::TooLarge(
                                (self.message.len() + payload.len()) as u64,
                            ));
                        }
                        self.message.extend_from_slice(payload);
                    }
                }
                if !header.is_final {
                    return Ok(WsItem::Ignored);
                }
                let was = std::mem::replace(&mut self.open, Open::None);
                Ok(if was == Open::Binary {
                    WsItem::Reassembled
                } else {
                    WsItem::Ignored
                })
            }
            OpCode::Data(d) => {
                if self.open != Open::None {
                    return Err(WsError::Interleaved);
                }
                let binary = d == Data::Binary;
                if header.is_final {
                    return Ok(if binary {
                        WsItem::Binary(range)
                    } else {
                        WsItem::Ignored
                    });
                }
                self.open = if binary { Open::Binary } else { Open::Text };
                if binary {
                    self.message.clear();
                    self.message.extend_from_slice(payload);
                }
                Ok(WsItem::Ignored)
            }
        }
    }

    /// The last reassembled message.
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// Frees the reassembly buffer (idle connections keep no memory).
    pub fn clear_message(&mut self) {
        self.message = Vec::new();
    }
}

/// XORs `buf` with the 4-byte mask, 8 bytes at a time.
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4]) {
    let m8 = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(w) ^ m8).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
}

/// Appends an unmasked Pong answering a Ping's `payload` (server side).
pub fn write_pong(out: &mut Vec<u8>, payload: &[u8]) {
    let header = FrameHeader {
        is_final: true,
        opcode: OpCode::Control(Control::Pong),
        ..FrameHeader::default()
    };
    // Writing into a Vec cannot fail.
    let _ = header.format(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// Appends the header of a final binary message of `len` bytes.
pub fn write_header(out: &mut Vec<u8>, len: usize, mask: Option<[u8; 4]>) {
    let header = FrameHeader {
        is_final: true,
        opcode: OpCode::Data(Data::Binary),
        mask,
        ..FrameHeader::default()
    };
    // Writing into a Vec cannot fail.
    let _ = header.format(len as u64, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{decode, Frame, FrameError};

    fn item(d: &mut WsDecoder, buf: &mut [u8]) -> (WsItem, usize) {
        match d.decode(buf).unwrap() {
            Progress::Item { item, consumed } => (item, consumed),
            Progress::Need(n) => panic!("need {n}"),
        }
    }

    #[test]
    fn masked_roundtrip_and_partial() {
        let mut buf = Vec::new();
        encode_masked(&mut buf, &Frame::Ping([5; 8]), [1, 2, 3, 4]);
        let mut d = WsDecoder::new(Role::Server);
        for cut in 0..buf.len() {
            let mut part = buf[..cut].to_vec();
            assert!(matches!(d.decode(&mut part), Ok(Progress::Need(_))));
        }
        let (it, used) = item(&mut d, &mut buf);
        assert_eq!(used, buf.len());
        let WsItem::Binary(r) = it else { panic!() };
        let (t, p) = split_message(&buf[r]).unwrap();
        assert_eq!(decode(t, p), Ok(Frame::Ping([5; 8])));
    }

    #[test]
    fn server_rejects_unmasked_client_accepts() {
        let mut buf = Vec::new();
        encode(&mut buf, &Frame::KeepAlive);
        assert_eq!(
            WsDecoder::new(Role::Server).decode(&mut buf.clone()),
            Err(WsError::Unmasked)
        );
        let (it, _) = item(&mut WsDecoder::new(Role::Client), &mut buf);
        assert_eq!(it, WsItem::Binary(2..3));
    }

    #[test]
    fn large_lengths_use_extended_headers() {
        for len in [125usize, 126, 65535, 65536, 70000] {
            let mut out = Vec::new();
            write_header(&mut out, len, Some([0; 4]));
            out.resize(out.len() + len, 0);
            let (it, used) = item(&mut WsDecoder::new(Role::Server), &mut out);
            assert_eq!(used, out.len());
            assert!(matches!(it, WsItem::Binary(r) if r.len() == len));
        }
    }

    fn raw(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        assert!(payload.len() < 126);
        let mut v = vec![first, 0x80 | payload.len() as u8];
        v.extend_from_slice(&mask);
        let s = v.len();
        v.extend_from_slice(payload);
        apply_mask(&mut v[s..], mask);
        v
    }

    #[test]
    fn fragments_text_ping_close() {
        let mut d = WsDecoder::new(Role::Server);
        let m = [9, 8, 7, 6];
        // binary start, ping in between, continuation final.
        assert_eq!(
            item(&mut d, &mut raw(0x02, &[12, 1, 2, 3], m)).0,
            WsItem::Ignored
        );
        let mut ping = raw(0x89, b"hi", m);
        let (it, _) = item(&mut d, &mut ping);
        let WsItem::Ping(r) = it else {
            panic!("{it:?}")
        };
        assert_eq!(&ping[r], b"hi");
        assert_eq!(
            item(&mut d, &mut raw(0x80, &[4, 5, 6, 7, 8], m)).0,
            WsItem::Reassembled
        );
        assert_eq!(d.message(), &[12, 1, 2, 3, 4, 5, 6, 7, 8]);
        d.clear_message();
        // text (single and fragmented) and pong are ignored.
        assert_eq!(item(&mut d, &mut raw(0x81, b"text", m)).0, WsItem::Ignored);
        assert_eq!(item(&mut d, &mut raw(0x01, b"te", m)).0, WsItem::Ignored);
        assert_eq!(item(&mut d, &mut raw(0x80, b"xt", m)).0, WsItem::Ignored);
        assert_eq!(item(&mut d, &mut raw(0x8a, b"", m)).0, WsItem::Ignored);
        assert_eq!(item(&mut d, &mut raw(0x88, &[3, 232], m)).0, WsItem::Close);
    }

    #[test]
    fn protocol_violations() {
        let m = [1, 1, 1, 1];
        let mut d = WsDecoder::new(Role::Server);
        assert_eq!(
            d.decode(&mut raw(0x80, b"x", m)),
            Err(WsError::StrayContinuation)
        );
        assert_eq!(d.decode(&mut raw(0xc2, b"x", m)), Err(WsError::Reserved));
        assert_eq!(d.decode(&mut raw(0x09, b"x", m)), Err(WsError::BadControl));
        assert!(matches!(
            d.decode(&mut raw(0x83, b"x", m)),
            Err(WsError::Header(_))
        ));
        let mut d = WsDecoder::new(Role::Server);
        let _ = d.decode(&mut raw(0x02, b"x", m)).unwrap();
        assert_eq!(d.decode(&mut raw(0x82, b"y", m)), Err(WsError::Interleaved));
        let mut huge = Vec::new();
        write_header(&mut huge, MAX_MESSAGE + 1, Some(m));
        assert!(matches!(
            WsDecoder::new(Role::Server).decode(&mut huge),
            Err(WsError::TooLarge(_))
        ));
        assert_eq!(split_message(&[]), Err(FrameError::Empty));
    }

    #[test]
    fn a_lowered_limit_bounds_fragments_too() {
        let m = [1, 1, 1, 1];
        let mut d = WsDecoder::new(Role::Server);
        d.set_limit(8);
        assert_eq!(item(&mut d, &mut raw(0x02, &[0; 6], m)).0, WsItem::Ignored);
        assert_eq!(
            d.decode(&mut raw(0x00, &[0; 3], m)),
            Err(WsError::TooLarge(9))
        );
        let mut d = WsDecoder::new(Role::Server);
        d.set_limit(8);
        assert_eq!(
            d.decode(&mut raw(0x82, &[0; 9], m)),
            Err(WsError::TooLarge(9))
        );
    }

    #[test]
    fn mask_matches_bytewise() {
        let mut a: Vec<u8> = (0..=255).collect();
        let b = a.clone();
        let m = [0xde, 0xad, 0xbe, 0xef];
        apply_mask(&mut a, m);
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(*x, y ^ m[i % 4]);
        }
    }
}
