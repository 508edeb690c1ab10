//! Metadata entry names (RFC 5464 section 3.2) and their validation.

use std::fmt;

/// Longest entry name accepted, in bytes.
pub const MAX_ENTRY_NAME: usize = 1024;

/// A validated entry name such as `/shared/vendor/deltachat/irohrelay`.
///
/// Names are case-insensitive in RFC 5464; they are stored lower-cased,
/// which is also how they are echoed back (clients such as Delta Chat
/// compare the exact lower-case string).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryName(String);

/// Why a byte string is not a valid entry name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EntryNameError {
    /// Empty or longer than [`MAX_ENTRY_NAME`].
    #[error("entry name is empty or too long")]
    Length,
    /// Does not start with `/private` or `/shared`.
    #[error("entry name must start with /private or /shared")]
    Prefix,
    /// Contains `//` or ends with `/`.
    #[error("entry name has an empty component")]
    EmptyComponent,
    /// Contains `*`, `%`, a space, a control character or a non-ASCII byte.
    #[error("entry name contains a character that is not allowed")]
    Character,
}

impl EntryName {
    /// Validates and lower-cases `raw`.
    ///
    /// Rules (as Dovecot applies them): starts with `/`, first component is
    /// `private` or `shared`, no empty components, no trailing `/`, no
    /// wildcards. Additionally only printable ASCII without space is allowed,
    /// so every accepted name can be echoed back safely.
    pub fn parse(raw: &[u8]) -> Result<EntryName, EntryNameError> {
        if raw.is_empty() || raw.len() > MAX_ENTRY_NAME {
            return Err(EntryNameError::Length);
        }
        if raw
            .iter()
            .any(|&b| !(0x21..=0x7e).contains(&b) || b == b'*' || b == b'%')
        {
            return Err(EntryNameError::Character);
        }
        let lower = raw.to_ascii_lowercase();
        let Some(rest) = lower.strip_prefix(b"/") else {
            return Err(EntryNameError::Prefix);
        };
        let first = rest.split(|&b| b == b'/').next().unwrap_or_default();
        if first != b"private" && first != b"shared" {
            return Err(EntryNameError::Prefix);
        }
        if rest.split(|&b| b == b'/').any(<[u8]>::is_empty) {
            return Err(EntryNameError::EmptyComponent);
        }
        // Only printable ASCII passed the character check above.
        String::from_utf8(lower)
            .map(EntryName)
            .map_err(|_| EntryNameError::Character)
    }

    /// The lower-cased name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `true` for names under `/private`.
    pub fn is_private(&self) -> bool {
        self.0 == "/private" || self.0.starts_with("/private/")
    }

    /// `true` if `other` is below `self` and at most `max_levels` components
    /// deeper (`None`: any depth).
    pub fn is_ancestor_of(&self, other: &EntryName, max_levels: Option<usize>) -> bool {
        let Some(rest) = other
            .0
            .strip_prefix(self.0.as_str())
            .and_then(|r| r.strip_prefix('/'))
        else {
            return false;
        };
        match max_levels {
            None => true,
            Some(n) => rest.split('/').count() <= n,
        }
    }
}

impl fmt::Display for EntryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for EntryName {
    type Err = EntryNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntryName::parse(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_are_lowercased() {
        let n = EntryName::parse(b"/Shared/Vendor/DeltaChat/IrohRelay").unwrap();
        assert_eq!(n.as_str(), "/shared/vendor/deltachat/irohrelay");
        assert!(EntryName::parse(b"/private").unwrap().is_private());
        assert!(!EntryName::parse(b"/shared").unwrap().is_private());
        assert!(!EntryName::parse(b"/shared/privatex").unwrap().is_private());
    }

    #[test]
    fn invalid_names() {
        use EntryNameError::*;
        let cases: &[(&[u8], EntryNameError)] = &[
            (b"", Length),
            (b"shared/comment", Prefix),
            (b"/other/comment", Prefix),
            (b"/sharedx/comment", Prefix),
            (b"/", Prefix),
            (b"/shared//comment", EmptyComponent),
            (b"/shared/comment/", EmptyComponent),
            (b"/shared/*", Character),
            (b"/shared/%", Character),
            (b"/shared/a b", Character),
            (b"/shared/\x01", Character),
            (b"/shared/\xc3\xa4", Character),
        ];
        for (raw, want) in cases {
            assert_eq!(EntryName::parse(raw), Err(*want), "{raw:?}");
        }
        assert_eq!(EntryName::parse(&[b'/'; MAX_ENTRY_NAME + 1]), Err(Length));
    }

    #[test]
    fn ancestry() {
        let p = |s: &str| EntryName::parse(s.as_bytes()).unwrap();
        let vendor = p("/shared/vendor/deltachat");
        let relay = p("/shared/vendor/deltachat/irohrelay");
        let deep = p("/shared/vendor/deltachat/a/b");
        assert!(vendor.is_ancestor_of(&relay, Some(1)));
        assert!(!vendor.is_ancestor_of(&deep, Some(1)));
        assert!(vendor.is_ancestor_of(&deep, None));
        assert!(!vendor.is_ancestor_of(&vendor, None));
        assert!(!p("/shared/vendor/delta").is_ancestor_of(&relay, None));
    }
}
