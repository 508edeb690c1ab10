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
        reply: Vec<u8>,
        consumed: usize,
        close: bool,
    },
    /// Write `reply` (a 101); bytes after `consumed` begin the frame stream.
    Upgrade {
        reply: Vec<u8>,
        consumed: usize,
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
