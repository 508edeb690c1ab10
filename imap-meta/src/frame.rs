//! Splits an IMAP byte stream into line segments and literals.
//!
//! IMAP commands and responses are lines, except that a line ending in
//! `{n}` / `{n+}` (or `~{n}` for literal8) is followed by exactly `n` raw bytes
//! and then the rest of the same command. Those raw bytes may contain anything,
//! including CRLF, so a reader must count them instead of looking for line
//! ends. The [`Framer`] does only that counting; it never copies or buffers
//! data, so a proxy can stream large literals straight through.

use crate::limits::Limits;

/// What the bytes just consumed by [`Framer::step`] completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundary {
    /// Nothing yet: the bytes continue a line segment or a literal.
    None,
    /// A line segment ended (LF consumed). `Some` announces the literal that
    /// follows; `None` means the command (or response) is complete.
    LineEnd(Option<LiteralHeader>),
    /// The last byte of a literal; the command continues with a line segment.
    LiteralEnd,
}

/// A literal announced at the end of a line segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiteralHeader {
    /// Number of raw bytes that follow.
    pub size: u64,
    /// `true` for `{n}`: the sender waits for a `+` continuation before
    /// sending the bytes. `false` for the non-synchronizing `{n+}` (LITERAL+).
    pub synchronizing: bool,
}

