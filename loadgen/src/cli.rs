//! Command line: the load run (default) and the `pump` baseline server.

use std::net::{SocketAddr, ToSocketAddrs};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, Rate};
use crate::duration::parse_duration;
use crate::fault::options::FaultArgs;
use crate::mix::Mix;
use crate::pattern::Pattern;
use crate::protocol::Protocol;

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    about = "Drives an iroh 0.35 or 1.x relay with many real clients and reports throughput, latency, drops and connect times",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Trivial forwarder used as the "machine limit" baseline (no checks).
    Pump(PumpArgs),
    /// Render markdown tables (median, min-max, ours/reference) from JSON reports
    /// labelled `scenario|shards|relay|round`.
    Summarize(SummarizeArgs),
    /// Draw SVG charts (pkt/s, latency percentiles) from the same JSON reports.
    Chart(ChartArgs),
}

#[derive(Debug, Args)]
pub struct ChartArgs {
    /// Scenario order, as NAME=HEADING (repeatable; the heading is unused).
    #[arg(long = "scenario")]
    pub scenarios: Vec<String>,
    /// Directory for throughput.svg and latency.svg.
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// JSON reports written with --json.
    pub files: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SummarizeArgs {
    /// Scenario order and headings, as NAME=HEADING (repeatable).
    #[arg(long = "scenario")]
    pub scenarios: Vec<String>,
    /// Print only the verdict against the performance targets (needs the
    /// bench/compare scenarios pairs1k, max10k, rate10k and idle10k).
    #[arg(long)]
    pub targets: bool,
    /// JSON reports written with --json.
    pub files: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PumpArgs {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:3343")]
    pub listen: SocketAddr,
    /// Worker threads (1 = a single current-thread runtime).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Relay base URL (http only; must resolve to a loopback address).
    #[arg(long, default_value = "http://127.0.0.1:3340")]
    pub url: String,
    /// Number of clients (each its own key and TCP connection).
    #[arg(long, default_value_t = 100)]
    pub clients: usize,
    /// Who sends to whom: pairs (i <-> i^1), ring (i -> i+1), fanout (client 0 -> all others, round robin).
    #[arg(long, value_enum, default_value_t = Pattern::Pairs)]
    pub pattern: Pattern,
    /// Packet payload bytes per SendPacket (>= 24: sender, sequence and timestamp live in it).
    #[arg(long, default_value_t = 1200)]
    pub size: usize,
    /// Total packets/s over all senders, or `max` (window-limited, see --window). 0 = idle clients.
    #[arg(long, default_value = "max")]
    pub rate: String,
    /// Traffic phase length (e.g. 30s, 500ms, 2m).
    #[arg(long, default_value = "10s")]
    pub duration: String,
    /// With --rate max: packets a sender may have in flight (sent, not yet delivered).
    #[arg(long, default_value_t = 64)]
    pub window: u32,
    #[arg(long, value_enum, default_value_t = Protocol::Derp)]
    pub protocol: Protocol,
    /// Protocols sharing the relay at once, by pair, e.g. `035:1x=1:1`
    /// (names 035, 1x, derp, ws, v1, v2; needs --pattern pairs). Overrides --protocol.
    #[arg(long)]
    pub mix: Option<String>,
    /// New connections per second over all threads (default: unlimited, bounded only by --connect-inflight).
    #[arg(long)]
    pub connect_rate: Option<f64>,
    /// Connection attempts in flight at once, over all threads.
    #[arg(long, default_value_t = 512)]
    pub connect_inflight: usize,
    /// Per-connection limit from TCP connect to the first Pong.
    #[arg(long, default_value = "10s")]
    pub connect_timeout: String,
    /// How long to wait after the traffic phase for in-flight packets before counting losses.
    #[arg(long, default_value = "2s")]
    pub grace: String,
    /// Spread client source addresses over 127.0.0.1 ..= 127.0.0.N (IPv4 loopback targets only).
    #[arg(long, default_value_t = 16)]
    pub src_ips: u8,
    /// Loadgen threads, each with its own runtime (default: CPUs this process may run on).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Also report this process's CPU time, CPU-ns per packet and RSS (the relay under test).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// With --server-pid: once the run is over and every client socket is
    /// closed, wait this long (e.g. 30, 30s) and read the server's RSS again,
    /// to see whether the memory of a burst goes back.
    #[arg(long, default_value = "0")]
    pub settle: String,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<String>,
    /// Label stored in the JSON (e.g. which relay was measured).
    #[arg(long)]
    pub label: Option<String>,
    /// Do not print live progress even on a terminal.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub fault: FaultArgs,
}

/// Smallest payload that holds the measurement header.
pub const MIN_SIZE: usize = crate::payload::HEADER_LEN;

impl RunArgs {
    pub fn into_config(self) -> Result<Config> {
        let (host, target) = parse_url(&self.url)?;
        if self.clients == 0 {
            bail!("--clients must be at least 1");
        }
        if self.size < MIN_SIZE || self.size > relay_proto::MAX_PACKET_SIZE {
            bail!(
                "--size must be between {MIN_SIZE} and {}",
                relay_proto::MAX_PACKET_SIZE
            );
        }
        if self.window == 0 {
            bail!("--window must be at least 1");
        }
        if self.connect_inflight == 0 {
            bail!("--connect-inflight must be at least 1");
        }
        if self.src_ips == 0 || self.src_ips == 255 {
            bail!("--src-ips must be between 1 and 254");
        }
        if matches!(self.connect_rate, Some(r) if r.is_nan() || r <= 0.0) {
            bail!("--connect-rate must be positive");
        }
        let settle = parse_duration(&self.settle).context("--settle")?;
        if !settle.is_zero() && self.server_pid.is_none() {
            bail!("--settle measures the server's memory and needs --server-pid");
        }
        let mix = match &self.mix {
            Some(m) => Mix::parse(m)?,
            None => Mix::single(self.protocol),
        };
        if mix.is_mixed() && self.pattern != Pattern::Pairs {
            bail!("--mix keeps each pair in one protocol and needs --pattern pairs");
        }
        let threads = match self.threads {
            Some(0) => bail!("--threads must be at least 1"),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        Ok(Config {
            url: self.url,
            target,
            host,
            clients: self.clients,
            pattern: self.pattern,
            size: self.size,
            rate: parse_rate(&self.rate)?,
            duration: parse_duration(&self.duration).context("--duration")?,
            window: self.window,
            protocol: self.protocol,
            mix,
            connect_rate: self.connect_rate,
            connect_inflight: self.connect_inflight,
            connect_timeout: parse_duration(&self.connect_timeout).context("--connect-timeout")?,
            grace: parse_duration(&self.grace).context("--grace")?,
            src_ips: self.src_ips,
            threads: threads.min(self.clients),
            server_pid: self.server_pid,
            settle,
            json: self.json,
            label: self.label,
            quiet: self.quiet,
            fault: self.fault.into_config()?,
        })
    }
}

/// Parses `max` or a non-negative packets/s figure.
pub fn parse_rate(s: &str) -> Result<Rate> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(Rate::Max);
    }
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r >= 0.0 => Ok(Rate::Fixed(r)),
        _ => bail!("--rate must be `max` or a number of packets/s, got {s:?}"),
    }
}

