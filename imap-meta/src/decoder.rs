//! Sans-IO command reader for servers: bytes in, commands and continuation
//! requests out.

use crate::command::Command;
use crate::error::CommandError;
use crate::frame::{Boundary, FrameError, Framer};
use crate::lexer::is_tag_char;
use crate::limits::Limits;
use crate::parse::parse_command;

/// How much more input the decoder needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needed {
    /// The rest of a line (length unknown).
    Line,
    /// At least this many bytes of a literal.
    Bytes(u64),
}

/// What [`Decoder::next_event`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Read more input and [`push`](Decoder::push) it.
    NeedMore(Needed),
    /// The client announced a synchronizing literal of `size` bytes and waits
    /// for a continuation request: send `+ ...\r\n`, then read on.
    Continuation {
        /// Announced literal size.
        size: u64,
    },
    /// A complete, valid command.
    Command(Command),
    /// A complete command that is not valid; answer with
    /// [`Responder::reject`](crate::Responder::reject) and continue.
    Invalid(CommandError),
}

/// A limit was exceeded: answer with
/// [`Responder::limit_exceeded`](crate::Responder::limit_exceeded) and close
/// the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct LimitError {
    /// Tag of the offending command, if it was readable.
    pub tag: Option<Vec<u8>>,
    /// The limit that was exceeded.
    pub error: FrameError,
}

/// Buffers one command at a time and parses it once complete.
///
/// ```
/// use imap_meta::{Decoder, Event, Limits, Needed};
/// let mut d = Decoder::new(Limits::default());
/// d.push(b"a1 LOGIN {4}\r\n");
/// assert_eq!(d.next_event()?, Event::Continuation { size: 4 });
/// assert_eq!(d.next_event()?, Event::NeedMore(Needed::Bytes(4)));
/// d.push(b"user pass\r\n");
/// assert!(matches!(d.next_event()?, Event::Command(_)));
/// # Ok::<(), imap_meta::LimitError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Decoder {
    limits: Limits,
    framer: Framer,
    input: Vec<u8>,
    command: Vec<u8>,
}

impl Decoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Decoder {
            framer: Framer::new(&limits),
            limits,
            input: Vec::new(),
            command: Vec::new(),
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// Drops all buffered input and any partial command. Call this after
    /// STARTTLS so that plaintext sent before the handshake cannot be
    /// injected into the encrypted session.
    pub fn clear(&mut self) {
        self.input.clear();
        self.command.clear();
        self.framer.reset();
    }

    /// `true` when there is unprocessed input.
    pub fn has_input(&self) -> bool {
        !self.input.is_empty()
    }

    /// Advances as far as the buffered input allows.
    pub fn next_event(&mut self) -> Result<Event, LimitError> {
        let mut pos = 0;
        let result = loop {
            let rest = &self.input[pos..];
            if rest.is_empty() {
                break Ok(Event::NeedMore(if self.framer.in_literal() {
                    Needed::Bytes(self.framer.literal_remaining())
                } else {
                    Needed::Line
                }));
            }
            let (n, boundary) = match self.framer.step(rest) {
                Ok(step) => step,
                Err(error) => {
                    let tag = tag_of(&self.command, rest);
                    self.command.clear();
                    break Err(LimitError { tag, error });
                }
            };
            self.command.extend_from_slice(&rest[..n]);
            pos += n;
            match boundary {
                Boundary::None | Boundary::LiteralEnd => {}
                Boundary::LineEnd(Some(h)) if h.synchronizing => {
                    break Ok(Event::Continuation { size: h.size })
                }
                Boundary::LineEnd(Some(_)) => {}
                Boundary::LineEnd(None) => {
                    let bytes = std::mem::take(&mut self.command);
                    break Ok(match parse_command(&bytes, &self.limits) {
                        Ok(c) => Event::Command(c),
                        Err(e) => Event::Invalid(e),
                    });
                }
            }
        };
        self.input.drain(..pos);
        result
    }

