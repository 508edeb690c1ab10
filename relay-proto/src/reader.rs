//! One interface over every framing: find the next relay frame in a buffer
//! of received bytes, as (type, payload), whatever the family.

use super::dialect::{Dialect, TypeCoding};
use super::frame::FrameError;
use super::v035::stream;
use super::v1x;
use super::ws::{Progress, Role, WsDecoder, WsError, WsItem};
use super::Transport;

/// The next thing found at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// A frame whose payload is `buf[start..end]`; `consumed` bytes used.
    Frame {
        /// The frame type.
        ty: u64,
        /// Offset of the payload in the buffer.
        start: usize,
        /// Offset one past the payload.
        end: usize,
        /// Bytes the frame took from the buffer start, headers included.
        consumed: usize,
    },
    /// A reassembled websocket message: take it with
    /// [`FrameReader::message`].
    Message {
        /// Bytes the final fragment took from the buffer start.
        consumed: usize,
    },
    /// Bytes that carry nothing for the relay (websocket control, text).
    Skip {
        /// Bytes to drop from the buffer start.
        consumed: usize,
    },
    /// A websocket Ping whose payload is `buf[start..end]`.
    WsPing {
        /// Offset of the payload in the buffer.
        start: usize,
        /// Offset one past the payload.
        end: usize,
        /// Bytes the Ping took from the buffer start.
        consumed: usize,
    },
    /// The peer ended the session (websocket Close).
    Close,
    /// At least this many bytes, counted from the buffer start, are needed.
    Need(usize),
}

/// Why a reader gives up; each ends the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// A 0.35 stream frame over 1 MiB, or an empty 0.35 message.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A 1.x message that is empty or whose type does not decode.
    #[error(transparent)]
    V1x(#[from] v1x::frame::FrameError),
    /// The websocket framing is broken.
    #[error(transparent)]
    Ws(#[from] WsError),
}

/// What [`FrameReader::next_with`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<R> {
    /// A frame was handed to the callback, which returned `out`.
    Frame {
        /// What the callback returned.
        out: R,
        /// Bytes to drop from the buffer start.
        consumed: usize,
    },
    /// Bytes with nothing for the caller (a websocket Pong, a text, a
    /// fragment): drop them and go on.
    Skip {
        /// Bytes to drop from the buffer start.
        consumed: usize,
    },
    /// Answer with these bytes (a websocket Pong), then go on. The Pong is
    /// unmasked, as a server writes it: a client-role caller must not send
    /// it as is (a server closes on an unmasked frame).
    Reply {
        /// The answer to write.
        bytes: Vec<u8>,
        /// Bytes to drop from the buffer start.
        consumed: usize,
    },
    /// The peer sent a websocket Close: end the session.
    Close,
    /// At least this many bytes, counted from the buffer start, are needed.
    Need(usize),
}

/// Frame extraction state for one connection.
#[derive(Debug)]
pub enum FrameReader {
    /// The 0.35 stream framing: no state between reads.
    Derp,
    /// Websocket messages, one frame each.
    Websocket {
        /// The fragment state.
        decoder: WsDecoder,
        /// How the frame type is written.
        types: TypeCoding,
    },
}

impl FrameReader {
    /// A server-side reader (websocket input must be masked).
    pub fn server(dialect: Dialect) -> Self {
        Self::new(dialect, Role::Server)
    }

    /// A reader on the `role` side (a server requires masked websocket
    /// frames).
    pub fn new(dialect: Dialect, role: Role) -> Self {
        match dialect {
            Dialect::V035(Transport::Derp) => Self::Derp,
            d => Self::Websocket {
                decoder: WsDecoder::new(role),
                types: d.type_coding(),
            },
        }
    }

    /// Resumes a websocket connection whose decoder was handed over.
    pub fn from_ws(decoder: WsDecoder, types: TypeCoding) -> Self {
        Self::Websocket { decoder, types }
    }

    /// Bounds the messages accepted (see [`WsDecoder::set_limit`]); the
    /// stream framing is bounded by its caller.
    pub fn set_message_limit(&mut self, limit: usize) {
        if let FrameReader::Websocket { decoder, .. } = self {
            decoder.set_limit(limit);
        }
    }

    /// Looks at the start of `buf`; websocket payloads are unmasked in place.
    pub fn next(&mut self, buf: &mut [u8]) -> Result<Next, ReadError> {
        match self {
            FrameReader::Derp => Ok(match stream::next_frame(buf)? {
                Some(f) => Next::Frame {
                    ty: u64::from(f.ty),
                    start: f.start,
                    end: f.end,
                    consumed: f.end,
                },
                None => Next::Need(stream::needed(buf)?),
            }),
            FrameReader::Websocket { decoder, types } => Ok(match decoder.decode(buf)? {
                Progress::Need(n) => Next::Need(n),
                Progress::Item { item, consumed } => match item {
                    WsItem::Binary(r) => {
                        let (ty, n) = split_type(*types, &buf[r.clone()])?;
                        Next::Frame {
                            ty,
                            start: r.start + n,
                            end: r.end,
                            consumed,
                        }
                    }
                    WsItem::Ping(r) => Next::WsPing {
                        start: r.start,
                        end: r.end,
                        consumed,
                    },
                    WsItem::Reassembled => Next::Message { consumed },
                    WsItem::Ignored => Next::Skip { consumed },
                    WsItem::Close => Next::Close,
                },
            }),
        }
    }

