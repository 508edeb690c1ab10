//! Token reader over one complete command (line segments with their
//! literals inline, final line ending removed).

use std::borrow::Cow;

use crate::error::ErrorKind;

/// `ATOM-CHAR` from RFC 3501: printable 7-bit ASCII except atom-specials.
pub(crate) fn is_atom_char(b: u8) -> bool {
    (0x21..=0x7e).contains(&b)
        && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// `ASTRING-CHAR`: an atom char or `]`.
pub(crate) fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// A tag is made of astring chars except `+`.
pub(crate) fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

pub(crate) struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

type Result<T> = std::result::Result<T, ErrorKind>;

impl<'a> Cursor<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Cursor { input, pos: 0 }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.input.len()
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn rewind(&mut self, pos: usize) {
        self.pos = pos.min(self.input.len());
    }

    pub(crate) fn expect(&mut self, byte: u8, what: &'static str) -> Result<()> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else if self.is_empty() {
            Err(ErrorKind::MissingArgument(what))
        } else {
            Err(ErrorKind::Syntax(what))
        }
    }

    pub(crate) fn sp(&mut self) -> Result<()> {
        self.expect(b' ', "expected a single space")
    }

    pub(crate) fn end(&self) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ErrorKind::TrailingData)
        }
    }

    fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        &self.input[start..self.pos]
    }

    pub(crate) fn tag(&mut self) -> Result<&'a [u8]> {
        let tag = self.take_while(is_tag_char);
        if tag.is_empty() {
            return Err(ErrorKind::MissingTag);
        }
        Ok(tag)
    }

    /// An atom, upper-cased (for keywords and command names).
    pub(crate) fn keyword(&mut self, what: &'static str) -> Result<String> {
        let atom = self.take_while(is_atom_char);
        if atom.is_empty() {
            return Err(if self.is_empty() {
                ErrorKind::MissingArgument(what)
            } else {
                ErrorKind::Syntax(what)
            });
        }
        // Atom chars are ASCII, so this is lossless.
        Ok(String::from_utf8_lossy(atom).to_ascii_uppercase())
    }

    /// A 32-bit `number`.
    pub(crate) fn number(&mut self) -> Result<u32> {
        let digits = self.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return Err(ErrorKind::Syntax("expected a number"));
        }
        std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
            .ok_or(ErrorKind::InvalidNumber)
    }

    /// `quoted`: `"` ... `"` with `\"` and `\\` escapes.
    pub(crate) fn quoted(&mut self) -> Result<Vec<u8>> {
        self.expect(b'"', "expected a quoted string")?;
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(ErrorKind::Syntax("unterminated quoted string"));
            };
            self.pos += 1;
            match b {
                b'"' => return Ok(out),
                b'\\' => match self.peek() {
                    Some(e @ (b'"' | b'\\')) => {
                        self.pos += 1;
                        out.push(e);
                    }
                    _ => return Err(ErrorKind::BadEscape),
                },
                0 | b'\r' | b'\n' => {
                    return Err(ErrorKind::Syntax("invalid character in quoted string"))
                }
                other => out.push(other),
            }
        }
    }

    /// `literal` (`{n}` / `{n+}`, CRLF, n bytes); `literal8` when `binary`.
    pub(crate) fn literal(&mut self, binary: bool) -> Result<&'a [u8]> {
        if binary {
            self.expect(b'~', "expected a literal8")?;
        }
        self.expect(b'{', "expected a literal")?;
        let digits = self.take_while(|b| b.is_ascii_digit());
        let size = std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .ok_or(ErrorKind::Syntax("invalid literal size"))?;
        if self.peek() == Some(b'+') {
            self.pos += 1;
        }
        self.expect(b'}', "invalid literal header")?;
        if self.peek() == Some(b'\r') {
            self.pos += 1;
        }
        self.expect(b'\n', "literal header must end the line")?;
        let end = self
            .pos
            .checked_add(size)
            .filter(|&end| end <= self.input.len())
            .ok_or(ErrorKind::Syntax("literal shorter than announced"))?;
        let data = &self.input[self.pos..end];
        if !binary && data.contains(&0) {
            return Err(ErrorKind::Syntax("NUL in literal"));
        }
        self.pos = end;
        Ok(data)
    }

    /// `string` = quoted / literal.
    pub(crate) fn string(&mut self) -> Result<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"') => self.quoted().map(Cow::Owned),
            Some(b'{') => self.literal(false).map(Cow::Borrowed),
            None => Err(ErrorKind::MissingArgument("expected a string")),
            Some(_) => Err(ErrorKind::Syntax("expected a string")),
        }
    }

    /// `astring` = 1*ASTRING-CHAR / string.
    pub(crate) fn astring(&mut self, what: &'static str) -> Result<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                let atom = self.take_while(is_astring_char);
                if atom.is_empty() {
                    Err(if self.is_empty() {
                        ErrorKind::MissingArgument(what)
                    } else {
                        ErrorKind::Syntax(what)
                    })
                } else {
                    Ok(Cow::Borrowed(atom))
                }
            }
        }
    }

    /// `NIL` (any case) if it is next, consuming it.
    pub(crate) fn nil(&mut self) -> bool {
        let start = self.pos;
        let atom = self.take_while(is_atom_char);
        if atom.eq_ignore_ascii_case(b"NIL") {
            true
        } else {
            self.pos = start;
            false
        }
    }

    /// `nstring` = string / NIL.
    pub(crate) fn nstring(&mut self) -> Result<Option<Cow<'a, [u8]>>> {
        if self.nil() {
            return Ok(None);
        }
        self.string().map(Some)
    }

    /// A metadata value: nstring / literal8.
    pub(crate) fn value(&mut self) -> Result<Option<Cow<'a, [u8]>>> {
        if self.peek() == Some(b'~') {
            return self.literal(true).map(|v| Some(Cow::Borrowed(v)));
        }
        self.nstring()
    }

    /// Base64 SASL data or `=`.
    pub(crate) fn base64(&mut self) -> Result<&'a [u8]> {
        let data =
            self.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        if data.is_empty() {
            return Err(ErrorKind::Syntax("expected base64 data"));
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_escapes() {
        let mut c = Cursor::new(br#""a\"b\\c" rest"#);
        assert_eq!(c.quoted().unwrap(), br#"a"b\c"#);
        assert_eq!(c.peek(), Some(b' '));
        assert_eq!(
            Cursor::new(br#""a\nb""#).quoted(),
            Err(ErrorKind::BadEscape)
        );
        assert!(Cursor::new(br#""abc"#).quoted().is_err());
        assert!(Cursor::new(b"\"a\rb\"").quoted().is_err());
    }

    #[test]
    fn literals() {
        let mut c = Cursor::new(b"{3}\r\nabc x");
        assert_eq!(c.string().unwrap().as_ref(), b"abc");
        let mut c = Cursor::new(b"{3+}\nabc");
        assert_eq!(c.string().unwrap().as_ref(), b"abc");
        let mut c = Cursor::new(b"~{2}\r\n\0\x01");
        assert_eq!(c.value().unwrap().unwrap().as_ref(), b"\0\x01");
        assert!(Cursor::new(b"{5}\r\nabc").string().is_err());
        assert!(Cursor::new(b"{2}\r\n\0a").string().is_err());
        assert!(Cursor::new(b"{99999999999999999999999}\r\n")
            .string()
            .is_err());
        assert!(Cursor::new(b"{3} abc").string().is_err());
    }

    #[test]
    fn astrings_and_nil() {
        let mut c = Cursor::new(b"foo]bar baz");
        assert_eq!(c.astring("x").unwrap().as_ref(), b"foo]bar");
        let mut c = Cursor::new(b"nil");
        assert_eq!(c.nstring().unwrap(), None);
        let mut c = Cursor::new(b"NILS");
        assert!(c.nstring().is_err());
        assert!(Cursor::new(b"(x").astring("x").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(Cursor::new(b"4294967295").number(), Ok(u32::MAX));
        assert_eq!(
            Cursor::new(b"4294967296").number(),
            Err(ErrorKind::InvalidNumber)
        );
        assert!(Cursor::new(b"x").number().is_err());
    }
}
