//! Turns parsed METADATA commands into the exact response bytes.

use std::collections::BTreeSet;

use crate::command::{Command, CommandKind, Depth, GetMetadata, SetMetadata};
use crate::entries::ServerEntries;
use crate::entry::EntryName;
use crate::error::{CommandError, ErrorKind};
use crate::frame::FrameError;
use crate::limits::Limits;
use crate::wire::{push_astring, push_quoted, push_value, status_line};

/// Where the session is in the IMAP state machine, as far as METADATA cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Before LOGIN/AUTHENTICATE succeeded: METADATA commands are refused.
    NotAuthenticated,
    /// Authenticated or Selected: METADATA commands are answered.
    Authenticated,
}

/// Answers GETMETADATA and SETMETADATA from a fixed set of [`ServerEntries`].
///
/// Server entries (mailbox `""`) are read-only. The responder keeps no
/// mailbox entries: GETMETADATA on a mailbox answers `NIL` for every
/// requested entry, so an embedding server that has mailboxes should check
/// that the mailbox exists first (and answer `NO [NONEXISTENT]` otherwise).
#[derive(Debug, Clone)]
pub struct Responder {
    entries: ServerEntries,
    limits: Limits,
}

impl Responder {
    /// A responder for `entries`, enforcing `limits` on SETMETADATA values.
    pub fn new(entries: ServerEntries, limits: Limits) -> Self {
        Responder { entries, limits }
    }

    /// The published entries.
    pub fn entries(&self) -> &ServerEntries {
        &self.entries
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The complete reply to a METADATA command, or `None` when `command`
    /// is not GETMETADATA/SETMETADATA and the caller must handle it.
    pub fn respond(&self, command: &Command, state: SessionState) -> Option<Vec<u8>> {
        let name = match &command.kind {
            CommandKind::GetMetadata(_) => "GETMETADATA",
            CommandKind::SetMetadata(_) => "SETMETADATA",
            _ => return None,
        };
        if state == SessionState::NotAuthenticated {
            return Some(status_line(
                Some(&command.tag),
                "BAD",
                None,
                &format!("{name} is not allowed before authentication"),
            ));
        }
        match &command.kind {
            CommandKind::GetMetadata(req) => Some(self.get_metadata(&command.tag, req)),
            CommandKind::SetMetadata(req) => Some(self.set_metadata(&command.tag, req)),
            _ => None,
        }
    }

    /// Reply to GETMETADATA: at most one `* METADATA` line (none when every
    /// value was left out), then the tagged `OK`, with
    /// `[METADATA LONGENTRIES n]` when MAXSIZE left values out.
    pub fn get_metadata(&self, tag: &[u8], req: &GetMetadata) -> Vec<u8> {
        let levels = match req.depth {
            Depth::Zero => Some(0),
            Depth::One => Some(1),
            Depth::Infinity => None,
        };
        let max_size = req.max_size.map(|m| m as usize);
        let mut candidates: Vec<(&EntryName, Option<&str>)> = Vec::new();
        for requested in &req.entries {
            if !req.is_server() {
                candidates.push((requested, None));
                continue;
            }
            candidates.push((requested, self.entries.get_entry(requested)));
            if levels != Some(0) {
                candidates.extend(
                    self.entries
                        .iter()
                        .filter(|(name, _)| requested.is_ancestor_of(name, levels))
                        .map(|(name, value)| (name, Some(value))),
                );
            }
        }
        let mut seen: BTreeSet<&EntryName> = BTreeSet::new();
        let mut items = Vec::new();
        let mut longest: Option<usize> = None;
        for (name, value) in candidates {
            if !seen.insert(name) {
                continue;
            }
            match (value, max_size) {
                (Some(v), Some(max)) if v.len() > max => longest = longest.max(Some(v.len())),
                _ => items.push((name, value)),
            }
        }

        let mut out = Vec::new();
        if !items.is_empty() {
            out.extend_from_slice(b"* METADATA ");
            push_quoted(&mut out, &req.mailbox);
            out.extend_from_slice(b" (");
            for (i, (name, value)) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                push_astring(&mut out, name.as_str().as_bytes());
                out.push(b' ');
                match value {
                    Some(v) => push_value(&mut out, v.as_bytes()),
                    None => out.extend_from_slice(b"NIL"),
                }
            }
            out.extend_from_slice(b")\r\n");
        }
        let code = longest.map(|n| format!("METADATA LONGENTRIES {n}"));
        out.extend(status_line(
            Some(tag),
            "OK",
            code.as_deref(),
            "GETMETADATA completed",
        ));
        out
    }

    /// Reply to SETMETADATA. Nothing is ever stored: the answer is `NO` with
    /// `[METADATA MAXSIZE n]` for a value over the limit, `[METADATA
    /// NOPRIVATE]` for private entries, and `[NOPERM]` for shared entries,
    /// which are read-only. As RFC 5464 requires, a refused command changes
    /// nothing.
    pub fn set_metadata(&self, tag: &[u8], req: &SetMetadata) -> Vec<u8> {
        let too_big = req.entries.iter().any(|(_, v)| {
            v.as_ref()
                .is_some_and(|v| v.len() as u64 > self.limits.max_value)
        });
        if too_big {
            return status_line(
                Some(tag),
                "NO",
                Some(&format!("METADATA MAXSIZE {}", self.limits.max_value)),
                "Value too long",
            );
        }
        if req.entries.iter().any(|(name, _)| name.is_private()) {
            return status_line(
                Some(tag),
                "NO",
                Some("METADATA NOPRIVATE"),
                "Private entries are not supported",
            );
        }
        let text = if req.is_server() {
            "Server entries are read-only"
        } else {
            "Mailbox entries are read-only"
        };
        status_line(Some(tag), "NO", Some("NOPERM"), text)
    }

    /// Reply to a command that failed to parse: `NO [METADATA TOOMANY]` for
    /// too many entries, `BAD` otherwise. The session may continue.
    pub fn reject(error: &CommandError) -> Vec<u8> {
        let tag = error.tag.as_deref();
        match error.kind {
            ErrorKind::TooManyEntries { .. } => {
                status_line(tag, "NO", Some("METADATA TOOMANY"), &error.kind.to_string())
            }
            _ => status_line(tag, "BAD", None, &error.kind.to_string()),
        }
    }

    /// What to send before closing a connection that exceeded a limit: a
    /// tagged `BAD` when the tag is known, then `* BYE`.
    pub fn limit_exceeded(tag: Option<&[u8]>, error: &FrameError) -> Vec<u8> {
        let mut out = Vec::new();
        let code = match error {
            FrameError::LineTooLong { .. } => None,
            FrameError::LiteralTooLarge { .. } | FrameError::CommandTooLong { .. } => {
                Some("TOOBIG")
            }
        };
        if tag.is_some() {
            out.extend(status_line(tag, "BAD", code, &error.to_string()));
        }
        out.extend(status_line(
            None,
            "BYE",
            None,
            &format!("{error}, closing connection"),
        ));
        out
    }
}

#[cfg(test)]
#[path = "respond_tests.rs"]
mod tests;
