//! Parser for complete commands (as produced by the [`Decoder`](crate::Decoder)).

use crate::command::{Command, CommandKind, Depth, GetMetadata, IdParams, SetMetadata};
use crate::entry::EntryName;
use crate::error::{CommandError, ErrorKind};
use crate::lexer::Cursor;
use crate::limits::Limits;

/// RFC 2971 allows at most 30 field/value pairs in ID.
const MAX_ID_PAIRS: usize = 30;

type Result<T> = std::result::Result<T, ErrorKind>;

/// Parses one complete command: the line, any literals inline, and the final
/// line ending (CRLF or a bare LF).
///
/// Never panics; any input yields a command or an error.
pub fn parse_command(input: &[u8], limits: &Limits) -> std::result::Result<Command, CommandError> {
    let mut cursor = Cursor::new(strip_line_end(input).unwrap_or(input));
    let tag = cursor
        .tag()
        .map_err(|kind| CommandError { tag: None, kind })?
        .to_vec();
    let fail = |kind| CommandError {
        tag: Some(tag.clone()),
        kind,
    };
    if strip_line_end(input).is_none() {
        return Err(fail(ErrorKind::Incomplete));
    }
    if cursor.peek() != Some(b' ') {
        return Err(fail(ErrorKind::MissingCommand));
    }
    cursor.sp().map_err(fail)?;
    let name = cursor
        .keyword("expected a command name")
        .map_err(|_| fail(ErrorKind::MissingCommand))?;
    let kind = parse_arguments(&name, &mut cursor, limits).map_err(fail)?;
    Ok(Command { tag, kind })
}