    /// Finds the next frame and hands `(type, payload)` to `f`, whether it
    /// sat in `buf` or was reassembled from websocket fragments.
    pub fn next_with<R>(
        &mut self,
        buf: &mut [u8],
        f: impl FnOnce(u64, &[u8]) -> R,
    ) -> Result<Step<R>, ReadError> {
        Ok(match self.next(buf)? {
            Next::Frame {
                ty,
                start,
                end,
                consumed,
            } => Step::Frame {
                out: f(ty, &buf[start..end]),
                consumed,
            },
            Next::Message { consumed } => {
                let (ty, payload) = self.message()?;
                let out = f(ty, payload);
                self.clear_message();
                Step::Frame { out, consumed }
            }
            Next::Skip { consumed } => Step::Skip { consumed },
            Next::WsPing {
                start,
                end,
                consumed,
            } => {
                let mut bytes = Vec::with_capacity(2 + end - start);
                super::ws::write_pong(&mut bytes, &buf[start..end]);
                Step::Reply { bytes, consumed }
            }
            Next::Close => Step::Close,
            Next::Need(n) => Step::Need(n),
        })
    }

    /// The reassembled message after [`Next::Message`], as (type, payload).
    /// The caller must call [`FrameReader::clear_message`] after use.
    pub fn message(&self) -> Result<(u64, &[u8]), ReadError> {
        match self {
            FrameReader::Websocket { decoder, types } => {
                let msg = decoder.message();
                let (ty, n) = split_type(*types, msg)?;
                Ok((ty, &msg[n..]))
            }
            FrameReader::Derp => Err(FrameError::Empty.into()),
        }
    }

    /// Frees the reassembled message, after [`FrameReader::message`].
    pub fn clear_message(&mut self) {
        if let FrameReader::Websocket { decoder, .. } = self {
            decoder.clear_message();
        }
    }

    /// The websocket state, for handing a connection to another shard.
    pub fn into_ws(self) -> Option<WsDecoder> {
        match self {
            FrameReader::Websocket { decoder, .. } => Some(decoder),
            FrameReader::Derp => None,
        }
    }
}

/// The type at the start of a message and its length in bytes.
fn split_type(types: TypeCoding, msg: &[u8]) -> Result<(u64, usize), ReadError> {
    match types {
        TypeCoding::Byte => match msg.first() {
            Some(t) => Ok((u64::from(*t), 1)),
            None => Err(FrameError::Empty.into()),
        },
        TypeCoding::Varint => {
            let (ty, payload) = v1x::frame::split_message(msg)?;
            Ok((ty, msg.len() - payload.len()))
        }
    }
}

/// Every frame in `bytes` as (type, payload), read in `role`: `None`
/// unless `bytes` is exactly whole frames, each in one piece (what one
/// side writes and the other must read back; for tests and fuzzing).
pub fn whole_frames(dialect: Dialect, role: Role, bytes: &[u8]) -> Option<Vec<(u64, Vec<u8>)>> {
    let mut buf = bytes.to_vec();
    let mut reader = FrameReader::new(dialect, role);
    let mut frames = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        match reader.next(&mut buf[pos..]).ok()? {
            Next::Frame {
                ty,
                start,
                end,
                consumed,
            } => {
                frames.push((ty, buf[pos + start..pos + end].to_vec()));
                pos += consumed;
            }
            _ => return None,
        }
    }
    Some(frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;
    use crate::v1x::Version;
    use crate::ws;

    #[test]
    fn derp_and_ws_agree() {
        for t in [Transport::Derp, Transport::Websocket] {
            let mut buf = Vec::new();
            match t {
                Transport::Derp => crate::stream::encode(&mut buf, &Frame::Ping([4; 8])),
                Transport::Websocket => {
                    ws::encode_masked(&mut buf, &Frame::Ping([4; 8]), [1, 2, 3, 4])
                }
            }
            let mut r = FrameReader::server(Dialect::V035(t));
            assert!(matches!(r.next(&mut buf[..3]).unwrap(), Next::Need(n) if n > 3));
            let Next::Frame {
                ty,
                start,
                end,
                consumed,
            } = r.next(&mut buf).unwrap()
            else {
                panic!()
            };
            assert_eq!(
                (ty, &buf[start..end], consumed),
                (12, &[4u8; 8][..], buf.len())
            );
        }
    }

    #[test]
    fn v1x_types_are_varints() {
        // Ping as `40 09` (non-minimal), masked.
        let mut msg = vec![0x40, 0x09];
        msg.extend_from_slice(&[5; 8]);
        let mut buf = Vec::new();
        ws::write_header(&mut buf, msg.len(), Some([7, 7, 7, 7]));
        let start = buf.len();
        buf.extend_from_slice(&msg);
        ws::apply_mask(&mut buf[start..], [7, 7, 7, 7]);
        let mut r = FrameReader::server(Dialect::V1x(Version::V2));
        let step = r.next_with(&mut buf, |ty, p| (ty, p.to_vec())).unwrap();
        assert_eq!(
            step,
            Step::Frame {
                out: (9, vec![5; 8]),
                consumed: buf.len()
            }
        );
    }

    #[test]
    fn empty_ws_message_is_an_error() {
        for d in [
            Dialect::V035(Transport::Websocket),
            Dialect::V1x(Version::V1),
        ] {
            let mut buf = Vec::new();
            ws::write_header(&mut buf, 0, Some([0; 4]));
            let mut r = FrameReader::server(d);
            assert!(r.next(&mut buf).is_err(), "{d:?}");
        }
    }
}