/// Splits `http://host[:port][/...]` into the Host header value and a
/// loopback socket address. Anything but loopback is refused: this tool
/// opens thousands of connections and must not point them at a real host.
pub fn parse_url(url: &str) -> Result<(String, SocketAddr)> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("--url must start with http:// (TLS is not supported), got {url:?}");
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        bail!("--url has no host: {url:?}");
    }
    let has_port = if authority.starts_with('[') {
        authority.contains("]:")
    } else {
        authority.contains(':')
    };
    let with_port = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .with_context(|| format!("resolving {authority}"))?
        .find(|a| a.ip().is_loopback())
        .with_context(|| format!("{authority} does not resolve to a loopback address; only 127.0.0.0/8 and ::1 are allowed"))?;
    // iroh clients omit the default port from Host.
    let host = authority
        .strip_suffix(":80")
        .unwrap_or(authority)
        .to_string();
    Ok((host, addr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("max").unwrap(), Rate::Max);
        assert_eq!(parse_rate("20000").unwrap(), Rate::Fixed(20000.0));
        assert_eq!(parse_rate("0").unwrap(), Rate::Fixed(0.0));
        assert!(parse_rate("-5").is_err());
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn settle_needs_a_server() {
        let args = |extra: &[&str]| {
            let mut a = vec!["loadgen", "--clients", "2"];
            a.extend_from_slice(extra);
            Cli::try_parse_from(a).unwrap().run.into_config()
        };
        assert_eq!(args(&[]).unwrap().settle, Duration::ZERO);
        let cfg = args(&["--settle", "30", "--server-pid", "1"]).unwrap();
        assert_eq!(cfg.settle, Duration::from_secs(30));
        let err = args(&["--settle", "5s"]).unwrap_err().to_string();
        assert!(err.contains("--server-pid"), "{err}");
        assert!(args(&["--settle", "soon", "--server-pid", "1"]).is_err());
    }

    #[test]
    fn urls() {
        let (h, a) = parse_url("http://127.0.0.1:3340").unwrap();
        assert_eq!(h, "127.0.0.1:3340");
        assert_eq!(a, "127.0.0.1:3340".parse().unwrap());
        let (h, a) = parse_url("http://127.0.0.2/relay").unwrap();
        assert_eq!(h, "127.0.0.2");
        assert_eq!(a.port(), 80);
        let (_, a) = parse_url("http://[::1]:9").unwrap();
        assert!(a.is_ipv6());
        assert!(parse_url("https://127.0.0.1").is_err());
        assert!(parse_url("http://").is_err());
        assert!(parse_url("http://192.0.2.1:80").is_err());
    }
}
