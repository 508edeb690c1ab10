//! Access control: who may register after a valid handshake, the same
//! for both families. `shared_token` (from 1.x) needs a token the client
//! presents at the upgrade; 0.35 clients cannot, so it admits 1.x clients
//! only.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::proto::key::NodeKey;

/// `access = "everyone"`, `access.allowlist = [...]`, `access.denylist =
/// [...]`, `access.http = { url, bearer_token }` or `access.shared_token =
/// [...]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AccessConfig {
    #[default]
    Everyone,
    Allowlist(HashSet<NodeKey>),
    Denylist(HashSet<NodeKey>),
    Http(HttpAccess),
    SharedToken(Vec<String>),
}

/// Environment variable that replaces the `shared_token` list with one
/// token (as iroh-relay 1.x has it).
pub const ACCESS_TOKEN_ENV: &str = "IROH_RELAY_ACCESS_TOKEN";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HttpAccess {
    #[serde(deserialize_with = "http_url")]
    pub url: String,
    pub bearer_token: Option<String>,
}

/// The decision for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

/// The modes, as the config names them.
const MODES: &str =
    "\"everyone\", access.allowlist, access.denylist, access.http or access.shared_token";

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

    /// The mode's config name.
    pub fn mode(&self) -> &'static str {
        match self {
            AccessConfig::Everyone => "everyone",
            AccessConfig::Allowlist(_) => "allowlist",
            AccessConfig::Denylist(_) => "denylist",
            AccessConfig::Http(_) => "http",
            AccessConfig::SharedToken(_) => "shared_token",
        }
    }
}

/// For logs: the mode and its size, never a token.
impl fmt::Display for AccessConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = |n: usize| if n == 1 { "key" } else { "keys" };
        match self {
            AccessConfig::Everyone => f.write_str("everyone"),
            AccessConfig::Allowlist(s) => write!(f, "allowlist of {} {}", s.len(), keys(s.len())),
            AccessConfig::Denylist(s) => write!(f, "denylist of {} {}", s.len(), keys(s.len())),
            AccessConfig::Http(h) => write!(f, "http callout to {}", h.url),
            AccessConfig::SharedToken(t) => {
                let n = t.len();
                write!(
                    f,
                    "shared_token ({n} {})",
                    if n == 1 { "token" } else { "tokens" }
                )
            }
        }
    }
}

/// Parses an endpoint id as the references write it: 64 hex or 52
/// base32 characters, and a valid public key.
pub fn parse_node_id(text: &str) -> Result<NodeKey, String> {
    let t = text.trim();
    let bytes = match t.len() {
        64 => data_encoding::HEXLOWER_PERMISSIVE.decode(t.as_bytes()).ok(),
        52 => data_encoding::BASE32_NOPAD
            .decode(t.to_ascii_uppercase().as_bytes())
            .ok(),
        n => {
            return Err(format!(
                "{text:?} is not an endpoint id ({n} characters; an id is 64 hex or 52 base32 characters)"
            ))
        }
    };
    let key: NodeKey = bytes
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("{text:?} is not an endpoint id (not hex or base32)"))?;
    if !crate::proto::key::is_valid_point(&key) {
        return Err(format!(
            "{text:?} is not an endpoint id (not a valid public key: a character is wrong)"
        ));
    }
    Ok(key)
}

impl<'de> Deserialize<'de> for AccessConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AccessVisitor)
    }
}

struct AccessVisitor;

impl<'de> Visitor<'de> for AccessVisitor {
    type Value = AccessConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "one of {MODES}")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<AccessConfig, E> {
        match v {
            "everyone" => Ok(AccessConfig::Everyone),
            "allowlist" | "denylist" | "shared_token" => Err(E::custom(format!(
                "access = \"{v}\" needs its list: write access.{v} = [\"...\"] instead"
            ))),
            "http" => Err(E::custom(
                "access = \"http\" needs a URL: write access.http.url = \"...\" instead",
            )),
            other => Err(E::custom(format!(
                "access = {other:?} is not an access mode: use {MODES}"
            ))),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AccessConfig, A::Error> {
        let mut found: Option<AccessConfig> = None;
        while let Some(key) = map.next_key::<String>()? {
            let mode = match key.as_str() {
                "allowlist" => AccessConfig::Allowlist(map.next_value_seed(KeyList("allowlist"))?),
                "denylist" => AccessConfig::Denylist(map.next_value_seed(KeyList("denylist"))?),
                "http" => AccessConfig::Http(map.next_value()?),
                "shared_token" => AccessConfig::SharedToken(map.next_value::<TokenList>()?.0),
                other => {
                    return Err(de::Error::custom(format!(
                        "access.{other} is not an access mode: use {MODES}"
                    )))
                }
            };
            if let Some(first) = &found {
                return Err(de::Error::custom(format!(
                    "access has both {} and {}: a relay has one access mode",
                    first.mode(),
                    mode.mode()
                )));
            }
            found = Some(mode);
        }
        found.ok_or_else(|| de::Error::custom(format!("access is empty: use {MODES}")))
    }
}

/// A list of endpoint ids, each checked; names its list in errors.
struct KeyList(&'static str);

impl<'de> de::DeserializeSeed<'de> for KeyList {
    type Value = HashSet<NodeKey>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let list = Vec::<String>::deserialize(d).map_err(|_| {
            de::Error::custom(format!(
                "access.{} is a list of endpoint ids: write access.{} = [\"<id>\", ...]",
                self.0, self.0
            ))
        })?;
        list.iter()
            .map(|s| {
                parse_node_id(s).map_err(|e| de::Error::custom(format!("access.{}: {e}", self.0)))
            })
            .collect()
    }
}

/// `shared_token` is a list; a single string is a common slip.
struct TokenList(Vec<String>);

impl<'de> Deserialize<'de> for TokenList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<String>::deserialize(d).map(TokenList).map_err(|_| {
            de::Error::custom(
                "access.shared_token is a list of strings: write access.shared_token = [\"token\"]",
            )
        })
    }
}

