//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

/// Publishes the iroh relay URL (and other server entries) to Delta Chat
/// clients through IMAP METADATA (RFC 5464).
#[derive(Debug, Parser)]
#[command(name = "imap-meta", version, about)]
pub struct Cli {
    /// TOML configuration file. Command-line flags override its values.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub mode: Mode,
}

#[derive(Debug, Subcommand)]
pub enum Mode {
    /// Minimal standalone IMAP server that answers METADATA, for development
    /// and tests (default listen address 127.0.0.1:1143).
    Serve(ServeArgs),
    /// Transparent proxy that adds METADATA in front of an existing IMAP server.
    Proxy(ProxyArgs),
    /// Checks relay discovery as a Delta Chat client does it: logs in, asks
    /// GETMETADATA for the relay URL, then probes that relay (as
    /// `uring-relay probe`). Exits 0 when both pass, 1 when one fails, 2
    /// for a usage error.
    Probe(ProbeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:1143].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// File with `user:password` lines. Without it any login is accepted.
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    #[command(flatten)]
    pub entries: EntryArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Address to listen on [default: 127.0.0.1:1143].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// The IMAP server to forward to.
    #[arg(long, value_name = "HOST:PORT")]
    pub upstream: Option<String>,
    /// Connect to the upstream with implicit TLS (e.g. port 993).
    #[arg(long)]
    pub upstream_tls: bool,
    /// PEM file with CA certificates that sign the upstream's certificate
    /// [default: the Mozilla root store].
    #[arg(long, value_name = "FILE")]
    pub upstream_ca: Option<PathBuf>,
    /// Name to verify the upstream certificate against [default: the host of --upstream].
    #[arg(long, value_name = "NAME")]
    pub upstream_server_name: Option<String>,
    /// Do not verify the upstream certificate (only for a trusted local network).
    #[arg(long)]
    pub upstream_tls_insecure: bool,
    /// PEM certificate chain for TLS towards clients.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS towards clients.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// How clients start TLS when a certificate is configured [default: implicit].
    #[arg(long, value_enum)]
    pub tls_mode: Option<TlsMode>,
    #[command(flatten)]
    pub entries: EntryArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("secret").required(true)
    .args(["password_file", "password_env", "password"])))]
#[command(after_help = "\
The password comes from --password-file (its first line) or --password-env;
--password is for tests only: other users can read it in the process list.

The relay probe runs on the advertised URL as `uring-relay probe` does:
an https:// URL (chatmail advertises https://<mail domain>, with nginx in
front of the relay) is checked over TLS with the same --ca-file or
--insecure as the IMAP server; --relay-protocol and --relay-token are
`uring-relay probe`'s --protocol and --token.

Exit status: 0 when the login, the METADATA answer and the relay probe pass,
1 when one fails (the reason is printed), 2 for a usage error.

Example: imap-meta probe --host mail.example.org --tls imaps \\
    --user probe@mail.example.org --password-file /etc/imap-meta/probe-password")]
pub struct ProbeArgs {
    /// IMAP server host name (also the name its certificate must carry).
    #[arg(long, value_name = "HOST")]
    pub host: String,
    /// IMAP port [default: 993 with imaps, 143 with starttls and plain].
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// How to reach the server: TLS from the first byte, STARTTLS, or no TLS.
    #[arg(long, value_enum, default_value = "imaps")]
    pub tls: ProbeTls,
    /// The account to log in with.
    #[arg(long, value_name = "USER")]
    pub user: String,
    /// File whose first line is the password.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Environment variable that holds the password.
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// The password itself (visible in the process list; for tests).
    #[arg(long, value_name = "PASSWORD")]
    pub password: Option<String>,
    /// PEM file with the CA certificates to verify the IMAP server and an
    /// https:// relay with [default: the Mozilla root store for IMAP, the
    /// system's trusted CAs for the relay].
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Do not verify the IMAP server's or an https:// relay's certificate
    /// (reports say so).
    #[arg(long)]
    pub insecure: bool,
    /// What the relay probe's clients speak: derp or ws (iroh 0.35, what
    /// Delta Chat clients use), v2 or v1 (iroh 1.x).
    #[arg(long, value_enum, value_name = "PROTOCOL", default_value = "derp")]
    pub relay_protocol: relay_probe::Protocol,
    /// Access token for a relay with access.shared_token (iroh 1.x clients
    /// send it as `Authorization: Bearer`; 0.35 clients cannot send one).
    #[arg(long, value_name = "TOKEN")]
    pub relay_token: Option<String>,
    /// Seconds to wait for each step (IMAP replies, and each relay probe step).
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_secs)]
    pub timeout: std::time::Duration,
    /// Packets each way in the relay probe.
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub count: u32,
    /// Only check discovery; do not probe the relay.
    #[arg(long)]
    pub no_relay_probe: bool,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    pub json: bool,
}

/// TLS towards the server being probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProbeTls {
    /// TLS from the first byte (port 993).
    Imaps,
    /// Plain connection upgraded with STARTTLS (port 143).
    Starttls,
    /// No TLS at all (only for a local test server).
    Plain,
}

fn parse_secs(s: &str) -> Result<std::time::Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 3600.0 => {
            Ok(std::time::Duration::from_secs_f64(v))
        }
        _ => Err(format!("{s:?}: expected seconds above 0")),
    }
}

/// TLS towards clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (port 993 style).
    Implicit,
    /// Plain connection upgraded by the STARTTLS command (port 143 style);
    /// LOGIN and AUTHENTICATE are refused before the upgrade.
    Starttls,
}

/// Server entries.
#[derive(Debug, Args, Default)]
pub struct EntryArgs {
    /// iroh relay URL published as /shared/vendor/deltachat/irohrelay (required).
    #[arg(long, value_name = "URL")]
    pub relay_url: Option<String>,
    /// Text published as /shared/comment.
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// URI published as /shared/admin, e.g. mailto:admin@example.org.
    #[arg(long, value_name = "URI")]
    pub admin: Option<String>,
    /// host:port:expiry:password published as /shared/vendor/deltachat/turn.
    #[arg(long, value_name = "VALUE")]
    pub turn: Option<String>,
    /// Number published as /shared/vendor/deltachat/maxsmtprecipients.
    #[arg(long, value_name = "N")]
    pub max_smtp_recipients: Option<u32>,
    /// Single-line JSON published as /shared/vendor/deltachat/appversions.
    #[arg(long, value_name = "JSON")]
    pub app_versions: Option<String>,
}

/// Input limits.
#[derive(Debug, Args, Default)]
pub struct LimitArgs {
    /// Close connections whose client sends nothing for this many seconds [default: 1800].
    #[arg(long, value_name = "SECS")]
    pub idle_timeout: Option<u64>,
    /// Longest accepted command line in bytes [default: serve 8192, proxy 65536].
    #[arg(long, value_name = "BYTES")]
    pub max_line: Option<usize>,
    /// Largest accepted literal in bytes [default: serve 65536, proxy 1073741824].
    #[arg(long, value_name = "BYTES")]
    pub max_literal: Option<u64>,
    /// Most entries in one GETMETADATA/SETMETADATA [default: 64].
    #[arg(long, value_name = "N")]
    pub max_entries: Option<usize>,
    /// Most simultaneous client connections [default: 1000].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
}
