//! Settings from the TOML file merged with command-line flags.
//!
//! ```toml
//! [entries]
//! irohrelay = "https://mail.example.org"
//! comment = "Example chatmail server"
//! admin = "mailto:root@example.org"
//! # turn = "mail.example.org:3478:1758650868:secret"
//! # maxsmtprecipients = 1000
//! # appversions = '{"clients":[]}'
//!
//! [limits]
//! idle_timeout = 1800
//! max_line = 8192
//! max_literal = 65536
//! max_entries = 64
//! max_connections = 1000
//!
//! [serve]
//! listen = "127.0.0.1:1143"
//! users = "/etc/imap-meta/users"
//!
//! [proxy]
//! listen = "0.0.0.0:993"
//! upstream = "127.0.0.1:143"
//! upstream_tls = false
//! # upstream_ca = "/etc/ssl/upstream-ca.pem"
//! # upstream_server_name = "mail.example.org"
//! # upstream_tls_insecure = false
//! tls_cert = "/etc/letsencrypt/live/mail.example.org/fullchain.pem"
//! tls_key = "/etc/letsencrypt/live/mail.example.org/privkey.pem"
//! tls_mode = "implicit"   # or "starttls"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use imap_meta::{Limits, Responder, ServerEntries};
use serde::Deserialize;

use crate::cli::{EntryArgs, LimitArgs, ProxyArgs, ServeArgs, TlsMode};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    entries: FileEntries,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    serve: FileServe,
    #[serde(default)]
    proxy: FileProxy,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntries {
    irohrelay: Option<String>,
    comment: Option<String>,
    admin: Option<String>,
    turn: Option<String>,
    maxsmtprecipients: Option<u32>,
    appversions: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    idle_timeout: Option<u64>,
    max_line: Option<usize>,
    max_literal: Option<u64>,
    max_entries: Option<usize>,
    max_connections: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileServe {
    listen: Option<SocketAddr>,
    users: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileProxy {
    listen: Option<SocketAddr>,
    upstream: Option<String>,
    upstream_tls: Option<bool>,
    upstream_ca: Option<PathBuf>,
    upstream_server_name: Option<String>,
    upstream_tls_insecure: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_mode: Option<TlsMode>,
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> Result<FileConfig> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).map_err(|e| {
            anyhow!(
                "parsing config file {}: {}",
                path.display(),
                toml_error(&text, &e)
            )
        })
    }
}

/// A TOML error on one line, with the line number when known
/// (`line 3: unknown field `foo`, expected ...`).
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().lines().collect::<Vec<_>>().join(": ");
    match e.span() {
        Some(span) => {
            let line = text
                .get(..span.start)
                .map_or(0, |t| t.matches('\n').count())
                + 1;
            format!("line {line}: {message}")
        }
        None => message,
    }
}

/// Settings shared by both modes.
#[derive(Debug, Clone)]
pub struct Common {
    pub responder: Arc<Responder>,
    /// Limits for commands this process parses itself.
    pub limits: Limits,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

#[derive(Debug)]
pub struct ServeSettings {
    pub listen: SocketAddr,
    pub users: Option<PathBuf>,
    pub common: Common,
}

#[derive(Debug)]
pub struct ProxySettings {
    pub listen: SocketAddr,
    pub upstream: String,
    pub upstream_tls: bool,
    pub upstream_ca: Option<PathBuf>,
    pub upstream_server_name: Option<String>,
    pub upstream_tls_insecure: bool,
    pub client_tls: Option<ClientTls>,
    /// Limits for the pass-through stream (line length, literal size).
    pub stream_limits: Limits,
    pub common: Common,
}

#[derive(Debug)]
pub struct ClientTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub mode: TlsMode,
}

/// Pass-through defaults: long UID sets and message-sized literals are
/// normal IMAP traffic; the upstream enforces its own limits too.
const PROXY_MAX_LINE: usize = 64 * 1024;
const PROXY_MAX_LITERAL: u64 = 1024 * 1024 * 1024;

fn entries(file: FileEntries, args: EntryArgs) -> Result<ServerEntries> {
    let Some(relay) = args.relay_url.or(file.irohrelay) else {
        bail!("the iroh relay URL is required: --relay-url URL or irohrelay in [entries]");
    };
    let mut entries = ServerEntries::new(&relay)?;
    if let Some(v) = args.comment.or(file.comment) {
        entries = entries.with_comment(&v)?;
    }
    if let Some(v) = args.admin.or(file.admin) {
        entries = entries.with_admin(&v)?;
    }
    if let Some(v) = args.turn.or(file.turn) {
        entries = entries.with_turn(&v)?;
    }
    if let Some(v) = args.max_smtp_recipients.or(file.maxsmtprecipients) {
        entries = entries.with_max_smtp_recipients(v);
    }
    if let Some(v) = args.app_versions.or(file.appversions) {
        entries = entries.with_app_versions(&v)?;
    }
    Ok(entries)
}

