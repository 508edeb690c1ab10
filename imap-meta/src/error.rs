//! Errors for commands that were framed completely but are not valid.

use crate::entry::EntryNameError;

/// A complete command that could not be parsed or is not acceptable.
///
/// [`Responder::reject`](crate::Responder::reject) turns it into the reply
/// (`BAD`, or `NO [METADATA TOOMANY]`); the connection can continue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct CommandError {
    /// The command's tag, if it could be read.
    pub tag: Option<Vec<u8>>,
    /// What is wrong.
    pub kind: ErrorKind,
}

/// What is wrong with a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The input does not end with a line end.
    #[error("incomplete command")]
    Incomplete,
    /// No tag at the start of the line.
    #[error("missing or invalid tag")]
    MissingTag,
    /// Tag without a command name.
    #[error("missing command")]
    MissingCommand,
    /// The line ended where an argument was expected.
    #[error("missing argument: {0}")]
    MissingArgument(&'static str),
    /// Malformed syntax.
    #[error("syntax error: {0}")]
    Syntax(&'static str),
    /// A backslash in a quoted string not followed by `"` or `\`.
    #[error("invalid escape in quoted string")]
    BadEscape,
    /// A number that does not fit in 32 bits.
    #[error("number out of range")]
    InvalidNumber,
    /// Bytes after the last argument.
    #[error("unexpected data after the last argument")]
    TrailingData,
    /// An entry name violates RFC 5464 naming rules.
    #[error("invalid entry name: {0}")]
    InvalidEntryName(EntryNameError),
    /// A GETMETADATA option other than MAXSIZE or DEPTH.
    #[error("unknown GETMETADATA option")]
    UnknownOption,
    /// The same GETMETADATA option twice.
    #[error("duplicate GETMETADATA option")]
    DuplicateOption,
    /// More entries than [`Limits::max_entries`](crate::Limits::max_entries).
    #[error("too many entries (limit {limit})")]
    TooManyEntries {
        /// The configured limit.
        limit: usize,
    },
}
