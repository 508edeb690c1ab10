//! Parsed IMAP commands.

use crate::entry::EntryName;

/// One complete client command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The client's tag, echoed in the tagged response.
    pub tag: Vec<u8>,
    /// What the command asks for.
    pub kind: CommandKind,
}

/// Field/value pairs of an ID command; a `None` value was `NIL`.
pub type IdParams = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// The commands this crate understands. Everything else is [`CommandKind::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandKind {
    /// `CAPABILITY`
    Capability,
    /// `NOOP`
    Noop,
    /// `LOGOUT`
    Logout,
    /// `STARTTLS`
    StartTls,
    /// `ID (...)` or `ID NIL` (RFC 2971). `None` for `NIL`.
    Id(Option<IdParams>),
    /// `LOGIN user password`
    Login {
        /// User name as sent.
        user: Vec<u8>,
        /// Password as sent.
        password: Vec<u8>,
    },
    /// `AUTHENTICATE mechanism [initial-response]`
    Authenticate {
        /// Mechanism name, upper-cased.
        mechanism: String,
        /// SASL-IR initial response, still base64-encoded; `=` stands for an
        /// empty response and is passed through as is.
        initial_response: Option<Vec<u8>>,
    },
    /// `GETMETADATA`
    GetMetadata(GetMetadata),
    /// `SETMETADATA`
    SetMetadata(SetMetadata),
    /// Any other command; its arguments are not parsed.
    Other {
        /// Command name, upper-cased.
        name: String,
    },
}

/// A parsed `GETMETADATA` (RFC 5464 section 4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetMetadata {
    /// Mailbox name; empty means server entries.
    pub mailbox: Vec<u8>,
    /// `MAXSIZE n`: leave out values longer than `n` octets.
    pub max_size: Option<u32>,
    /// `DEPTH`: also return entries below the requested ones.
    pub depth: Depth,
    /// Requested entries in request order.
    pub entries: Vec<EntryName>,
}

/// The `DEPTH` option of GETMETADATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Depth {
    /// Only the named entries (the default).
    #[default]
    Zero,
    /// The named entries and their direct children.
    One,
    /// The named entries and everything below them.
    Infinity,
}

/// A parsed `SETMETADATA` (RFC 5464 section 4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetMetadata {
    /// Mailbox name; empty means server entries.
    pub mailbox: Vec<u8>,
    /// Entries with their new values; `None` (`NIL`) deletes the entry.
    pub entries: Vec<(EntryName, Option<Vec<u8>>)>,
}

impl GetMetadata {
    /// `true` when the request is for server entries (mailbox `""`).
    pub fn is_server(&self) -> bool {
        self.mailbox.is_empty()
    }
}

impl SetMetadata {
    /// `true` when the request is for server entries (mailbox `""`).
    pub fn is_server(&self) -> bool {
        self.mailbox.is_empty()
    }
}