fn common(file: FileConfig, entry_args: EntryArgs, limit_args: &LimitArgs) -> Result<Common> {
    let defaults = Limits::DEFAULT;
    let limits = Limits {
        max_line: limit_args
            .max_line
            .or(file.limits.max_line)
            .unwrap_or(defaults.max_line),
        max_literal: limit_args
            .max_literal
            .or(file.limits.max_literal)
            .unwrap_or(defaults.max_literal),
        max_entries: limit_args
            .max_entries
            .or(file.limits.max_entries)
            .unwrap_or(defaults.max_entries),
        ..defaults
    };
    if limits.max_line < 64 || limits.max_entries == 0 {
        bail!("max_line must be at least 64 and max_entries at least 1");
    }
    let limits = Limits {
        max_command: limits.max_command.max(limits.max_literal.saturating_mul(2)),
        ..limits
    };
    let idle = limit_args
        .idle_timeout
        .or(file.limits.idle_timeout)
        .unwrap_or(1800);
    if idle == 0 {
        bail!("idle_timeout must be at least 1 second");
    }
    let responder = Responder::new(entries(file.entries, entry_args)?, limits.clone());
    Ok(Common {
        responder: Arc::new(responder),
        limits,
        idle_timeout: Duration::from_secs(idle),
        max_connections: limit_args
            .max_connections
            .or(file.limits.max_connections)
            .unwrap_or(1000)
            .max(1),
    })
}

pub fn serve_settings(file: FileConfig, args: ServeArgs) -> Result<ServeSettings> {
    let listen = args.listen.or(file.serve.listen);
    let users = args.users.or(file.serve.users.clone());
    let common = common(file, args.entries, &args.limits)?;
    Ok(ServeSettings {
        listen: listen.unwrap_or_else(default_listen),
        users,
        common,
    })
}

pub fn proxy_settings(mut file: FileConfig, args: ProxyArgs) -> Result<ProxySettings> {
    let p = std::mem::take(&mut file.proxy);
    let Some(upstream) = args.upstream.or(p.upstream) else {
        bail!("the upstream server is required: --upstream HOST:PORT or upstream in [proxy]");
    };
    let stream_limits = Limits {
        max_line: args
            .limits
            .max_line
            .or(file.limits.max_line)
            .unwrap_or(PROXY_MAX_LINE),
        max_literal: args
            .limits
            .max_literal
            .or(file.limits.max_literal)
            .unwrap_or(PROXY_MAX_LITERAL),
        max_command: u64::MAX,
        ..Limits::DEFAULT
    };
    let cert = args.tls_cert.or(p.tls_cert);
    let key = args.tls_key.or(p.tls_key);
    let mode = args.tls_mode.or(p.tls_mode);
    let client_tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(ClientTls {
            cert,
            key,
            mode: mode.unwrap_or(TlsMode::Implicit),
        }),
        (None, None) if mode.is_none() => None,
        _ => bail!("TLS towards clients needs both --tls-cert and --tls-key"),
    };
    let common = common(file, args.entries, &args.limits)?;
    Ok(ProxySettings {
        listen: args.listen.or(p.listen).unwrap_or_else(default_listen),
        upstream,
        upstream_tls: args.upstream_tls || p.upstream_tls.unwrap_or(false),
        upstream_ca: args.upstream_ca.or(p.upstream_ca),
        upstream_server_name: args.upstream_server_name.or(p.upstream_server_name),
        upstream_tls_insecure: args.upstream_tls_insecure
            || p.upstream_tls_insecure.unwrap_or(false),
        client_tls,
        stream_limits,
        common,
    })
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 1143))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> crate::cli::Cli {
        crate::cli::Cli::try_parse_from(args).expect("valid args")
    }

    #[test]
    fn flags_override_file() {
        let file: FileConfig = toml::from_str(
            r#"
            [entries]
            irohrelay = "https://file.example.org"
            comment = "from file"
            [limits]
            idle_timeout = 60
            [serve]
            listen = "127.0.0.1:2000"
            "#,
        )
        .unwrap();
        let cli = parse(&[
            "imap-meta",
            "serve",
            "--relay-url",
            "http://flag.example.org:3340",
        ]);
        let crate::cli::Mode::Serve(args) = cli.mode else {
            panic!()
        };
        let s = serve_settings(file, args).unwrap();
        assert_eq!(s.listen, "127.0.0.1:2000".parse().unwrap());
        assert_eq!(s.common.idle_timeout, Duration::from_secs(60));
        let e = s.common.responder.entries();
        assert_eq!(
            e.get(imap_meta::IROH_RELAY),
            Some("http://flag.example.org:3340")
        );
        assert_eq!(e.get(imap_meta::COMMENT), Some("from file"));
    }

    #[test]
    fn defaults_and_errors() {
        let cli = parse(&["imap-meta", "serve", "--relay-url", "https://x.org"]);
        let crate::cli::Mode::Serve(args) = cli.mode else {
            panic!()
        };
        let s = serve_settings(FileConfig::default(), args).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:1143");

        let cli = parse(&["imap-meta", "serve"]);
        let crate::cli::Mode::Serve(args) = cli.mode else {
            panic!()
        };
        assert!(serve_settings(FileConfig::default(), args).is_err());

        let cli = parse(&["imap-meta", "proxy", "--relay-url", "https://x.org"]);
        let crate::cli::Mode::Proxy(args) = cli.mode else {
            panic!()
        };
        assert!(proxy_settings(FileConfig::default(), args).is_err());

        let cli = parse(&[
            "imap-meta",
            "proxy",
            "--relay-url",
            "https://x.org",
            "--upstream",
            "127.0.0.1:143",
            "--tls-cert",
            "c.pem",
        ]);
        let crate::cli::Mode::Proxy(args) = cli.mode else {
            panic!()
        };
        assert!(proxy_settings(FileConfig::default(), args).is_err());

        assert!(toml::from_str::<FileConfig>("[entries]\nunknown = 1\n").is_err());
    }
}