/// `access.http.url`: an absolute http or https URL, checked now so a
/// typo fails the start instead of denying every client.
fn http_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    match url::Url::parse(&text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(text),
        Ok(u) => Err(de::Error::custom(format!(
            "access.http.url {text:?} is not an http:// or https:// URL (scheme {:?})",
            u.scheme()
        ))),
        Err(e) => Err(de::Error::custom(format!(
            "access.http.url {text:?} is not a URL ({e})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigFile;

    const HEX: &str = "197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61";

    fn key() -> NodeKey {
        parse_node_id(HEX).unwrap()
    }

    fn err(text: &str) -> String {
        ConfigFile::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn forms() {
        let c = ConfigFile::parse("access = \"everyone\"").unwrap();
        assert_eq!(c.access.decide_local(&key(), None), Some(Decision::Allow));
        let c = ConfigFile::parse(&format!("[access]\nallowlist = [\"{HEX}\"]")).unwrap();
        assert_eq!(c.access.decide_local(&key(), None), Some(Decision::Allow));
        assert_eq!(c.access.decide_local(&[9; 32], None), Some(Decision::Deny));
        assert_eq!(c.access.to_string(), "allowlist of 1 key");
        let b32 = iroh_base::PublicKey::from_bytes(&key())
            .unwrap()
            .to_string();
        let c = ConfigFile::parse(&format!("access.denylist = [\"{b32}\"]")).unwrap();
        assert_eq!(c.access.decide_local(&key(), None), Some(Decision::Deny));
        let c = ConfigFile::parse("[access.http]\nurl = \"http://127.0.0.1:1/\"\n").unwrap();
        assert_eq!(c.access.decide_local(&key(), None), None);
        let c = ConfigFile::parse("access.http.url = \"https://auth.example/x\"").unwrap();
        assert_eq!(c.access.mode(), "http");
    }

    #[test]
    fn shared_tokens() {
        let c = ConfigFile::parse("access.shared_token = [\"tok-a\", \"tok-b\"]").unwrap();
        let a = c.access.resolve().unwrap();
        assert_eq!(a.decide_local(&key(), Some("tok-b")), Some(Decision::Allow));
        assert_eq!(a.decide_local(&key(), Some("tok-c")), Some(Decision::Deny));
        assert_eq!(a.decide_local(&key(), None), Some(Decision::Deny));
        assert_eq!(a.to_string(), "shared_token (2 tokens)");
        let empty = ConfigFile::parse("access.shared_token = []").unwrap();
        assert!(empty.access.resolve().is_err());
        let blank = ConfigFile::parse("access.shared_token = [\"\"]").unwrap();
        assert!(blank.access.resolve().is_err());
        assert!(err("access.shared_token = \"tok\"").contains("is a list"));
    }

    #[test]
    fn mistakes_are_explained() {
        let e = err(&format!(
            "[access]\nallowlist = [\"{HEX}\"]\ndenylist = [\"{HEX}\"]\n"
        ));
        assert!(e.contains("both allowlist and denylist"), "{e}");
        let e = err("access = \"allowlist\"");
        assert!(e.contains("needs its list"), "{e}");
        let e = err("access = \"nobody\"");
        assert!(e.contains("is not an access mode"), "{e}");
        let e = err("access.allowlst = []");
        assert!(e.contains("access.allowlst is not an access mode"), "{e}");
        let e = err("access.allowlist = [\"nothex\"]");
        assert!(e.contains("\"nothex\" is not an endpoint id"), "{e}");
        // Right length, one character off: not a point on the curve.
        let bad = format!("{}0", &HEX[..63]);
        let e = err(&format!("access.allowlist = [\"{bad}\"]"));
        assert!(e.contains("not a valid public key"), "{e}");
        assert!(!e.contains("Edwards"), "{e}");
        let e = err("[access.http]\nurl = \"not a url\"\n");
        assert!(e.contains("is not a URL"), "{e}");
        let e = err("[access.http]\nurl = \"ftp://x/\"\n");
        assert!(e.contains("not an http:// or https:// URL"), "{e}");
        for e in [
            err("access.allowlist = [\"nothex\"]"),
            err("\n\n[access.http]\nurl = \"nope\"\n"),
        ] {
            assert!(e.contains("line "), "no line in {e}");
        }
    }
}
