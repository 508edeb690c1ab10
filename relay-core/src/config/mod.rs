//! The iroh-relay 0.35 TOML config (docs/protocol-0.35.md §11), read unchanged.
//! Unknown keys are accepted, as the reference does; `shards` is ours.

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

use crate::access::AccessConfig;
use crate::ratelimit::RxLimit;

/// Smallest `limits.max_queued_bytes`: one client's full queue.
pub const MIN_QUEUED_BYTES: u64 = crate::queue::MAX_QUEUED_BYTES as u64;

/// The file as written by operators. Every field is optional.
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
    pub key_cache_capacity: Option<usize>,
    #[serde(default)]
    pub access: AccessConfig,
    pub tls: Option<toml::Table>,
    #[serde(default)]
    pub limits: Limits,
    /// Number of shards (threads); default: available cores.
    pub shards: Option<usize>,
    /// Which I/O backend the shards run on (ours; default `auto`).
    pub io_backend: Option<IoBackend>,
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

#[derive(Debug, Default, Clone, Deserialize)]
pub struct Limits {
    pub accept_conn_limit: Option<f64>,
    pub accept_conn_burst: Option<usize>,
    pub client: Option<ClientLimits>,
    /// Bytes all clients' queued packets may take together (ours; default:
    /// 1/8 of the memory available, see [`crate::sysmem`]).
    pub max_queued_bytes: Option<u64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct ClientLimits {
    pub rx: Option<RxLimits>,
}

#[derive(Debug, Default, Clone, Deserialize)]
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
}

/// What SIGHUP can change while clients stay connected.
#[derive(Debug, Clone)]
pub struct Policy {
    pub access: AccessConfig,
    /// The receive limit of 0.35 clients (burst defaults to the rate).
    pub rx_limit: Option<RxLimit>,
    /// The receive limit of 1.x clients (burst defaults to a tenth of the
    /// rate, as 1.x has it).
    pub rx_limit_1x: Option<RxLimit>,
    /// New connections per second and burst, for the whole server.
    pub accept_limit: Option<(f64, f64)>,
    /// Bytes of packets queued to clients (and between shards), server-wide.
    pub max_queued_bytes: usize,
}

impl Config {
    pub fn policy(&self) -> Policy {
        let rx = self.limits.client.as_ref().and_then(|c| c.rx.as_ref());
        let limit = |default_burst: fn(u32) -> u32| {
            rx.and_then(|rx| {
                let rate = rx.bytes_per_second?;
                Some(RxLimit {
                    bytes_per_second: f64::from(rate),
                    burst_bytes: f64::from(
                        rx.max_burst_bytes.unwrap_or(default_burst(rate)).max(1),
                    ),
                })
            })
        };
        let rx_limit = limit(|rate| rate);
        let rx_limit_1x = limit(|rate| rate / 10);
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
            rx_limit,
            rx_limit_1x,
            accept_limit,
            max_queued_bytes: usize::try_from(max_queued_bytes).unwrap_or(usize::MAX),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config path {0} exists but is not a file")]
    NotAFile(String),
    #[error("cannot read config {0}: {1}")]
    Read(String, std::io::Error),
    #[error("invalid config {0}: {1}")]
    Parse(String, String),
    #[error("{0}")]
    Invalid(String),
}

impl ConfigFile {
    /// Reads `path`; a missing file means built-in defaults, as the
    /// reference does.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let name = path.display().to_string();
        if !path.exists() {
            tracing::warn!(path = %name, "config file does not exist, using defaults");
            return Ok(Self::default());
        }
        Self::load_existing(path)
    }