/// A limit was exceeded. The stream cannot be resynchronised afterwards,
/// so the connection should be closed after telling the peer why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A line segment was longer than [`Limits::max_line`].
    #[error("line too long (limit {limit} bytes)")]
    LineTooLong {
        /// The configured limit.
        limit: usize,
    },
    /// A literal was larger than [`Limits::max_literal`].
    #[error("literal of {size} bytes is too large (limit {limit} bytes)")]
    LiteralTooLarge {
        /// Announced size (saturated at `u64::MAX`).
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The command as a whole was larger than [`Limits::max_command`].
    #[error("command too long (limit {limit} bytes)")]
    CommandTooLong {
        /// The configured limit.
        limit: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Line,
    Literal { remaining: u64 },
}

/// Longest suffix needed to recognise `{<20 digits>+}\r`.
const TAIL: usize = 32;

/// Incremental framer. Feed it input with [`Framer::step`] until it has
/// consumed everything; it remembers where it is between calls.
#[derive(Debug, Clone)]
pub struct Framer {
    max_line: usize,
    max_literal: u64,
    max_command: u64,
    state: State,
    seg_len: usize,
    cmd_len: u64,
    tail: [u8; TAIL],
    tail_len: usize,
}

impl Framer {
    /// A framer enforcing the line, literal and command limits of `limits`.
    pub fn new(limits: &Limits) -> Self {
        Framer {
            max_line: limits.max_line,
            max_literal: limits.max_literal,
            max_command: limits.max_command,
            state: State::Line,
            seg_len: 0,
            cmd_len: 0,
            tail: [0; TAIL],
            tail_len: 0,
        }
    }

    /// `true` while the next bytes belong to a literal.
    pub fn in_literal(&self) -> bool {
        matches!(self.state, State::Literal { .. })
    }

    /// Bytes still missing from the current literal (0 outside literals).
    pub fn literal_remaining(&self) -> u64 {
        match self.state {
            State::Literal { remaining } => remaining,
            State::Line => 0,
        }
    }

    /// `true` when no bytes of a command have been consumed since the last
    /// complete command.
    pub fn at_command_start(&self) -> bool {
        self.cmd_len == 0 && self.state == State::Line
    }

    /// Forgets any partial command, e.g. after STARTTLS.
    pub fn reset(&mut self) {
        self.state = State::Line;
        self.seg_len = 0;
        self.cmd_len = 0;
        self.tail_len = 0;
    }

    /// Consumes a prefix of `input` and reports what it completed. Returns
    /// `(consumed, boundary)`; `consumed` is 0 only for empty input. Call
    /// again with the rest of the input.
    pub fn step(&mut self, input: &[u8]) -> Result<(usize, Boundary), FrameError> {
        if input.is_empty() {
            return Ok((0, Boundary::None));
        }
        match self.state {
            State::Literal { remaining } => {
                let take = usize::try_from(remaining).map_or(input.len(), |r| r.min(input.len()));
                let left = remaining - take as u64;
                if left == 0 {
                    self.state = State::Line;
                    Ok((take, Boundary::LiteralEnd))
                } else {
                    self.state = State::Literal { remaining: left };
                    Ok((take, Boundary::None))
                }
            }
            State::Line => self.step_line(input),
        }
    }

    fn step_line(&mut self, input: &[u8]) -> Result<(usize, Boundary), FrameError> {
        let Some(lf) = input.iter().position(|&b| b == b'\n') else {
            self.account_line(input.len())?;
            self.remember(input);
            return Ok((input.len(), Boundary::None));
        };
        let consumed = lf + 1;
        self.account_line(consumed)?;
        self.remember(&input[..lf]);
        let header = literal_header(&self.tail[..self.tail_len]);
        self.seg_len = 0;
        self.tail_len = 0;
        match header {
            None => {
                self.cmd_len = 0;
                Ok((consumed, Boundary::LineEnd(None)))
            }
            Some(Err(())) => Err(FrameError::LiteralTooLarge {
                size: u64::MAX,
                limit: self.max_literal,
            }),
            Some(Ok(h)) => {
                if h.size > self.max_literal {
                    return Err(FrameError::LiteralTooLarge {
                        size: h.size,
                        limit: self.max_literal,
                    });
                }
                let total = self.cmd_len.saturating_add(h.size);
                if total > self.max_command {
                    return Err(FrameError::CommandTooLong {
                        limit: self.max_command,
                    });
                }
                self.cmd_len = total;
                if h.size > 0 {
                    self.state = State::Literal { remaining: h.size };
                }
                Ok((consumed, Boundary::LineEnd(Some(h))))
            }
        }
    }

    fn account_line(&mut self, n: usize) -> Result<(), FrameError> {
        self.seg_len = self.seg_len.saturating_add(n);
        if self.seg_len > self.max_line {
            return Err(FrameError::LineTooLong {
                limit: self.max_line,
            });
        }
        self.cmd_len = self.cmd_len.saturating_add(n as u64);
        if self.cmd_len > self.max_command {
            return Err(FrameError::CommandTooLong {
                limit: self.max_command,
            });
        }
        Ok(())
    }

    /// Keeps the last `TAIL` bytes of the current segment.
    fn remember(&mut self, bytes: &[u8]) {
        if bytes.len() >= TAIL {
            self.tail.copy_from_slice(&bytes[bytes.len() - TAIL..]);
            self.tail_len = TAIL;
            return;
        }
        let keep = (TAIL - bytes.len()).min(self.tail_len);
        self.tail
            .copy_within(self.tail_len - keep..self.tail_len, 0);
        self.tail[keep..keep + bytes.len()].copy_from_slice(bytes);
        self.tail_len = keep + bytes.len();
    }
}

/// Recognises `{digits}` or `{digits+}` at the end of a segment (before the
/// optional CR). `Some(Err(()))` means the number does not fit in a u64.
pub(crate) fn literal_header(segment: &[u8]) -> Option<Result<LiteralHeader, ()>> {
    let s = segment.strip_suffix(b"\r").unwrap_or(segment);
    let s = s.strip_suffix(b"}")?;
    let (s, synchronizing) = match s.strip_suffix(b"+") {
        Some(rest) => (rest, false),
        None => (s, true),
    };
    let open = s.iter().rposition(|b| !b.is_ascii_digit())?;
    if s[open] != b'{' {
        return None;
    }
    let digits = &s[open + 1..];
    if digits.is_empty() {
        return None;
    }
    let mut size: u64 = 0;
    for &d in digits {
        size = match size
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
        {
            Some(v) => v,
            None => return Some(Err(())),
        };
    }
    Some(Ok(LiteralHeader {
        size,
        synchronizing,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(framer: &mut Framer, input: &[u8]) -> Result<Vec<(usize, Boundary)>, FrameError> {
        let mut out = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            let (n, b) = framer.step(rest)?;
            out.push((n, b));
            rest = &rest[n..];
        }
        Ok(out)
    }

    #[test]
    fn plain_line() {
        let mut f = Framer::new(&Limits::DEFAULT);
        let steps = run(&mut f, b"a NOOP\r\n").unwrap();
        assert_eq!(steps, vec![(8, Boundary::LineEnd(None))]);
        assert!(f.at_command_start());
    }

    #[test]
    fn synchronizing_and_plus_literals() {
        let mut f = Framer::new(&Limits::DEFAULT);
        let steps = run(&mut f, b"a LOGIN {3}\r\nabc {2+}\r\nxy\r\n").unwrap();
        assert_eq!(
            steps,
            vec![
                (
                    13,
                    Boundary::LineEnd(Some(LiteralHeader {
                        size: 3,
                        synchronizing: true
                    }))
                ),
                (3, Boundary::LiteralEnd),
                (
                    7,
                    Boundary::LineEnd(Some(LiteralHeader {
                        size: 2,
                        synchronizing: false
                    }))
                ),
                (2, Boundary::LiteralEnd),
                (2, Boundary::LineEnd(None)),
            ]
        );
    }

    #[test]
    fn literal_bytes_are_not_lines() {
        let mut f = Framer::new(&Limits::DEFAULT);
        let steps = run(&mut f, b"a X {6}\r\n1 \r\n2\n\r\n").unwrap();
        assert_eq!(steps[1], (6, Boundary::LiteralEnd));
        assert_eq!(steps[2], (2, Boundary::LineEnd(None)));
    }

    #[test]
    fn byte_by_byte_matches_whole() {
        let input =
            b"t1 SETMETADATA \"\" (/shared/comment {5}\r\nhello /shared/admin ~{3+}\r\nxyz)\r\n";
        let mut whole = Framer::new(&Limits::DEFAULT);
        let mut ends = 0;
        for (_, b) in run(&mut whole, input).unwrap() {
            if b == Boundary::LineEnd(None) {
                ends += 1;
            }
        }
        assert_eq!(ends, 1);
        let mut f = Framer::new(&Limits::DEFAULT);
        let mut boundaries = Vec::new();
        for byte in input.iter() {
            let (n, b) = f.step(std::slice::from_ref(byte)).unwrap();
            assert_eq!(n, 1);
            if b != Boundary::None {
                boundaries.push(b);
            }
        }
        assert_eq!(boundaries.len(), 5);
        assert_eq!(boundaries.last(), Some(&Boundary::LineEnd(None)));
    }

    #[test]
    fn zero_length_literal() {
        let mut f = Framer::new(&Limits::DEFAULT);
        let steps = run(&mut f, b"a LOGIN {0}\r\n {0+}\r\n\r\n").unwrap();
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[2].1, Boundary::LineEnd(None));
    }

    #[test]
    fn not_a_literal() {
        for seg in [
            &b"a b {}\r"[..],
            b"a {x}",
            b"a 5}",
            b"}",
            b"{+}",
            b"a {1 2}",
        ] {
            assert_eq!(literal_header(seg), None, "{seg:?}");
        }
        assert_eq!(literal_header(b"{99999999999999999999999}"), Some(Err(())));
    }

    #[test]
    fn line_limit() {
        let limits = Limits {
            max_line: 10,
            ..Limits::DEFAULT
        };
        let mut f = Framer::new(&limits);
        assert_eq!(
            f.step(b"0123456789\n"),
            Err(FrameError::LineTooLong { limit: 10 })
        );
        let mut f = Framer::new(&limits);
        assert!(f.step(b"01234").is_ok());
        assert!(f.step(b"56789").is_ok());
        assert_eq!(f.step(b"a"), Err(FrameError::LineTooLong { limit: 10 }));
    }

    #[test]
    fn literal_limit() {
        let limits = Limits {
            max_literal: 10,
            ..Limits::DEFAULT
        };
        let mut f = Framer::new(&limits);
        assert_eq!(
            f.step(b"a APPEND x {11}\r\n"),
            Err(FrameError::LiteralTooLarge {
                size: 11,
                limit: 10
            })
        );
        let mut f = Framer::new(&limits);
        assert!(matches!(
            f.step(b"a APPEND x {184467440737095516160}\r\n"),
            Err(FrameError::LiteralTooLarge { .. })
        ));
    }

    #[test]
    fn command_limit_counts_literals() {
        let limits = Limits {
            max_command: 40,
            max_literal: 30,
            ..Limits::DEFAULT
        };
        let mut f = Framer::new(&limits);
        assert!(run(&mut f, b"a X {20}\r\n01234567890123456789 {1}\r\n").is_ok());
        let mut f = Framer::new(&limits);
        assert_eq!(
            run(&mut f, b"a X {20}\r\n01234567890123456789 {30}\r\n").unwrap_err(),
            FrameError::CommandTooLong { limit: 40 }
        );
    }
}
