//! One interface over both transports: find the next relay frame in a
//! buffer of received bytes.

use super::frame::FrameError;
use super::ws::{self, Progress, Role, WsDecoder, WsError, WsItem};
use super::{stream, Transport};

/// The next thing found at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// A frame whose payload is `buf[start..end]`; `consumed` bytes used.
    Frame {
        ty: u8,
        start: usize,
        end: usize,
        consumed: usize,
    },
    /// A reassembled websocket message: take it with
    /// [`FrameReader::take_message`].
    Message { consumed: usize },
    /// Bytes that carry nothing for the relay (websocket control, text).
    Skip { consumed: usize },
    /// The peer ended the session (websocket Close).
    Close,
    /// At least this many bytes, counted from the buffer start, are needed.
    Need(usize),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Ws(#[from] WsError),
}

/// What [`FrameReader::next_with`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<R> {
    /// A frame was handed to the callback, which returned `out`.
    Frame {
        out: R,
        consumed: usize,
    },
    Skip {
        consumed: usize,
    },
    Close,
    Need(usize),
}

/// Frame extraction state for one connection.
#[derive(Debug)]
pub enum FrameReader {
    Derp,
    Websocket(WsDecoder),
}

impl FrameReader {
    /// A server-side reader (websocket input must be masked).
    pub fn server(transport: Transport) -> Self {
        Self::new(transport, Role::Server)
    }

    pub fn new(transport: Transport, role: Role) -> Self {
        match transport {
            Transport::Derp => Self::Derp,
            Transport::Websocket => Self::Websocket(WsDecoder::new(role)),
        }
    }

    pub fn from_ws(decoder: WsDecoder) -> Self {
        Self::Websocket(decoder)
    }

    /// Looks at the start of `buf`; websocket payloads are unmasked in place.
    pub fn next(&mut self, buf: &mut [u8]) -> Result<Next, ReadError> {
        match self {
            FrameReader::Derp => Ok(match stream::next_frame(buf)? {
                Some(f) => Next::Frame {
                    ty: f.ty,
                    start: f.start,
                    end: f.end,
                    consumed: f.end,
                },
                None => Next::Need(stream::needed(buf)?),
            }),
            FrameReader::Websocket(d) => Ok(match d.decode(buf)? {
                Progress::Need(n) => Next::Need(n),
                Progress::Item { item, consumed } => match item {
                    WsItem::Binary(r) if r.is_empty() => return Err(FrameError::Empty.into()),
                    WsItem::Binary(r) => Next::Frame {
                        ty: buf[r.start],
                        start: r.start + 1,
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
        f: impl FnOnce(u8, &[u8]) -> R,
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
            Next::Close => Step::Close,
            Next::Need(n) => Step::Need(n),
        })
    }

    /// The reassembled message after [`Next::Message`], as (type, payload).
    /// The caller must call [`FrameReader::clear_message`] after use.
    pub fn message(&self) -> Result<(u8, &[u8]), FrameError> {
        match self {
            FrameReader::Websocket(d) => ws::split_message(d.message()),
            FrameReader::Derp => Err(FrameError::Empty),
        }
    }

    pub fn clear_message(&mut self) {
        if let FrameReader::Websocket(d) = self {
            d.clear_message();
        }
    }

    /// The websocket state, for handing a connection to another shard.
    pub fn into_ws(self) -> Option<WsDecoder> {
        match self {
            FrameReader::Websocket(d) => Some(d),
            FrameReader::Derp => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::frame::Frame;

    #[test]
    fn derp_and_ws_agree() {
        for t in [Transport::Derp, Transport::Websocket] {
            let mut buf = Vec::new();
            match t {
                Transport::Derp => crate::proto::stream::encode(&mut buf, &Frame::Ping([4; 8])),
                Transport::Websocket => {
                    ws::encode_masked(&mut buf, &Frame::Ping([4; 8]), [1, 2, 3, 4])
                }
            }
            let mut r = FrameReader::server(t);
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
    fn empty_ws_message_is_an_error() {
        let mut buf = Vec::new();
        ws::write_header(&mut buf, 0, Some([0; 4]));
        let mut r = FrameReader::server(Transport::Websocket);
        assert_eq!(r.next(&mut buf), Err(ReadError::Frame(FrameError::Empty)));
    }
}
