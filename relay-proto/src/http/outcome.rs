//! What the HTTP surface decides for one request head: wait, reply, or
//! upgrade.

use std::time::SystemTime;

use super::request::Head;
use super::response::Response;
use crate::Dialect;

/// What the connection does after the bytes at the start of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The head is not complete yet.
    Partial,
    /// Write `reply`, drop `consumed` bytes, then read the next request
    /// (or close, if `close`).
    Reply {
        /// The whole response, head and body.
        reply: Vec<u8>,
        /// Bytes of the buffer this took: the head, or the whole buffer when
        /// the head is refused (400, 431).
        consumed: usize,
        /// Whether to close after writing `reply`.
        close: bool,
    },
    /// Write `reply` (a 101); bytes after `consumed` begin the frame stream.
    Upgrade {
        /// The 101 response.
        reply: Vec<u8>,
        /// Length of the request head.
        consumed: usize,
        /// What the connection speaks from now on.
        dialect: Dialect,
        /// The access token presented (`Authorization: Bearer`, `?token=`).
        token: Option<String>,
    },
}

impl Outcome {
    pub(super) fn not_found(head: &Head, now: SystemTime) -> Outcome {
        Outcome::Reply {
            reply: Response::new(404, "Not Found")
                .body("Not Found")
                .encode(now),
            consumed: head.len,
            close: !head.keep_alive(),
        }
    }
}
