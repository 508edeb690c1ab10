//! The server entries a responder publishes (GETMETADATA on mailbox `""`).

use std::collections::BTreeMap;

use crate::entry::{EntryName, EntryNameError};

/// `/shared/comment`: free text about the server.
pub const COMMENT: &str = "/shared/comment";
/// `/shared/admin`: a URI for contacting the administrator, e.g. `mailto:`.
pub const ADMIN: &str = "/shared/admin";
/// `/shared/vendor/deltachat/irohrelay`: base URL of the iroh relay.
pub const IROH_RELAY: &str = "/shared/vendor/deltachat/irohrelay";
/// `/shared/vendor/deltachat/turn`: `host:port:expiry:password` TURN credentials.
pub const TURN: &str = "/shared/vendor/deltachat/turn";
/// `/shared/vendor/deltachat/maxsmtprecipients`: decimal recipient limit.
pub const MAX_SMTP_RECIPIENTS: &str = "/shared/vendor/deltachat/maxsmtprecipients";
/// `/shared/vendor/deltachat/appversions`: single-line JSON with app update hints.
pub const APP_VERSIONS: &str = "/shared/vendor/deltachat/appversions";

/// Why a server entry configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The relay URL is not an absolute `http://` or `https://` URL with a host.
    #[error("relay URL {0:?} must be an absolute http:// or https:// URL with a host")]
    RelayUrl(String),
    /// A value contains NUL or another control character that Delta Chat
    /// cannot take.
    #[error("value of {0} contains a control character")]
    ControlCharacter(String),
    /// A value that must be a single line contains a line break.
    #[error("value of {0} must be a single line")]
    Multiline(String),
    /// The entry name is invalid.
    #[error("invalid entry name {name:?}: {error}")]
    EntryName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        error: EntryNameError,
    },
    /// Server entries must be under `/shared`.
    #[error("server entry {0} must be under /shared")]
    NotShared(String),
}

/// Read-only server entries, keyed by lower-case entry name.
///
/// Values are UTF-8 text (Delta Chat decodes them as UTF-8 and fails on
/// anything else). Build with [`ServerEntries::new`] and the setters:
///
/// ```
/// use imap_meta::ServerEntries;
/// let entries = ServerEntries::new("https://mail.example.org")?
///     .with_comment("Example chatmail server")?
///     .with_max_smtp_recipients(1000);
/// assert_eq!(entries.get(imap_meta::IROH_RELAY), Some("https://mail.example.org"));
/// # Ok::<(), imap_meta::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEntries {
    map: BTreeMap<EntryName, String>,
}

impl ServerEntries {
    /// Entries with the iroh relay URL, which every deployment needs.
    pub fn new(iroh_relay_url: &str) -> Result<Self, ConfigError> {
        check_relay_url(iroh_relay_url)?;
        let mut entries = ServerEntries {
            map: BTreeMap::new(),
        };
        entries.insert(IROH_RELAY, iroh_relay_url)?;
        Ok(entries)
    }

    /// Sets `/shared/comment` (may span several lines; sent as a literal then).
    pub fn with_comment(mut self, text: &str) -> Result<Self, ConfigError> {
        self.insert_text(COMMENT, text, true)?;
        Ok(self)
    }

    /// Sets `/shared/admin`, e.g. `mailto:admin@example.org`.
    pub fn with_admin(mut self, uri: &str) -> Result<Self, ConfigError> {
        self.insert_text(ADMIN, uri, false)?;
        Ok(self)
    }

    /// Sets `/shared/vendor/deltachat/turn` (`host:port:expiry:password`).
    pub fn with_turn(mut self, value: &str) -> Result<Self, ConfigError> {
        self.insert_text(TURN, value, false)?;
        Ok(self)
    }

    /// Sets `/shared/vendor/deltachat/maxsmtprecipients`. Delta Chat also
    /// takes its presence as a sign that the server supports push.
    pub fn with_max_smtp_recipients(mut self, n: u32) -> Self {
        if let Ok(name) = EntryName::parse(MAX_SMTP_RECIPIENTS.as_bytes()) {
            self.map.insert(name, n.to_string());
        }
        self
    }

