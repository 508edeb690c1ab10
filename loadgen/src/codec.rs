//! Frame decoding and encoding for both 0.35 transports, on top of
//! `relay_proto` (which owns the actual byte layouts).

use relay_proto::ws::{self, Progress, Role, WsDecoder, WsItem};
use relay_proto::{stream, Frame, FrameError, Transport};

/// Why a byte stream stopped making sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    Frame(FrameError),
    Ws(ws::WsError),
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodecError::Frame(e) => write!(f, "frame: {e}"),
            CodecError::Ws(e) => write!(f, "websocket: {e}"),
        }
    }
}

/// What one `drain` call got through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Drained {
    /// Bytes at the start of the buffer that were fully used.
    pub consumed: usize,
    /// The peer sent a websocket Close.
    pub closed: bool,
    /// The callback asked to stop.
    pub stopped: bool,
}

/// Incremental decoder; keeps only websocket fragment state.
#[derive(Debug)]
pub struct Decoder {
    ws: Option<WsDecoder>,
}

impl Decoder {
    pub fn new(transport: Transport, role: Role) -> Self {
        Self {
            ws: (transport == Transport::Websocket).then(|| WsDecoder::new(role)),
        }
    }

    /// Calls `f(type, payload)` for every complete relay frame at the start
    /// of `buf` (websocket payloads are unmasked in place). `f` returns
    /// `false` to stop after that frame.
    pub fn drain(
        &mut self,
        buf: &mut [u8],
        mut f: impl FnMut(u8, &[u8]) -> bool,
    ) -> Result<Drained, CodecError> {
        let mut d = Drained::default();
        match &mut self.ws {
            None => {
                while let Some(raw) =
                    stream::next_frame(&buf[d.consumed..]).map_err(CodecError::Frame)?
                {
                    let start = d.consumed;
                    d.consumed += raw.end;
                    if !f(raw.ty, &buf[start + raw.start..start + raw.end]) {
                        d.stopped = true;
                        break;
                    }
                }
            }
            Some(dec) => loop {
                let start = d.consumed;
                let (item, used) = match dec.decode(&mut buf[start..]).map_err(CodecError::Ws)? {
                    Progress::Need(_) => break,
                    Progress::Item { item, consumed } => (item, consumed),
                };
                d.consumed += used;
                let keep_going = match item {
                    WsItem::Binary(r) => {
                        let (ty, p) = ws::split_message(&buf[start + r.start..start + r.end])
                            .map_err(CodecError::Frame)?;
                        f(ty, p)
                    }
                    WsItem::Reassembled => {
                        let (ty, p) =
                            ws::split_message(dec.message()).map_err(CodecError::Frame)?;
                        let go = f(ty, p);
                        dec.clear_message();
                        go
                    }
                    // The relay never pings at the websocket level.
                    WsItem::Ignored | WsItem::Ping(_) => true,
                    WsItem::Close => {
                        d.closed = true;
                        break;
                    }
                };
                if !keep_going {
                    d.stopped = true;
                    break;
                }
            },
        }
        Ok(d)
    }
}

/// Client-side encoder: websocket frames from a client must be masked.
#[derive(Debug)]
pub struct Encoder {
    transport: Transport,
    mask: u64,
}

impl Encoder {
    pub fn new(transport: Transport, seed: u64) -> Self {
        Self {
            transport,
            mask: seed | 1,
        }
    }

    pub fn encode(&mut self, out: &mut Vec<u8>, frame: &Frame<'_>) {
        match self.transport {
            Transport::Derp => stream::encode(out, frame),
            Transport::Websocket => {
                // xorshift: masks only need to vary, not be secret, on loopback.
                self.mask ^= self.mask << 13;
                self.mask ^= self.mask >> 7;
                self.mask ^= self.mask << 17;
                let m = (self.mask as u32).to_le_bytes();
                ws::encode_masked(out, frame, m);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(t: Transport) -> Vec<u8> {
        let mut enc = Encoder::new(t, 42);
        let mut out = Vec::new();
        enc.encode(&mut out, &Frame::Ping([1; 8]));
        enc.encode(
            &mut out,
            &Frame::SendPacket {
                dst: &[9; 32],
                packet: b"abc",
            },
        );
        out
    }

    #[test]
    fn derp_roundtrip_and_partial() {
        let buf = frames(Transport::Derp);
        let mut got = Vec::new();
        let mut b = buf.clone();
        let d = Decoder::new(Transport::Derp, Role::Server)
            .drain(&mut b, |t, p| {
                got.push((t, p.to_vec()));
                true
            })
            .unwrap();
        assert_eq!(d.consumed, buf.len());
        assert_eq!(got[0], (12, vec![1; 8]));
        assert_eq!(got[1].0, 4);
        let mut part = buf[..buf.len() - 1].to_vec();
        let d = Decoder::new(Transport::Derp, Role::Server)
            .drain(&mut part, |_, _| true)
            .unwrap();
        assert_eq!(d.consumed, 13);
    }

    #[test]
    fn ws_masked_roundtrip_and_stop() {
        let mut b = frames(Transport::Websocket);
        let mut n = 0;
        let d = Decoder::new(Transport::Websocket, Role::Server)
            .drain(&mut b, |t, p| {
                assert_eq!((t, p), (12, &[1u8; 8][..]));
                n += 1;
                false
            })
            .unwrap();
        assert!(d.stopped);
        assert_eq!(n, 1);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut b = vec![99u8, 0, 0xff, 0, 0];
        assert!(Decoder::new(Transport::Derp, Role::Client)
            .drain(&mut b, |_, _| true)
            .is_err());
        // Empty websocket binary message.
        let mut b = vec![0x82u8, 0];
        assert!(Decoder::new(Transport::Websocket, Role::Client)
            .drain(&mut b, |_, _| true)
            .is_err());
    }
}
