//! Editing capability lists in server responses, for proxies that add
//! METADATA in front of a server that lacks it.

/// Removes and adds capabilities in `* CAPABILITY ...` responses and in
/// `[CAPABILITY ...]` response codes (greeting, tagged OK after login).
///
/// ```
/// use imap_meta::CapabilityEditor;
/// let editor = CapabilityEditor::new().without("COMPRESS=*").with("METADATA");
/// let line = b"a1 OK [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE IDLE] Logged in\r\n";
/// assert_eq!(
///     editor.rewrite_line(line).unwrap(),
///     b"a1 OK [CAPABILITY IMAP4rev1 IDLE METADATA] Logged in\r\n"
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilityEditor {
    remove: Vec<String>,
    add: Vec<String>,
}

impl CapabilityEditor {
    /// An editor that changes nothing.
    pub fn new() -> Self {
        CapabilityEditor::default()
    }

    /// Removes `cap` (case-insensitive). A trailing `*` matches any suffix,
    /// e.g. `COMPRESS=*`.
    pub fn without(mut self, cap: &str) -> Self {
        self.remove.push(cap.to_ascii_uppercase());
        self
    }

    /// Appends `cap` unless the list already has it.
    pub fn with(mut self, cap: &str) -> Self {
        self.add.push(cap.to_owned());
        self
    }

    fn removed(&self, cap: &str) -> bool {
        let upper = cap.to_ascii_uppercase();
        self.remove.iter().any(|r| match r.strip_suffix('*') {
            Some(prefix) => upper.starts_with(prefix),
            None => upper == *r,
        })
    }

    /// Edits a space-separated capability list.
    pub fn edit_list(&self, caps: &str) -> String {
        let mut out: Vec<&str> = caps
            .split(' ')
            .filter(|c| !c.is_empty() && !self.removed(c))
            .collect();
        for cap in &self.add {
            if !out.iter().any(|c| c.eq_ignore_ascii_case(cap)) {
                out.push(cap);
            }
        }
        out.join(" ")
    }

    /// If `line` (one complete response line, line ending included) carries
    /// a capability list, returns it edited; `None` otherwise.
    pub fn rewrite_line(&self, line: &[u8]) -> Option<Vec<u8>> {
        let parts = split_line(line)?;
        let mut out = String::with_capacity(line.len() + 16);
        out.push_str(parts.before);
        out.push(' ');
        out.push_str(&self.edit_list(parts.caps));
        out.push_str(parts.after);
        out.push_str("\r\n");
        Some(out.into_bytes())
    }
}

/// The capabilities listed in `line` (`* CAPABILITY ...` or a
/// `[CAPABILITY ...]` code), or `None` if it lists none.
pub fn capabilities_in(line: &[u8]) -> Option<Vec<&str>> {
    split_line(line).map(|p| p.caps.split(' ').filter(|c| !c.is_empty()).collect())
}

/// A response line cut around its capability list.
struct Parts<'a> {
    /// Up to and including the word `CAPABILITY`.
    before: &'a str,
    caps: &'a str,
    /// From the closing `]` of a response code (empty for `* CAPABILITY`),
    /// without the line ending.
    after: &'a str,
}

fn split_line(line: &[u8]) -> Option<Parts<'_>> {
    let text = std::str::from_utf8(line).ok()?;
    let body = text.strip_suffix('\n')?;
    let body = body.strip_suffix('\r').unwrap_or(body);
    let (tag, rest) = body.split_once(' ')?;
    let (word, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let caps_start = tag.len() + 1 + word.len() + 1;
    if tag == "*" && word.eq_ignore_ascii_case("CAPABILITY") {
        return Some(Parts {
            before: body.get(..caps_start - 1)?,
            caps: rest,
            after: "",
        });
    }
    let is_status = ["OK", "NO", "BAD", "PREAUTH", "BYE"]
        .iter()
        .any(|s| word.eq_ignore_ascii_case(s));
    let code = rest.strip_prefix('[')?;
    let (name, after) = code.split_at_checked(10)?;
    let delimited = after.starts_with(' ') || after.starts_with(']');
    if !is_status || !delimited || !name.eq_ignore_ascii_case("CAPABILITY") {
        return None;
    }
    let close = after.find(']')?;
    let list_start = caps_start + 1 + 10;
    Some(Parts {
        before: body.get(..list_start)?,
        caps: after.get(..close)?,
        after: after.get(close..)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy_editor() -> CapabilityEditor {
        CapabilityEditor::new()
            .without("COMPRESS=*")
            .without("METADATA")
            .without("METADATA-SERVER")
            .with("METADATA")
    }

    #[test]
    fn untagged_capability() {
        let e = proxy_editor();
        assert_eq!(
            e.rewrite_line(b"* CAPABILITY IMAP4rev1 METADATA-SERVER LITERAL+ COMPRESS=DEFLATE\r\n")
                .unwrap(),
            b"* CAPABILITY IMAP4rev1 LITERAL+ METADATA\r\n"
        );
        assert_eq!(
            e.rewrite_line(b"* capability IMAP4rev1 metadata\n")
                .unwrap(),
            b"* capability IMAP4rev1 METADATA\r\n"
        );
    }

    #[test]
    fn greeting_and_tagged_codes() {
        let e = proxy_editor();
        assert_eq!(
            e.rewrite_line(b"* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] Dovecot ready.\r\n")
                .unwrap(),
            b"* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN METADATA] Dovecot ready.\r\n"
        );
        assert_eq!(
            e.rewrite_line(b"A0001 OK [CAPABILITY IMAP4rev1 METADATA] Logged in\r\n")
                .unwrap(),
            b"A0001 OK [CAPABILITY IMAP4rev1 METADATA] Logged in\r\n"
        );
        assert_eq!(
            e.rewrite_line(b"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n")
                .unwrap(),
            b"* PREAUTH [CAPABILITY IMAP4rev1 METADATA] hi\r\n"
        );
    }

    #[test]
    fn listing() {
        assert_eq!(
            capabilities_in(b"* CAPABILITY IMAP4rev1 METADATA\r\n").unwrap(),
            ["IMAP4rev1", "METADATA"]
        );
        assert_eq!(
            capabilities_in(b"* OK [CAPABILITY IMAP4rev1 IDLE] Dovecot ready [x]\r\n").unwrap(),
            ["IMAP4rev1", "IDLE"]
        );
        assert_eq!(capabilities_in(b"* OK hello\r\n"), None);
        assert_eq!(
            CapabilityEditor::new()
                .with("METADATA")
                .rewrite_line(b"* OK [CAPABILITY] x\r\n")
                .unwrap(),
            b"* OK [CAPABILITY METADATA] x\r\n"
        );
    }

    #[test]
    fn other_lines_untouched() {
        let e = proxy_editor();
        for line in [
            &b"* OK [UIDVALIDITY 1] UIDs valid\r\n"[..],
            b"* 1 FETCH (FLAGS ())\r\n",
            b"a OK done\r\n",
            b"+ idling\r\n",
            b"* CAPABILITY",
            b"* OK [CAPABILITY IMAP4rev1 no end\r\n",
            b"\xff\r\n",
            b"* OK [CAPABILITYX IMAP4rev1] x\r\n",
        ] {
            assert_eq!(e.rewrite_line(line), None, "{line:?}");
        }
    }
}
