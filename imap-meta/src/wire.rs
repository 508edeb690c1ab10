//! Rendering of strings and status lines in the forms IMAP clients parse.

use crate::lexer::is_atom_char;

fn is_quotable(b: u8) -> bool {
    (0x20..=0x7e).contains(&b)
}

/// Appends a metadata value: a quoted string when it is printable ASCII
/// without `"` or `\` (Delta Chat's parser does not decode escapes), a
/// `{n}` literal otherwise.
pub fn push_value(out: &mut Vec<u8>, value: &[u8]) {
    if value
        .iter()
        .all(|&b| is_quotable(b) && b != b'"' && b != b'\\')
    {
        out.push(b'"');
        out.extend_from_slice(value);
        out.push(b'"');
    } else {
        push_literal(out, value);
    }
}

/// Appends a `{n}\r\n` literal.
pub fn push_literal(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", value.len()).as_bytes());
    out.extend_from_slice(value);
}

/// Appends a quoted string with `"` and `\` escaped, or a literal when the
/// bytes are not printable ASCII.
pub fn push_quoted(out: &mut Vec<u8>, s: &[u8]) {
    if !s.iter().all(|&b| is_quotable(b)) {
        push_literal(out, s);
        return;
    }
    out.push(b'"');
    for &b in s {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Appends an astring: an atom when possible, a quoted string otherwise.
pub fn push_astring(out: &mut Vec<u8>, s: &[u8]) {
    if !s.is_empty() && s.iter().all(|&b| is_atom_char(b)) {
        out.extend_from_slice(s);
    } else {
        push_quoted(out, s);
    }
}

/// Appends `tag` or `*` when the tag is unknown.
pub fn push_tag(out: &mut Vec<u8>, tag: Option<&[u8]>) {
    match tag {
        Some(t) if !t.is_empty() => out.extend_from_slice(t),
        _ => out.push(b'*'),
    }
}

/// A complete status line: `<tag> <status> [<code>] <text>\r\n`. Control
/// characters in `text` are replaced so the line cannot be split.
pub fn status_line(tag: Option<&[u8]>, status: &str, code: Option<&str>, text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + text.len());
    push_tag(&mut out, tag);
    out.push(b' ');
    out.extend_from_slice(status.as_bytes());
    if let Some(code) = code {
        out.extend_from_slice(b" [");
        out.extend_from_slice(code.as_bytes());
        out.push(b']');
    }
    out.push(b' ');
    out.extend(
        text.bytes()
            .map(|b| if b.is_ascii_control() { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(f: fn(&mut Vec<u8>, &[u8]), s: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        f(&mut out, s);
        out
    }

    #[test]
    fn values() {
        assert_eq!(render(push_value, b"http://a:1"), b"\"http://a:1\"");
        assert_eq!(render(push_value, b""), b"\"\"");
        assert_eq!(render(push_value, b"a\"b"), b"{3}\r\na\"b");
        assert_eq!(render(push_value, b"a\\b"), b"{3}\r\na\\b");
        assert_eq!(render(push_value, b"a\nb"), b"{3}\r\na\nb");
        assert_eq!(render(push_value, "ä".as_bytes()), b"{2}\r\n\xc3\xa4");
    }

    #[test]
    fn strings() {
        assert_eq!(render(push_quoted, b"a\"b\\"), b"\"a\\\"b\\\\\"");
        assert_eq!(render(push_astring, b"/shared/comment"), b"/shared/comment");
        assert_eq!(render(push_astring, b"/shared/a(b"), b"\"/shared/a(b\"");
        assert_eq!(render(push_astring, b""), b"\"\"");
        assert_eq!(render(push_quoted, b"\x01"), b"{1}\r\n\x01");
    }

    #[test]
    fn status() {
        assert_eq!(
            status_line(Some(b"A1"), "OK", Some("METADATA LONGENTRIES 5"), "done"),
            b"A1 OK [METADATA LONGENTRIES 5] done\r\n"
        );
        assert_eq!(status_line(None, "BAD", None, "x\r\ny"), b"* BAD x  y\r\n");
    }
}
