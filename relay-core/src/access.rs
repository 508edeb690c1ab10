//! Access control: who may register after a valid handshake, the same
//! for both families. `shared_token` (from 1.x) needs a token the client
//! presents at the upgrade; 0.35 clients cannot, so it admits 1.x clients
//! only.

use std::collections::HashSet;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use crate::proto::key::NodeKey;

/// `access = "everyone"`, `access.allowlist = [...]`, `access.denylist =
/// [...]`, `access.http = { url, bearer_token }` or `access.shared_token =
/// [...]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessConfig {
    #[default]
    Everyone,
    Allowlist(#[serde(deserialize_with = "node_ids")] HashSet<NodeKey>),
    Denylist(#[serde(deserialize_with = "node_ids")] HashSet<NodeKey>),
    Http(HttpAccess),
    #[serde(rename = "shared_token")]
    SharedToken(Vec<String>),
}

/// Environment variable that replaces the `shared_token` list with one
/// token (as iroh-relay 1.x has it).
pub const ACCESS_TOKEN_ENV: &str = "IROH_RELAY_ACCESS_TOKEN";

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
    /// Decides locally for `key`, which presented `token`; `None` means
    /// the HTTP callout must be asked.
    pub fn decide_local(&self, key: &NodeKey, token: Option<&str>) -> Option<Decision> {
        let allow = |b: bool| Some(if b { Decision::Allow } else { Decision::Deny });
        match self {
            AccessConfig::Everyone => allow(true),
            AccessConfig::Allowlist(set) => allow(set.contains(key)),
            AccessConfig::Denylist(set) => allow(!set.contains(key)),
            AccessConfig::Http(_) => None,
            AccessConfig::SharedToken(tokens) => {
                allow(token.is_some_and(|t| tokens.iter().any(|k| k == t)))
            }
        }
    }

    /// The environment's say: `IROH_RELAY_ACCESS_TOKEN` replaces the
    /// shared tokens; an empty list or token is refused.
    pub fn resolve(self) -> Result<Self, String> {
        let AccessConfig::SharedToken(tokens) = self else {
            return Ok(self);
        };
        let tokens = match std::env::var(ACCESS_TOKEN_ENV) {
            Ok(t) => vec![t],
            Err(_) => tokens,
        };
        if tokens.is_empty() || tokens.iter().any(String::is_empty) {
            return Err("access.shared_token needs at least one non-empty token".into());
        }
        Ok(AccessConfig::SharedToken(tokens))
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
        assert_eq!(c.access.decide_local(&key(), None), Some(Decision::Allow));
        let c = ConfigFile::parse(&format!("[access]\nallowlist = [\"{HEX}\"]")).unwrap();
        assert_eq!(c.access.decide_local(&key(), None), Some(Decision::Allow));
        assert_eq!(c.access.decide_local(&[9; 32], None), Some(Decision::Deny));
        let b32 = iroh_base::PublicKey::from_bytes(&key())
            .unwrap()
            .to_string();
        let c = ConfigFile::parse(&format!("access.denylist = [\"{b32}\"]")).unwrap();
        assert_eq!(c.access.decide_local(&key(), None), Some(Decision::Deny));
        let c = ConfigFile::parse("[access.http]\nurl = \"http://127.0.0.1:1/\"\n").unwrap();
        assert_eq!(c.access.decide_local(&key(), None), None);
    }

    #[test]
    fn shared_tokens() {
        let c = ConfigFile::parse("access.shared_token = [\"tok-a\", \"tok-b\"]").unwrap();
        let a = c.access.resolve().unwrap();
        assert_eq!(a.decide_local(&key(), Some("tok-b")), Some(Decision::Allow));
        assert_eq!(a.decide_local(&key(), Some("tok-c")), Some(Decision::Deny));
        assert_eq!(a.decide_local(&key(), None), Some(Decision::Deny));
        let empty = ConfigFile::parse("access.shared_token = []").unwrap();
        assert!(empty.access.resolve().is_err());
        let blank = ConfigFile::parse("access.shared_token = [\"\"]").unwrap();
        assert!(blank.access.resolve().is_err());
    }

    #[test]
    fn bad_ids() {
        assert!(ConfigFile::parse("access.allowlist = [\"nothex\"]").is_err());
        assert!(ConfigFile::parse("access = \"nobody\"").is_err());
    }
}
