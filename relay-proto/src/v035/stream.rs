//! The 5-byte-header framing of the `iroh derp http` upgrade:
//! type u8, payload length u32 big-endian (header excluded), payload.

use super::frame::{Frame, FrameError};
use super::HEADER_LEN;
use crate::MAX_FRAME_SIZE;

/// A complete frame located in a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFrame {
    /// The type byte.
    pub ty: u8,
    /// Payload start offset (always `HEADER_LEN`).
    pub start: usize,
    /// Offset one past the payload: the bytes this frame consumes.
    pub end: usize,
}

/// Reads a header; errors as soon as a length above 1 MiB is seen.
pub fn parse_header(buf: &[u8]) -> Result<Option<(u8, usize)>, FrameError> {
    let Some(h) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
    if len > MAX_FRAME_SIZE {
        return Err(FrameError::TooLarge(len));
    }
    Ok(Some((h[0], len)))
}

/// Locates the first complete frame in `buf`. `Ok(None)` means more bytes
/// are needed; the caller may use [`needed`] to size its buffer.
pub fn next_frame(buf: &[u8]) -> Result<Option<RawFrame>, FrameError> {
    Ok(match parse_header(buf)? {
        Some((ty, len)) if buf.len() >= HEADER_LEN + len => Some(RawFrame {
            ty,
            start: HEADER_LEN,
            end: HEADER_LEN + len,
        }),
        _ => None,
    })
}

/// Total bytes the frame starting at `buf[0]` occupies, once its header is
/// readable (used to grow a read buffer for large frames).
pub fn needed(buf: &[u8]) -> Result<usize, FrameError> {
    Ok(match parse_header(buf)? {
        Some((_, len)) => HEADER_LEN + len,
        None => HEADER_LEN,
    })
}

/// Appends a frame header.
pub fn write_header(out: &mut Vec<u8>, ty: u8, payload_len: usize) {
    out.push(ty);
    out.extend_from_slice(&(payload_len as u32).to_be_bytes());
}

/// Appends a whole encoded frame.
pub fn encode(out: &mut Vec<u8>, frame: &Frame<'_>) {
    write_header(out, frame.frame_type() as u8, frame.payload_len());
    frame.write_payload(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::decode;

    #[test]
    fn ping_and_health_bytes() {
        let mut out = Vec::new();
        encode(&mut out, &Frame::Ping([0x2a; 8]));
        assert_eq!(
            out,
            [0x0c, 0, 0, 0, 8, 0x2a, 0x2a, 0x2a, 0x2a, 0x2a, 0x2a, 0x2a, 0x2a]
        );
        out.clear();
        encode(&mut out, &Frame::Health("not authenticated"));
        assert_eq!(&out[..5], &[0x0e, 0, 0, 0, 0x11]);
        assert_eq!(&out[5..], b"not authenticated");
    }

    #[test]
    fn partial_and_back_to_back() {
        let mut buf = Vec::new();
        encode(&mut buf, &Frame::Ping([1; 8]));
        encode(&mut buf, &Frame::KeepAlive);
        for cut in 0..13 {
            assert_eq!(next_frame(&buf[..cut]), Ok(None));
        }
        let f = next_frame(&buf).unwrap().unwrap();
        assert_eq!(decode(f.ty, &buf[f.start..f.end]), Ok(Frame::Ping([1; 8])));
        let rest = &buf[f.end..];
        let g = next_frame(rest).unwrap().unwrap();
        assert_eq!((g.ty, g.end), (6, 5));
    }

    #[test]
    fn oversized_is_rejected_at_the_header() {
        let hdr = [4u8, 0, 0x10, 0, 1];
        assert_eq!(
            next_frame(&hdr),
            Err(FrameError::TooLarge(MAX_FRAME_SIZE + 1))
        );
        let ok = [4u8, 0, 0x10, 0, 0];
        assert_eq!(next_frame(&ok), Ok(None));
        assert_eq!(needed(&ok), Ok(5 + MAX_FRAME_SIZE));
    }
}
