//! Reading a config file: TOML into [`ConfigFile`], every key the relay
//! does not know collected with its line (the parser decides what is
//! unknown), and every error one line naming the file and line.

use std::fmt;
use std::path::Path;

use super::{schema, Config, ConfigFile};

/// Why a config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    Missing(String),
    #[error("config path {0} exists but is not a file")]
    NotAFile(String),
    #[error("cannot read config {0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0}")]
    Invalid(Invalid),
}

/// A file that reads but breaks a rule, or is not TOML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub file: Option<String>,
    pub line: Option<usize>,
    /// The key the rule is about, to find its line.
    pub key: Option<String>,
    pub message: String,
}

impl Invalid {
    pub fn at_key(key: &str, message: impl Into<String>) -> Self {
        Self {
            file: None,
            line: None,
            key: Some(key.to_owned()),
            message: message.into(),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid config")?;
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, " {file}, line {line}")?,
            (Some(file), None) => write!(f, " {file}")?,
            (None, Some(line)) => write!(f, ", line {line}")?,
            (None, None) => {}
        }
        write!(f, ": {}", self.message)
    }
}

/// A key the relay does not read: a typo, or a key in the wrong table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// Dotted, e.g. `access.http.shards`.
    pub key: String,
    pub line: Option<usize>,
    pub hint: Option<String>,
}

impl fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        write!(f, "unknown key {}", self.key)?;
        match &self.hint {
            Some(h) => write!(f, " ({h}); it is ignored"),
            None => f.write_str(", ignored"),
        }
    }
}

/// A parsed file: its settings, its unknown keys, and what is needed to
/// place later errors (the text and the file's name).
#[derive(Debug)]
pub struct Loaded {
    pub file: ConfigFile,
    pub unknown: Vec<UnknownKey>,
    pub name: Option<String>,
    text: String,
}

impl Loaded {
    /// [`ConfigFile::resolve`], with errors placed at their key's line.
    pub fn resolve(self, dev: bool) -> Result<Config, ConfigError> {
        let Loaded {
            file, name, text, ..
        } = self;
        file.resolve(dev).map_err(|e| match e {
            ConfigError::Invalid(mut inv) => {
                if inv.line.is_none() {
                    inv.line = inv.key.as_deref().and_then(|k| line_of_key(&text, k));
                }
                inv.file = name;
                ConfigError::Invalid(inv)
            }
            other => other,
        })
    }
}

/// Reads `path`, which must exist.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let name = path.display().to_string();
    if !path.exists() {
        return Err(ConfigError::Missing(name));
    }
    if !path.is_file() {
        return Err(ConfigError::NotAFile(name));
    }
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(name.clone(), e))?;
    let mut loaded = parse(&text).map_err(|e| match e {
        ConfigError::Invalid(mut inv) => {
            inv.file = Some(name.clone());
            ConfigError::Invalid(inv)
        }
        other => other,
    })?;
    loaded.name = Some(name);
    Ok(loaded)
}

/// Parses TOML text, collecting unknown keys.
pub fn parse(text: &str) -> Result<Loaded, ConfigError> {
    let mut unknown = Vec::new();
    let de = toml::Deserializer::new(text);
    let file: ConfigFile = serde_ignored::deserialize(de, |path| {
        let mut segments = Vec::new();
        segments_of(&path, &mut segments);
        unknown.push(segments);
    })
    .map_err(|e| {
        let message = e.message().lines().collect::<Vec<_>>().join(": ");
        let line = e.span().map(|s| line_at(text, s.start));
        ConfigError::Invalid(Invalid {
            file: None,
            line,
            key: None,
            message,
        })
    })?;
    let unknown = unknown
        .into_iter()
        .map(|segments| UnknownKey {
            line: line_of_path(text, &segments),
            hint: schema::hint(&segments),
            key: segments.join("."),
        })
        .collect();
    Ok(Loaded {
        file,
        unknown,
        name: None,
        text: text.to_owned(),
    })
}

/// The table keys and array indices of `path`, outermost first.
fn segments_of(path: &serde_ignored::Path<'_>, out: &mut Vec<String>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            segments_of(parent, out);
            out.push(index.to_string());
        }
        Path::Map { parent, key } => {
            segments_of(parent, out);
            out.push(key.clone());
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => segments_of(parent, out),
    }
}

/// 1-based line of byte offset `at`.
fn line_at(text: &str, at: usize) -> usize {
    text.get(..at).map_or(0, |t| t.matches('\n').count()) + 1
}

fn line_of_key(text: &str, dotted: &str) -> Option<usize> {
    let segments: Vec<String> = dotted.split('.').map(str::to_owned).collect();
    line_of_path(text, &segments)
}

/// The line where the key at `segments` is written (the deepest part of
/// it that is found).
fn line_of_path(text: &str, segments: &[String]) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut table: &dyn toml_edit::TableLike = doc.as_table();
    let mut at = None;
    for s in segments {
        let Some((key, item)) = table.get_key_value(s) else {
            break;
        };
        at = key.span().map(|r| r.start).or(at);
        match item.as_table_like() {
            Some(t) => table = t,
            None => break,
        }
    }
    at.map(|a| line_at(text, a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_with_lines_and_hints() {
        let text = "enable_relay = true\nhttp_bind_adr = \"[::]:3340\"\n\
                    enabel_stun = false\n[access.http]\nurl = \"http://127.0.0.1:1/\"\nshards = 1\n";
        let l = parse(text).unwrap();
        let shown: Vec<String> = l.unknown.iter().map(|u| u.to_string()).collect();
        assert_eq!(
            shown,
            [
                "line 2: unknown key http_bind_adr (did you mean http_bind_addr?); it is ignored",
                "line 3: unknown key enabel_stun (did you mean enable_stun?); it is ignored",
                "line 6: unknown key access.http.shards (shards is a top-level key: put it above the first [table]); it is ignored",
            ]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("enable_relay = true\n[limits\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("invalid config, line 2: "), "{e}");
        let e = parse("\nhttp_bind_addr = \"nowhere\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("\"nowhere\""), "{e}");
        let e = parse("enable_stun = true\n\nshards = 0\n")
            .unwrap()
            .resolve(false)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "invalid config, line 3: shards must be at least 1");
        let e = parse("[limits.client.rx]\nmax_burst_bytes = 5\n")
            .unwrap()
            .resolve(false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2: limits.client.rx.max_burst_bytes requires"),
            "{e}"
        );
    }

    #[test]
    fn missing_and_directories() {
        let e = load(Path::new("/nonexistent/iroh-relay.toml")).unwrap_err();
        assert!(matches!(e, ConfigError::Missing(_)), "{e}");
        let e = load(Path::new("/")).unwrap_err();
        assert!(matches!(e, ConfigError::NotAFile(_)), "{e}");
    }
}