    /// Reads `path`, which must exist (`check-config`).
    pub fn load_existing(path: &Path) -> Result<Self, ConfigError> {
        let name = path.display().to_string();
        if path.exists() && !path.is_file() {
            return Err(ConfigError::NotAFile(name));
        }
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(name.clone(), e))?;
        Self::parse(&text).map_err(|e| match e {
            ConfigError::Parse(_, m) => ConfigError::Parse(name, m),
            other => other,
        })
    }

    /// Parses TOML; the error is one line, with the line number when known.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let message = e.message().lines().collect::<Vec<_>>().join(": ");
            let message = match e.span() {
                Some(span) => {
                    let line = text
                        .get(..span.start)
                        .map_or(0, |t| t.matches('\n').count())
                        + 1;
                    format!("line {line}: {message}")
                }
                None => message,
            };
            ConfigError::Parse(String::new(), message)
        })
    }

    /// Applies defaults and cross-field rules. `dev` is the `--dev` flag.
    pub fn resolve(self, dev: bool) -> Result<Config, ConfigError> {
        let http_only = dev
            || self
                .tls
                .as_ref()
                .and_then(|t| t.get("dangerous_http_only"))
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
        if self.tls.is_some() && !http_only {
            return Err(ConfigError::Invalid(
                "[tls] is not supported: serve plain HTTP (as chatmail does) or terminate TLS in a proxy in front".into(),
            ));
        }
        if self.enable_quic_addr_discovery == Some(true) {
            return Err(ConfigError::Invalid(
                "enable_quic_addr_discovery requires [tls], which is not supported".into(),
            ));
        }
        let default_port = if dev { 3340 } else { 80 };
        let http_bind_addr = self
            .http_bind_addr
            .unwrap_or_else(|| SocketAddr::from(([0u16; 8], default_port)));
        let ip = http_bind_addr.ip();
        let shards = match self.shards {
            Some(0) => return Err(ConfigError::Invalid("shards must be at least 1".into())),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if self
            .limits
            .accept_conn_limit
            .is_some_and(|r| !(r > 0.0 && r.is_finite()))
        {
            return Err(ConfigError::Invalid(
                "limits.accept_conn_limit must be > 0".into(),
            ));
        }
        if self
            .limits
            .max_queued_bytes
            .is_some_and(|b| b < MIN_QUEUED_BYTES)
        {
            return Err(ConfigError::Invalid(format!(
                "limits.max_queued_bytes must be at least {MIN_QUEUED_BYTES} (one full queue)"
            )));
        }
        if let Some(rx) = self.limits.client.as_ref().and_then(|c| c.rx.as_ref()) {
            match (rx.bytes_per_second, rx.max_burst_bytes) {
                (None, Some(_)) => {
                    return Err(ConfigError::Invalid(
                        "limits.client.rx.max_burst_bytes requires bytes_per_second".into(),
                    ))
                }
                (Some(0), _) | (_, Some(0)) => {
                    return Err(ConfigError::Invalid(
                        "limits.client.rx values must be > 0".into(),
                    ))
                }
                _ => {}
            }
        }
        let access = self.access.resolve().map_err(ConfigError::Invalid)?;
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatmail_config() {
        let text = include_str!("../../deploy/iroh-relay.toml");
        let c = ConfigFile::parse(text).unwrap().resolve(false).unwrap();
        assert_eq!(c.http_bind_addr, "[::]:3340".parse().unwrap());
        assert_eq!(c.stun_bind_addr, None);
        assert_eq!(c.metrics_bind_addr, None);
        assert!(matches!(c.access, AccessConfig::Everyone));
    }

    #[test]
    fn defaults_and_dev() {
        let c = ConfigFile::default().resolve(true).unwrap();
        assert_eq!(c.http_bind_addr, "[::]:3340".parse().unwrap());
        assert_eq!(c.stun_bind_addr, Some("[::]:3478".parse().unwrap()));
        assert_eq!(c.metrics_bind_addr, Some("[::]:9090".parse().unwrap()));
        let c = ConfigFile::default().resolve(false).unwrap();
        assert_eq!(c.http_bind_addr.port(), 80);
        assert!(c.shards >= 1);
    }

    #[test]
    fn unknown_keys_and_shards() {
        let c = ConfigFile::parse("future_key = 1\nshards = 3\nhttp_bind_addr = \"127.0.0.1:1\"\n[limits]\naccept_conn_limit = 5.0\n")
            .unwrap()
            .resolve(false)
            .unwrap();
        assert_eq!(c.shards, 3);
        assert_eq!(c.io_backend, IoBackend::Auto);
        assert_eq!(c.limits.accept_conn_limit, Some(5.0));
    }

    #[test]
    fn io_backend_choice() {
        let c = ConfigFile::parse("io_backend = \"epoll\"").unwrap();
        assert_eq!(c.io_backend, Some(IoBackend::Epoll));
        assert!(ConfigFile::parse("io_backend = \"kqueue\"").is_err());
    }

    #[test]
    fn policy_from_limits() {
        let c = ConfigFile::parse("[limits]\naccept_conn_limit = 10.0\n[limits.client.rx]\nbytes_per_second = 400\nmax_burst_bytes = 800\n")
            .unwrap()
            .resolve(false)
            .unwrap();
        let p = c.policy();
        assert_eq!(
            p.rx_limit,
            Some(RxLimit {
                bytes_per_second: 400.0,
                burst_bytes: 800.0
            })
        );
        assert_eq!(p.accept_limit, Some((10.0, 10.0)));
        assert_eq!(
            p.max_queued_bytes as u64,
            crate::sysmem::default_queue_budget()
        );
        let c = ConfigFile::parse("[limits]\nmax_queued_bytes = 67108864\n")
            .unwrap()
            .resolve(false)
            .unwrap();
        assert_eq!(c.policy().max_queued_bytes, 64 << 20);
        assert!(ConfigFile::parse("[limits]\nmax_queued_bytes = 1000\n")
            .unwrap()
            .resolve(false)
            .is_err());
        let c = ConfigFile::parse("[limits.client.rx]\nbytes_per_second = 400\n")
            .unwrap()
            .resolve(false)
            .unwrap();
        assert_eq!(c.policy().rx_limit.map(|l| l.burst_bytes), Some(400.0));
        assert!(ConfigFile::parse("[limits]\naccept_conn_limit = -1.0\n")
            .unwrap()
            .resolve(false)
            .is_err());
    }

    #[test]
    fn rejections() {
        assert!(ConfigFile::parse("http_bind_addr = 5").is_err());
        assert!(ConfigFile::parse("shards = 0")
            .unwrap()
            .resolve(false)
            .is_err());
        let tls = "[tls]\ncert_mode = \"Manual\"\n";
        assert!(ConfigFile::parse(tls).unwrap().resolve(false).is_err());
        assert!(ConfigFile::parse(tls).unwrap().resolve(true).is_ok());
        assert!(ConfigFile::parse("enable_quic_addr_discovery = true")
            .unwrap()
            .resolve(true)
            .is_err());
        let burst_only = "[limits.client.rx]\nmax_burst_bytes = 10\n";
        assert!(ConfigFile::parse(burst_only)
            .unwrap()
            .resolve(false)
            .is_err());
        let zero = "[limits.client.rx]\nbytes_per_second = 0\n";
        assert!(ConfigFile::parse(zero).unwrap().resolve(false).is_err());
    }
}
