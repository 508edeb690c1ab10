//! 0.35 relay frames as websocket messages: `[type u8][payload]`.

use super::frame::{Frame, FrameError};
use crate::ws::{apply_mask, write_header};

/// Splits a complete binary message into the relay frame type and payload.
pub fn split_message(msg: &[u8]) -> Result<(u8, &[u8]), FrameError> {
    msg.split_first()
        .map(|(t, p)| (*t, p))
        .ok_or(FrameError::Empty)
}

/// Appends a relay frame as one unmasked binary message (server side).
pub fn encode(out: &mut Vec<u8>, frame: &Frame<'_>) {
    write_header(out, 1 + frame.payload_len(), None);
    out.push(frame.frame_type() as u8);
    frame.write_payload(out);
}

/// Appends a relay frame as one masked binary message (client side).
pub fn encode_masked(out: &mut Vec<u8>, frame: &Frame<'_>, mask: [u8; 4]) {
    write_header(out, 1 + frame.payload_len(), Some(mask));
    let start = out.len();
    out.push(frame.frame_type() as u8);
    frame.write_payload(out);
    apply_mask(&mut out[start..], mask);
}
