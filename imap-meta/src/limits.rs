//! Bounds on what a client may send, so one session cannot exhaust memory.

/// Input limits applied by [`Framer`](crate::Framer), [`Decoder`](crate::Decoder)
/// and the command parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest line segment in bytes (the text between two literals or line
    /// ends), line ending included.
    pub max_line: usize,
    /// Largest literal (`{n}` / `{n+}`) in bytes.
    pub max_literal: u64,
    /// Largest complete command in bytes: all line segments plus all literals.
    pub max_command: u64,
    /// Most entries one GETMETADATA or SETMETADATA may name. More gets
    /// `NO [METADATA TOOMANY]`.
    pub max_entries: usize,
    /// Largest value SETMETADATA may carry. Larger gets `NO [METADATA MAXSIZE n]`.
    pub max_value: u64,
}

impl Limits {
    /// Limits suited to a metadata responder or a small IMAP server:
    /// 8 KiB lines, 64 KiB literals, 256 KiB commands, 64 entries, 4 KiB values.
    pub const DEFAULT: Limits = Limits {
        max_line: 8 * 1024,
        max_literal: 64 * 1024,
        max_command: 256 * 1024,
        max_entries: 64,
        max_value: 4 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