    /// Takes the next raw line (without its line ending), for replies that
    /// are not commands, such as the client's answer to an AUTHENTICATE
    /// continuation. `Ok(None)` means the line is not complete yet.
    pub fn next_line(&mut self) -> Result<Option<Vec<u8>>, LimitError> {
        let limit = self.limits.max_line;
        match self.input.iter().position(|&b| b == b'\n') {
            Some(lf) if lf < limit => {
                let mut line: Vec<u8> = self.input.drain(..=lf).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Ok(Some(line))
            }
            None if self.input.len() < limit => Ok(None),
            _ => Err(LimitError {
                tag: None,
                error: FrameError::LineTooLong { limit },
            }),
        }
    }
}

/// The tag at the start of the command, if complete and followed by a space.
fn tag_of(command: &[u8], rest: &[u8]) -> Option<Vec<u8>> {
    let start = if command.is_empty() { rest } else { command };
    let end = start.iter().position(|&b| !is_tag_char(b))?;
    (end > 0 && start[end] == b' ').then(|| start[..end].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::CommandKind;

    #[test]
    fn pipelined_commands() {
        let mut d = Decoder::new(Limits::DEFAULT);
        d.push(b"a NOOP\r\nb CAPABILITY\r\nc LOG");
        assert!(matches!(
            d.next_event().unwrap(),
            Event::Command(Command {
                kind: CommandKind::Noop,
                ..
            })
        ));
        assert!(matches!(
            d.next_event().unwrap(),
            Event::Command(Command {
                kind: CommandKind::Capability,
                ..
            })
        ));
        assert_eq!(d.next_event().unwrap(), Event::NeedMore(Needed::Line));
        d.push(b"OUT\r\n");
        assert!(matches!(
            d.next_event().unwrap(),
            Event::Command(Command {
                kind: CommandKind::Logout,
                ..
            })
        ));
    }

    #[test]
    fn non_synchronizing_literal_needs_no_continuation() {
        let mut d = Decoder::new(Limits::DEFAULT);
        d.push(b"a LOGIN {4+}\r\nuser {4+}\r\npass\r\n");
        match d.next_event().unwrap() {
            Event::Command(Command {
                kind: CommandKind::Login { user, password },
                ..
            }) => {
                assert_eq!(user, b"user");
                assert_eq!(password, b"pass");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn invalid_command_keeps_session() {
        let mut d = Decoder::new(Limits::DEFAULT);
        d.push(b"a GETMETADATA\r\nb NOOP\r\n");
        assert!(
            matches!(d.next_event().unwrap(), Event::Invalid(CommandError { tag: Some(t), .. }) if t == b"a")
        );
        assert!(matches!(d.next_event().unwrap(), Event::Command(_)));
    }

    #[test]
    fn limit_errors_carry_the_tag() {
        let limits = Limits {
            max_literal: 10,
            max_line: 20,
            ..Limits::DEFAULT
        };
        let mut d = Decoder::new(limits.clone());
        d.push(b"a7 LOGIN {11}\r\n");
        let err = d.next_event().unwrap_err();
        assert_eq!(err.tag.as_deref(), Some(&b"a7"[..]));
        assert!(matches!(
            err.error,
            FrameError::LiteralTooLarge { size: 11, .. }
        ));

        let mut d = Decoder::new(limits);
        d.push(b"t NOOP 0123456789012345678901234567890\r\n");
        let err = d.next_event().unwrap_err();
        assert_eq!(err.tag.as_deref(), Some(&b"t"[..]));
        assert!(matches!(err.error, FrameError::LineTooLong { .. }));
    }

    #[test]
    fn raw_lines() {
        let mut d = Decoder::new(Limits::DEFAULT);
        d.push(b"AGFsaWNlAHNlY3JldA==\r\na NOOP\r\n");
        assert_eq!(d.next_line().unwrap().unwrap(), b"AGFsaWNlAHNlY3JldA==");
        assert!(matches!(d.next_event().unwrap(), Event::Command(_)));
        assert_eq!(d.next_line().unwrap(), None);
    }

    #[test]
    fn clear_drops_pending_input() {
        let mut d = Decoder::new(Limits::DEFAULT);
        d.push(b"a STARTTLS\r\nb LOGIN x y\r\n");
        assert!(matches!(
            d.next_event().unwrap(),
            Event::Command(Command {
                kind: CommandKind::StartTls,
                ..
            })
        ));
        d.clear();
        assert!(!d.has_input());
        assert_eq!(d.next_event().unwrap(), Event::NeedMore(Needed::Line));
    }
}
