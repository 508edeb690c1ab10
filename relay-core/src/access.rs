//! Access control (PROTOCOL.md section 6): who may register after a valid
//! handshake.

use std::collections::HashSet;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use crate::proto::key::NodeKey;

/// `access = "everyone"`, `access.allowlist = [...]`, `access.denylist =
/// [...]` or `access.http = { url, bearer_token }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessConfig {
    #[default]
    Everyone,
    Allowlist(#[serde(deserialize_with = "node_ids")] HashSet<NodeKey>),
    Denylist(#[serde(deserialize_with = "node_ids")] HashSet<NodeKey>),
    Http(HttpAccess),
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpAccess {
    pub url: String,
    pub bearer_token: Option<String>,
}

/// Node ids as 64 hex characters or 52 base32 characters, valid points.
fn node_ids<'de, D: Deserializer<'de>>(d: D) -> Result<HashSet<NodeKey>, D::Error> {
    let list = Vec::<String>::deserialize(d)?;
    list.iter()
        .map(|s| {
            iroh_base::PublicKey::from_str(s)
                .map(|k| *k.as_bytes())
                .map_err(|e| serde::de::Error::custom(format!("invalid node id {s:?}: {e}")))
        })
        .collect()
}

/// The decision for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

impl AccessConfig {
    /// Decides locally; `None` means the HTTP callout must be asked.
    pub fn decide_local(&self, key: &NodeKey) -> Option<Decision> {
        let allow = |b: bool| Some(if b { Decision::Allow } else { Decision::Deny });
        match self {
            AccessConfig::Everyone => allow(true),
            AccessConfig::Allowlist(set) => allow(set.contains(key)),
            AccessConfig::Denylist(set) => allow(!set.contains(key)),
            AccessConfig::Http(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigFile;

    const HEX: &str = "197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61";

    fn key() -> NodeKey {
        let mut k = [0u8; 32];
        for (i, b) in k.iter_mut().enumerate() {
            *b = u8::from_str_radix(&HEX[2 * i..2 * i + 2], 16).unwrap();
        }
        k
    }

    #[test]
    fn forms() {
        let c = ConfigFile::parse("access = \"everyone\"").unwrap();
        assert_eq!(c.access.decide_local(&key()), Some(Decision::Allow));
        let c = ConfigFile::parse(&format!("[access]\nallowlist = [\"{HEX}\"]")).unwrap();
        assert_eq!(c.access.decide_local(&key()), Some(Decision::Allow));
        assert_eq!(c.access.decide_local(&[9; 32]), Some(Decision::Deny));
        let b32 = iroh_base::PublicKey::from_bytes(&key())
            .unwrap()
            .to_string();
        let c = ConfigFile::parse(&format!("access.denylist = [\"{b32}\"]")).unwrap();
        assert_eq!(c.access.decide_local(&key()), Some(Decision::Deny));
        let c = ConfigFile::parse("[access.http]\nurl = \"http://127.0.0.1:1/\"\n").unwrap();
        assert_eq!(c.access.decide_local(&key()), None);
    }

    #[test]
    fn bad_ids() {
        assert!(ConfigFile::parse("access.allowlist = [\"nothex\"]").is_err());
        assert!(ConfigFile::parse("access = \"nobody\"").is_err());
    }
}
