//! The iroh-relay TOML config (docs/protocol-0.35.md §11), as 0.35 and
//! 1.x write it, plus our keys (`shards`, `io_backend`,
//! `limits.max_queued_bytes`). Reading and unknown keys are in `load`,
//! checks against the machine in `review`, what a reload changes in
//! `diff`.

mod diff;
mod load;
mod review;
mod schema;

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::access::AccessConfig;
use crate::proto::Family;
use crate::ratelimit::RxLimit;

pub use diff::Changes;
pub use load::{load, parse, ConfigError, Invalid, Loaded, UnknownKey};
pub use review::{listeners, review, Host, Review, MAX_SHARDS};

/// Smallest `limits.max_queued_bytes`: one client's full queue.
pub const MIN_QUEUED_BYTES: u64 = crate::queue::MAX_QUEUED_BYTES as u64;

/// The file as written by operators. Every field is optional; keys that
/// only the references use are read so that they are not unknown.
#[derive(Debug, Default, Deserialize)]
pub struct ConfigFile {
    pub enable_relay: Option<bool>,
    #[serde(default, deserialize_with = "crate::socket_addr::deserialize_opt")]
    pub http_bind_addr: Option<SocketAddr>,
    pub enable_stun: Option<bool>,
    #[serde(default, deserialize_with = "crate::socket_addr::deserialize_opt")]
    pub stun_bind_addr: Option<SocketAddr>,
    pub enable_quic_addr_discovery: Option<bool>,
    pub enable_metrics: Option<bool>,
    #[serde(default, deserialize_with = "crate::socket_addr::deserialize_opt")]
    pub metrics_bind_addr: Option<SocketAddr>,
    /// The references' key cache; this relay keeps none.
    pub key_cache_capacity: Option<usize>,
    #[serde(default)]
    pub access: AccessConfig,
    pub tls: Option<TlsFile>,
    #[serde(default)]
    pub limits: Limits,
    /// Number of shards (threads); default: available cores.
    pub shards: Option<usize>,
    /// Which I/O backend the shards run on (ours; default `auto`).
    pub io_backend: Option<IoBackend>,
}

/// `[tls]` as iroh-relay 0.35 and 1.x read it. Only `--dev` (plain HTTP)
/// runs with it; the keys are read so that a reference's file is
/// understood.
#[derive(Debug, Default, Deserialize)]
pub struct TlsFile {
    #[serde(default, deserialize_with = "crate::socket_addr::deserialize_opt")]
    pub https_bind_addr: Option<SocketAddr>,
    #[serde(default, deserialize_with = "crate::socket_addr::deserialize_opt")]
    pub quic_bind_addr: Option<SocketAddr>,
    /// A name (0.35) or a list of names (1.x).
    pub hostname: Option<toml::Value>,
    pub cert_mode: Option<String>,
    pub cert_dir: Option<PathBuf>,
    pub manual_cert_path: Option<PathBuf>,
    pub manual_key_path: Option<PathBuf>,
    pub prod_tls: Option<bool>,
    pub contact: Option<String>,
    pub dangerous_http_only: Option<bool>,
}

/// The shards' I/O backend as asked for: `auto` uses io_uring where the
/// kernel (or a container's seccomp profile) allows it, else epoll.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum IoBackend {
    #[default]
    Auto,
    Uring,
    Epoll,
}

