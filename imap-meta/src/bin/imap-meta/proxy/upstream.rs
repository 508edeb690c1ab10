//! Upstream-to-client direction: passes responses through, editing
//! capability lists and watching for successful authentication.

use std::io;
use std::sync::Arc;

use imap_meta::{Boundary, Framer, Limits};
use tokio::io::{AsyncReadExt, ReadHalf};

use super::shared::Shared;
use crate::net::{send, BoxStream};

/// Response lines longer than this are streamed without inspection
/// (capability lists and status lines are far shorter).
const MAX_INSPECTED_LINE: usize = 64 * 1024;

pub async fn run(mut reader: ReadHalf<BoxStream>, shared: Arc<Shared>) -> io::Result<()> {
    // The upstream is trusted; its literals (FETCH bodies) may be large.
    let mut framer = Framer::new(&Limits {
        max_line: usize::MAX,
        max_literal: u64::MAX,
        max_command: u64::MAX,
        ..Limits::DEFAULT
    });
    let mut segment = Vec::new();
    let mut first = true;
    let mut streaming = false;
    let mut held = None;
    let mut buf = vec![0; 32 * 1024];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        let mut input = &buf[..n];
        let mut out = Vec::with_capacity(n);
        while !input.is_empty() {
            let in_literal = framer.in_literal();
            let (k, boundary) = framer
                .step(input)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let chunk = &input[..k];
            input = &input[k..];
            if in_literal || streaming {
                out.extend_from_slice(chunk);
            } else {
                segment.extend_from_slice(chunk);
                if boundary == Boundary::None && segment.len() > MAX_INSPECTED_LINE {
                    out.append(&mut segment);
                    streaming = true;
                }
            }
            if let Boundary::LineEnd(literal) = boundary {
                if !streaming {
                    let line = std::mem::take(&mut segment);
                    if first && literal.is_none() {
                        out.extend(shared.inspect_response(line));
                    } else {
                        out.extend(line);
                    }
                }
                streaming = false;
                first = literal.is_none();
            }
        }
        if !out.is_empty() {
            // Keep the client writer until the response is complete.
            let guard = match &mut held {
                Some(guard) => guard,
                None => held.insert(shared.writer.clone().lock_owned().await),
            };
            let writer = guard.as_mut().ok_or(io::ErrorKind::NotConnected)?;
            send(writer, &out, shared.idle_timeout).await?;
        }
        if framer.at_command_start() {
            held = None;
        }
    }
}