fn strip_line_end(input: &[u8]) -> Option<&[u8]> {
    let line = input.strip_suffix(b"\n")?;
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

fn parse_arguments(name: &str, c: &mut Cursor<'_>, limits: &Limits) -> Result<CommandKind> {
    let kind = match name {
        "CAPABILITY" => CommandKind::Capability,
        "NOOP" => CommandKind::Noop,
        "LOGOUT" => CommandKind::Logout,
        "STARTTLS" => CommandKind::StartTls,
        "ID" => CommandKind::Id(id_params(c)?),
        "LOGIN" => {
            c.sp()?;
            let user = c.astring("expected a user name")?.into_owned();
            c.sp()?;
            let password = c.astring("expected a password")?.into_owned();
            CommandKind::Login { user, password }
        }
        "AUTHENTICATE" => {
            c.sp()?;
            let mechanism = c.keyword("expected a SASL mechanism")?;
            let initial_response = if c.is_empty() {
                None
            } else {
                c.sp()?;
                Some(c.base64()?.to_vec())
            };
            CommandKind::Authenticate {
                mechanism,
                initial_response,
            }
        }
        "GETMETADATA" => CommandKind::GetMetadata(get_metadata(c, limits)?),
        "SETMETADATA" => CommandKind::SetMetadata(set_metadata(c, limits)?),
        other => {
            return Ok(CommandKind::Other {
                name: other.to_owned(),
            })
        }
    };
    c.end()?;
    Ok(kind)
}

fn id_params(c: &mut Cursor<'_>) -> Result<Option<IdParams>> {
    c.sp()?;
    if c.nil() {
        return Ok(None);
    }
    c.expect(b'(', "expected ( or NIL")?;
    let mut pairs = Vec::new();
    if c.peek() == Some(b')') {
        c.expect(b')', "expected )")?;
        return Ok(Some(pairs));
    }
    loop {
        if pairs.len() == MAX_ID_PAIRS {
            return Err(ErrorKind::Syntax("too many ID fields"));
        }
        let field = c.string()?.into_owned();
        c.sp()?;
        let value = c.nstring()?.map(|v| v.into_owned());
        pairs.push((field, value));
        match c.peek() {
            Some(b')') => {
                c.expect(b')', "expected )")?;
                return Ok(Some(pairs));
            }
            _ => c.sp()?,
        }
    }
}

#[derive(Default)]
struct Options {
    max_size: Option<u32>,
    depth: Option<Depth>,
}

/// `GETMETADATA [SP options] SP mailbox SP entries`. The options list is also
/// accepted directly after the mailbox, the form RFC 5464's own examples use.
fn get_metadata(c: &mut Cursor<'_>, limits: &Limits) -> Result<GetMetadata> {
    c.sp()?;
    let mut options = None;
    if c.peek() == Some(b'(') {
        options = Some(options_list(c)?);
        c.sp()?;
    }
    let mailbox = c.astring("expected a mailbox name")?.into_owned();
    c.sp()?;
    if c.peek() == Some(b'(') && starts_option_list(c) {
        if options.is_some() {
            return Err(ErrorKind::DuplicateOption);
        }
        options = Some(options_list(c)?);
        c.sp()?;
    }
    let entries = entries(c, limits)?;
    let options = options.unwrap_or_default();
    Ok(GetMetadata {
        mailbox,
        max_size: options.max_size,
        depth: options.depth.unwrap_or_default(),
        entries,
    })
}

/// Looks past `(` for MAXSIZE or DEPTH, which cannot start an entry name.
fn starts_option_list(c: &mut Cursor<'_>) -> bool {
    let start = c.position();
    c.rewind(start + 1);
    let is_option = c
        .keyword("option")
        .map(|k| k == "MAXSIZE" || k == "DEPTH")
        .unwrap_or(false);
    c.rewind(start);
    is_option
}

fn options_list(c: &mut Cursor<'_>) -> Result<Options> {
    c.expect(b'(', "expected (")?;
    let mut opts = Options::default();
    loop {
        match c.keyword("expected a GETMETADATA option")?.as_str() {
            "MAXSIZE" => {
                c.sp()?;
                let n = c.number()?;
                if opts.max_size.replace(n).is_some() {
                    return Err(ErrorKind::DuplicateOption);
                }
            }
            "DEPTH" => {
                c.sp()?;
                let depth = match c.keyword("expected 0, 1 or infinity")?.as_str() {
                    "0" => Depth::Zero,
                    "1" => Depth::One,
                    "INFINITY" => Depth::Infinity,
                    _ => return Err(ErrorKind::Syntax("DEPTH must be 0, 1 or infinity")),
                };
                if opts.depth.replace(depth).is_some() {
                    return Err(ErrorKind::DuplicateOption);
                }
            }
            _ => return Err(ErrorKind::UnknownOption),
        }
        match c.peek() {
            Some(b')') => {
                c.expect(b')', "expected )")?;
                return Ok(opts);
            }
            _ => c.sp()?,
        }
    }
}

fn entry(c: &mut Cursor<'_>) -> Result<EntryName> {
    let raw = c.astring("expected an entry name")?;
    EntryName::parse(&raw).map_err(ErrorKind::InvalidEntryName)
}

/// `entries = entry / "(" entry *(SP entry) ")"`
fn entries(c: &mut Cursor<'_>, limits: &Limits) -> Result<Vec<EntryName>> {
    if c.peek() != Some(b'(') {
        return Ok(vec![entry(c)?]);
    }
    c.expect(b'(', "expected (")?;
    let mut list = Vec::new();
    loop {
        if list.len() == limits.max_entries {
            return Err(ErrorKind::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        list.push(entry(c)?);
        match c.peek() {
            Some(b')') => {
                c.expect(b')', "expected )")?;
                return Ok(list);
            }
            _ => c.sp()?,
        }
    }
}

/// `SETMETADATA SP mailbox SP "(" entry SP value *(SP entry SP value) ")"`
fn set_metadata(c: &mut Cursor<'_>, limits: &Limits) -> Result<SetMetadata> {
    c.sp()?;
    let mailbox = c.astring("expected a mailbox name")?.into_owned();
    c.sp()?;
    c.expect(b'(', "expected (")?;
    let mut entries = Vec::new();
    loop {
        if entries.len() == limits.max_entries {
            return Err(ErrorKind::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        let name = entry(c)?;
        c.sp()?;
        let value = c.value()?.map(|v| v.into_owned());
        entries.push((name, value));
        match c.peek() {
            Some(b')') => {
                c.expect(b')', "expected )")?;
                return Ok(SetMetadata { mailbox, entries });
            }
            _ => c.sp()?,
        }
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