impl IoBackend {
    pub fn name(self) -> &'static str {
        match self {
            IoBackend::Auto => "auto",
            IoBackend::Uring => "uring",
            IoBackend::Epoll => "epoll",
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
pub struct Limits {
    pub accept_conn_limit: Option<f64>,
    pub accept_conn_burst: Option<usize>,
    pub client: Option<ClientLimits>,
    /// Bytes all clients' queued packets may take together (ours; default:
    /// 1/8 of the memory available, see [`crate::sysmem`]).
    pub max_queued_bytes: Option<u64>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
pub struct ClientLimits {
    pub rx: Option<RxLimits>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
pub struct RxLimits {
    pub bytes_per_second: Option<u32>,
    pub max_burst_bytes: Option<u32>,
}

/// The resolved settings the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub http_bind_addr: SocketAddr,
    pub shards: usize,
    pub io_backend: IoBackend,
    pub stun_bind_addr: Option<SocketAddr>,
    pub metrics_bind_addr: Option<SocketAddr>,
    pub access: AccessConfig,
    pub limits: Limits,
    /// `--dev` with a `[tls]` section: served as plain HTTP.
    pub tls_ignored: bool,
}

/// What SIGHUP can change while clients stay connected.
#[derive(Debug, Clone)]
pub struct Policy {
    pub access: AccessConfig,
    /// The receive limit of each family's clients, indexed by [`Family`]
    /// (the burst defaults per family, [`Family::default_burst`]).
    pub rx_limits: [Option<RxLimit>; Family::COUNT],
    /// New connections per second and burst, for the whole server.
    pub accept_limit: Option<(f64, f64)>,
    /// Bytes of packets queued to clients (and between shards), server-wide.
    pub max_queued_bytes: usize,
}

impl Policy {
    /// The receive limit of `family`'s clients.
    pub fn rx_limit(&self, family: Family) -> Option<RxLimit> {
        self.rx_limits[family as usize]
    }
}

impl Config {
    pub fn policy(&self) -> Policy {
        let rx = self.limits.client.as_ref().and_then(|c| c.rx.as_ref());
        let rx_limits = Family::ALL.map(|family| {
            rx.and_then(|rx| {
                let rate = rx.bytes_per_second?;
                Some(RxLimit {
                    bytes_per_second: f64::from(rate),
                    burst_bytes: f64::from(
                        rx.max_burst_bytes
                            .unwrap_or(family.default_burst(rate))
                            .max(1),
                    ),
                })
            })
        });
        let accept_limit = self.limits.accept_conn_limit.map(|rate| {
            let burst = self
                .limits
                .accept_conn_burst
                .map_or(rate.max(1.0), |b| b as f64);
            (rate, burst.max(1.0))
        });
        let max_queued_bytes = self
            .limits
            .max_queued_bytes
            .unwrap_or_else(crate::sysmem::default_queue_budget);
        Policy {
            access: self.access.clone(),
            rx_limits,
            accept_limit,
            max_queued_bytes: usize::try_from(max_queued_bytes).unwrap_or(usize::MAX),
        }
    }

    /// What applying `new` on a reload would change, and what it cannot.
    pub fn changes(&self, new: &Config) -> Changes {
        diff::changes(self, new)
    }

    /// Takes over what a reload applies (access and limits); listeners,
    /// shards and backend stay as they are bound.
    pub fn apply_reloadable(&mut self, new: &Config) {
        self.access = new.access.clone();
        self.limits = new.limits.clone();
    }
}

/// A rule broken by a value: the key it is about, for the line number.
fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(Invalid::at_key(key, message))
}

impl ConfigFile {
    /// Parses TOML (unknown keys dropped: see [`parse`] for them).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        parse(text).map(|l| l.file)
    }

    /// Applies defaults and cross-field rules. `dev` is the `--dev` flag.
    pub fn resolve(self, dev: bool) -> Result<Config, ConfigError> {
        if self.enable_relay == Some(false) {
            return Err(invalid(
                "enable_relay",
                "enable_relay = false (a STUN-only server) is not supported: this relay always relays",
            ));
        }
        let http_only = dev
            || self
                .tls
                .as_ref()
                .and_then(|t| t.dangerous_http_only)
                .unwrap_or(false);
        if self.tls.is_some() && !http_only {
            return Err(invalid(
                "tls",
                "[tls] is not supported: serve plain HTTP (as chatmail does) or terminate TLS in a proxy in front",
            ));
        }
        if self.enable_quic_addr_discovery == Some(true) {
            return Err(invalid(
                "enable_quic_addr_discovery",
                "enable_quic_addr_discovery = true needs [tls], which is not supported",
            ));
        }
        let default_port = if dev { 3340 } else { 80 };
        let http_bind_addr = self
            .http_bind_addr
            .unwrap_or_else(|| SocketAddr::from(([0u16; 8], default_port)));
        let ip = http_bind_addr.ip();
        let shards = match self.shards {
            Some(0) => return Err(invalid("shards", "shards must be at least 1")),
            Some(n) if n > MAX_SHARDS => {
                return Err(invalid(
                    "shards",
                    format!("shards = {n} is more than {MAX_SHARDS}; one per core is the default"),
                ))
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        check_limits(&self.limits)?;
        let access = self.access.resolve().map_err(|m| invalid("access", m))?;
        Ok(Config {
            http_bind_addr,
            shards,
            io_backend: self.io_backend.unwrap_or_default(),
            stun_bind_addr: self
                .enable_stun
                .unwrap_or(true)
                .then(|| self.stun_bind_addr.unwrap_or(SocketAddr::new(ip, 3478))),
            metrics_bind_addr: self
                .enable_metrics
                .unwrap_or(true)
                .then(|| self.metrics_bind_addr.unwrap_or(SocketAddr::new(ip, 9090))),
            access,
            limits: self.limits,
            tls_ignored: dev && self.tls.is_some(),
        })
    }
}

fn check_limits(limits: &Limits) -> Result<(), ConfigError> {
    if limits
        .accept_conn_limit
        .is_some_and(|r| !(r > 0.0 && r.is_finite()))
    {
        return Err(invalid(
            "limits.accept_conn_limit",
            "limits.accept_conn_limit must be > 0",
        ));
    }
    if limits
        .max_queued_bytes
        .is_some_and(|b| b < MIN_QUEUED_BYTES)
    {
        return Err(invalid(
            "limits.max_queued_bytes",
            format!("limits.max_queued_bytes must be at least {MIN_QUEUED_BYTES} (one full queue)"),
        ));
    }
    if let Some(rx) = limits.client.as_ref().and_then(|c| c.rx.as_ref()) {
        match (rx.bytes_per_second, rx.max_burst_bytes) {
            (None, Some(_)) => {
                return Err(invalid(
                    "limits.client.rx.max_burst_bytes",
                    "limits.client.rx.max_burst_bytes requires bytes_per_second",
                ))
            }
            (Some(0), _) | (_, Some(0)) => {
                return Err(invalid(
                    "limits.client.rx",
                    "limits.client.rx values must be > 0",
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
