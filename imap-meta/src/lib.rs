//! IMAP METADATA (RFC 5464) for publishing server entries such as the iroh
//! relay URL that Delta Chat clients read after login.
//!
//! Delta Chat core sends, once authenticated and only if the server
//! advertises the `METADATA` capability:
//!
//! ```text
//! A0005 GETMETADATA "" (/shared/comment /shared/admin /shared/vendor/deltachat/irohrelay
//!       /shared/vendor/deltachat/turn /shared/vendor/deltachat/maxsmtprecipients
//!       /shared/vendor/deltachat/appversions)
//! ```
//!
//! (one line; older releases send a prefix of this list) and uses the
//! `irohrelay` value as the base URL of its iroh relay.
//!
//! This library is sans-IO: it never touches sockets. A server feeds the
//! bytes it reads into a [`Decoder`], which reports complete [`Command`]s,
//! continuation requests for synchronizing literals and limit violations.
//! A [`Responder`] turns GETMETADATA/SETMETADATA into the exact reply bytes:
//!
//! * one `* METADATA "" (entry value ...)` line, values quoted when they are
//!   printable ASCII without `"` or `\`, `{n}` literals otherwise, and `NIL`
//!   for requested entries that do not exist (no line at all when nothing is
//!   left to report);
//! * `OK [METADATA LONGENTRIES n]` when `MAXSIZE` left values out; `DEPTH 1`
//!   and `DEPTH infinity` add entries below the requested ones;
//! * `BAD` for malformed commands and invalid entry names,
//!   `NO [METADATA TOOMANY]` for more entries than [`Limits::max_entries`],
//!   and for SETMETADATA (server entries are read-only)
//!   `NO [METADATA MAXSIZE n]`, `NO [METADATA NOPRIVATE]` or `NO [NOPERM]`.
//!
//! # Embedding in an IMAP server
//!
//! Advertise `METADATA` in the capabilities you send after login (Delta Chat
//! ignores pre-login capabilities and `METADATA-SERVER`). Then run every
//! connection's input through a [`Decoder`] and let the [`Responder`] answer
//! the METADATA commands; your server keeps handling everything else:
//!
//! ```
//! use imap_meta::{Decoder, Event, Limits, Responder, ServerEntries, SessionState};
//!
//! let entries = ServerEntries::new("http://mail.example.org:3340")?
//!     .with_comment("Example server")?;
//! let responder = Responder::new(entries, Limits::default());
//! let mut decoder = Decoder::new(Limits::default());
//! // Set by your LOGIN/AUTHENTICATE handling.
//! let state = SessionState::Authenticated;
//!
//! // Bytes as read from the client socket.
//! decoder.push(b"A0005 GETMETADATA \"\" (/shared/comment /shared/vendor/deltachat/irohrelay /shared/vendor/deltachat/turn)\r\n");
//!
//! let mut to_client = Vec::new();
//! loop {
//!     match decoder.next_event() {
//!         // Read more from the socket, push it, and call next_event again.
//!         Ok(Event::NeedMore(_)) => break,
//!         // The client waits for this before sending a {n} literal.
//!         Ok(Event::Continuation { .. }) => to_client.extend_from_slice(b"+ Ready\r\n"),
//!         Ok(Event::Command(command)) => match responder.respond(&command, state) {
//!             Some(reply) => to_client.extend(reply),
//!             None => { /* LOGIN, SELECT, ...: handled by your server */ }
//!         },
//!         Ok(Event::Invalid(error)) => to_client.extend(Responder::reject(&error)),
//!         Err(limit) => {
//!             to_client.extend(Responder::limit_exceeded(limit.tag.as_deref(), &limit.error));
//!             break; // and close the connection
//!         }
//!     }
//! }
//! assert_eq!(
//!     to_client,
//!     b"* METADATA \"\" (/shared/comment \"Example server\" \
//!       /shared/vendor/deltachat/irohrelay \"http://mail.example.org:3340\" \
//!       /shared/vendor/deltachat/turn NIL)\r\n\
//!       A0005 OK GETMETADATA completed\r\n"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Proxies that must not buffer whole commands (large APPEND literals) use
//! the [`Framer`] directly to find command boundaries while streaming, and
//! [`CapabilityEditor`] to add `METADATA` to an upstream server's
//! capability lists.
//!
//! The `imap-meta` binary (feature `cli`, on by default) builds on this
//! library: `imap-meta serve` is a small standalone responder for
//! development and tests, `imap-meta proxy` adds METADATA in front of an
//! existing IMAP server.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod capability;
mod command;
mod decoder;
mod entries;
mod entry;
mod error;
mod frame;
mod lexer;
mod limits;
mod parse;
mod respond;
pub mod wire;

pub use capability::{capabilities_in, CapabilityEditor};
pub use command::{Command, CommandKind, Depth, GetMetadata, IdParams, SetMetadata};
pub use decoder::{Decoder, Event, LimitError, Needed};
pub use entries::{
    ConfigError, ServerEntries, ADMIN, APP_VERSIONS, COMMENT, IROH_RELAY, MAX_SMTP_RECIPIENTS, TURN,
};
pub use entry::{EntryName, EntryNameError, MAX_ENTRY_NAME};
pub use error::{CommandError, ErrorKind};
pub use frame::{Boundary, FrameError, Framer, LiteralHeader};
pub use limits::Limits;
pub use parse::parse_command;
pub use respond::{Responder, SessionState};
