//! Server responses as the probe reads them, pure: a complete response
//! (its line with any `{n}` literals inline) in, what it says out.

/// `tag OK|NO|BAD text`: the status word (upper case) and the rest.
pub fn tagged<'a>(response: &'a [u8], tag: &str) -> Option<(String, &'a str)> {
    let text = std::str::from_utf8(response).ok()?;
    let rest = text.strip_prefix(tag)?.strip_prefix(' ')?;
    let rest = rest.trim_end_matches(['\r', '\n']);
    let (word, text) = rest.split_once(' ').unwrap_or((rest, ""));
    Some((word.to_ascii_uppercase(), text))
}

/// The response as one printable line, for messages.
pub fn printable(response: &[u8]) -> String {
    let text = String::from_utf8_lossy(response);
    let line: String = text
        .trim_end_matches(['\r', '\n'])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.chars().count() > 200 {
        let cut: String = line.chars().take(200).collect();
        format!("{cut}…")
    } else {
        line
    }
}

/// Entries and values of `* METADATA mailbox (entry value …)`; `None` for
/// any other response. A value is `None` for NIL.
pub fn metadata(response: &[u8]) -> Option<Vec<(String, Option<Vec<u8>>)>> {
    let mut c = Cursor {
        b: response,
        pos: 0,
    };
    c.word("*")?;
    c.sp()?;
    if !c.word_ci("METADATA") {
        return None;
    }
    c.sp()?;
    c.string()?;
    c.sp()?;
    c.byte(b'(')?;
    let mut out = Vec::new();
    loop {
        if c.peek() == Some(b')') {
            break;
        }
        if !out.is_empty() {
            c.sp()?;
        }
        let entry = c.string()?;
        c.sp()?;
        let value = if c.word_ci("NIL") {
            None
        } else {
            Some(c.string()?)
        };
        out.push((String::from_utf8_lossy(&entry).into_owned(), value));
    }
    Some(out)
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn byte(&mut self, want: u8) -> Option<()> {
        (self.peek()? == want).then(|| self.pos += 1)
    }

    fn sp(&mut self) -> Option<()> {
        self.byte(b' ')
    }

    fn word(&mut self, w: &str) -> Option<()> {
        let end = self.pos.checked_add(w.len())?;
        (self.b.get(self.pos..end)? == w.as_bytes()).then(|| self.pos = end)
    }

    /// A case-insensitive keyword followed by a delimiter.
    fn word_ci(&mut self, w: &str) -> bool {
        let end = self.pos + w.len();
        let matches = self
            .b
            .get(self.pos..end)
            .is_some_and(|s| s.eq_ignore_ascii_case(w.as_bytes()))
            && matches!(self.b.get(end), Some(b' ' | b')' | b'\r' | b'\n') | None);
        if matches {
            self.pos = end;
        }
        matches
    }

    /// A quoted string, a `{n}` literal or an atom.
    fn string(&mut self) -> Option<Vec<u8>> {
        match self.peek()? {
            b'"' => {
                self.pos += 1;
                let mut out = Vec::new();
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.pos += 1;
                            return Some(out);
                        }
                        b'\\' => {
                            self.pos += 1;
                            out.push(self.peek()?);
                        }
                        b'\r' | b'\n' => return None,
                        b => out.push(b),
                    }
                    self.pos += 1;
                }
            }
            b'{' => {
                let close = self.b.get(self.pos..)?.iter().position(|&b| b == b'}')?;
                let digits = self.b.get(self.pos + 1..self.pos + close)?;
                let n: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
                self.pos += close + 1;
                self.word("\r\n")?;
                let end = self.pos.checked_add(n)?;
                let v = self.b.get(self.pos..end)?.to_vec();
                self.pos = end;
                Some(v)
            }
            _ => {
                let start = self.pos;
                while let Some(b) = self.peek() {
                    if b == b' ' || b == b')' || b == b'(' || b.is_ascii_control() {
                        break;
                    }
                    self.pos += 1;
                }
                (self.pos > start).then(|| self.b[start..self.pos].to_vec())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IROH: &str = "/shared/vendor/deltachat/irohrelay";

    #[test]
    fn metadata_forms() {
        let r = b"* METADATA \"\" (/shared/comment \"a \\\"b\\\"\" /shared/vendor/deltachat/irohrelay \"http://h:3340\" /shared/admin NIL)\r\n";
        let got = metadata(r).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].1.as_deref(), Some(&b"a \"b\""[..]));
        assert_eq!(got[1], (IROH.to_owned(), Some(b"http://h:3340".to_vec())));
        assert_eq!(got[2].1, None);
        let lit = b"* metadata \"\" (/shared/vendor/deltachat/irohrelay {13}\r\nhttp://h:3340)\r\n";
        assert_eq!(
            metadata(lit).unwrap(),
            vec![(IROH.to_owned(), Some(b"http://h:3340".to_vec()))]
        );
        assert_eq!(metadata(b"* METADATA \"\" ()\r\n").unwrap(), vec![]);
        for bad in [
            &b"* OK hello\r\n"[..],
            b"* METADATA \"\" (/a\r\n",
            b"* METADATA \"\" (/a {99}\r\nshort)\r\n",
            b"* METADATA \"\" /shared/comment\r\n",
            b"a1 OK done\r\n",
        ] {
            assert_eq!(metadata(bad), None, "{}", printable(bad));
        }
    }

    #[test]
    fn tagged_status() {
        assert_eq!(
            tagged(
                b"p2 NO [AUTHENTICATIONFAILED] Invalid credentials\r\n",
                "p2"
            ),
            Some((
                "NO".to_owned(),
                "[AUTHENTICATIONFAILED] Invalid credentials"
            ))
        );
        assert_eq!(tagged(b"p2 ok\r\n", "p2"), Some(("OK".to_owned(), "")));
        assert_eq!(tagged(b"* OK x\r\n", "p2"), None);
        assert_eq!(tagged(b"p22 OK x\r\n", "p2"), None);
        assert_eq!(printable(b"a\x07b\r\n"), "a b");
    }
}