    /// Sets `/shared/vendor/deltachat/appversions` (single-line JSON).
    pub fn with_app_versions(mut self, json: &str) -> Result<Self, ConfigError> {
        self.insert_text(APP_VERSIONS, json, false)?;
        Ok(self)
    }

    /// Sets any other entry under `/shared`. The value may contain line
    /// breaks but no other control characters.
    pub fn insert(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        self.insert_text(name, value, true)
    }

    fn insert_text(&mut self, name: &str, value: &str, multiline: bool) -> Result<(), ConfigError> {
        let entry = EntryName::parse(name.as_bytes()).map_err(|error| ConfigError::EntryName {
            name: name.to_owned(),
            error,
        })?;
        if entry.is_private() {
            return Err(ConfigError::NotShared(name.to_owned()));
        }
        for ch in value.chars() {
            match ch {
                '\r' | '\n' if !multiline => return Err(ConfigError::Multiline(name.to_owned())),
                '\r' | '\n' | '\t' => {}
                c if c.is_control() => return Err(ConfigError::ControlCharacter(name.to_owned())),
                _ => {}
            }
        }
        self.map.insert(entry, value.to_owned());
        Ok(())
    }

    /// The value of `name` (any case), if configured.
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = EntryName::parse(name.as_bytes()).ok()?;
        self.map.get(&name).map(String::as_str)
    }

    /// The value of an already validated name.
    pub fn get_entry(&self, name: &EntryName) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// All entries in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&EntryName, &str)> {
        self.map.iter().map(|(k, v)| (k, v.as_str()))
    }

    /// `true` if `name` is one of these server entries.
    pub fn contains(&self, name: &EntryName) -> bool {
        self.map.contains_key(name)
    }
}

fn check_relay_url(url: &str) -> Result<(), ConfigError> {
    let bad = || ConfigError::RelayUrl(url.to_owned());
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host_without_port = if host.starts_with('[') {
        host.split(']')
            .next()
            .unwrap_or_default()
            .trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or_default()
    };
    if host_without_port.is_empty()
        || url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\')
    {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_urls() {
        for ok in [
            "http://mail.example.org:3340",
            "https://example.org",
            "https://example.org/",
            "HTTP://[::1]:3340",
            "http://127.0.0.1:3340",
        ] {
            assert!(ServerEntries::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "example.org",
            "ftp://example.org",
            "https://",
            "https://:443",
            "http://exa mple.org",
            "http://example.org\r\n",
            "http://ex\"ample.org",
        ] {
            assert!(
                matches!(ServerEntries::new(bad), Err(ConfigError::RelayUrl(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn setters() {
        let e = ServerEntries::new("https://example.org")
            .unwrap()
            .with_comment("line one\nline two")
            .unwrap()
            .with_admin("mailto:root@example.org")
            .unwrap()
            .with_turn("example.org:3478:1758650868:secret")
            .unwrap()
            .with_max_smtp_recipients(1000)
            .with_app_versions(r#"{"clients":[]}"#)
            .unwrap();
        assert_eq!(e.get(COMMENT), Some("line one\nline two"));
        assert_eq!(e.get(MAX_SMTP_RECIPIENTS), Some("1000"));
        assert_eq!(e.get("/SHARED/ADMIN"), Some("mailto:root@example.org"));
        assert_eq!(e.iter().count(), 6);
    }

    #[test]
    fn rejected_values() {
        let e = ServerEntries::new("https://example.org").unwrap();
        assert!(matches!(
            e.clone().with_admin("a\nb"),
            Err(ConfigError::Multiline(_))
        ));
        assert!(matches!(
            e.clone().with_comment("nul\0"),
            Err(ConfigError::ControlCharacter(_))
        ));
        let mut e2 = e.clone();
        assert!(matches!(
            e2.insert("/private/x", "v"),
            Err(ConfigError::NotShared(_))
        ));
        assert!(matches!(
            e2.insert("/other", "v"),
            Err(ConfigError::EntryName { .. })
        ));
        assert!(e2.insert("/shared/vendor/example/x", "v").is_ok());
    }
}
