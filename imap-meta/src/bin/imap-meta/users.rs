//! Credentials for `serve`: the users file and SASL PLAIN.
//!
//! The users file has one `user:password` per line; the password is
//! everything after the first `:`. Blank lines and lines starting with `#`
//! are ignored. Passwords are stored in plain text: `serve` is meant for
//! development and tests, not for real accounts.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone, Default)]
pub struct Users {
    passwords: HashMap<Vec<u8>, Vec<u8>>,
}

impl Users {
    pub fn load(path: &Path) -> Result<Users> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading users file {}", path.display()))?;
        Users::parse(&text).with_context(|| format!("in users file {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Users> {
        let mut passwords = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, password)) = line.split_once(':') else {
                bail!("line {}: expected user:password", n + 1);
            };
            if user.is_empty() {
                bail!("line {}: empty user name", n + 1);
            }
            passwords.insert(user.as_bytes().to_vec(), password.as_bytes().to_vec());
        }
        Ok(Users { passwords })
    }

    pub fn check(&self, user: &[u8], password: &[u8]) -> bool {
        self.passwords
            .get(user)
            .is_some_and(|p| constant_time_eq(p, password))
    }

    pub fn len(&self) -> usize {
        self.passwords.len()
    }
}

/// Comparison whose time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Credentials from a SASL PLAIN message (RFC 4616), base64-encoded as in
/// IMAP: `[authzid] NUL authcid NUL passwd`. An authorization identity other
/// than the user itself is refused.
pub fn decode_plain(base64: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let raw = data_encoding::BASE64.decode(base64).ok()?;
    let mut parts = raw.split(|&b| b == 0);
    let authzid = parts.next()?;
    let user = parts.next()?;
    let password = parts.next()?;
    if parts.next().is_some() || user.is_empty() || (!authzid.is_empty() && authzid != user) {
        return None;
    }
    Some((user.to_vec(), password.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_file() {
        let u = Users::parse("# comment\n\nalice:secret\nbob:pa:ss\r\n").unwrap();
        assert_eq!(u.len(), 2);
        assert!(u.check(b"alice", b"secret"));
        assert!(u.check(b"bob", b"pa:ss"));
        assert!(!u.check(b"alice", b"Secret"));
        assert!(!u.check(b"carol", b""));
        assert!(Users::parse("nocolon\n").is_err());
        assert!(Users::parse(":pw\n").is_err());
    }

    #[test]
    fn sasl_plain() {
        let enc = |s: &[u8]| data_encoding::BASE64.encode(s).into_bytes();
        assert_eq!(
            decode_plain(&enc(b"\0alice\0secret")),
            Some((b"alice".to_vec(), b"secret".to_vec()))
        );
        assert_eq!(
            decode_plain(&enc(b"alice\0alice\0secret")),
            Some((b"alice".to_vec(), b"secret".to_vec()))
        );
        assert_eq!(decode_plain(&enc(b"bob\0alice\0secret")), None);
        assert_eq!(decode_plain(&enc(b"\0alice")), None);
        assert_eq!(decode_plain(&enc(b"\0\0x")), None);
        assert_eq!(decode_plain(b"not base64!"), None);
        assert_eq!(decode_plain(b"="), None);
    }
}
