//! The fault modes' command line and its validated settings: which
//! offence, how many offenders, how fast, how long.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use crate::duration::parse_duration;

/// Most offenders one run may have (each is a socket, slow-reader two).
pub const MAX_FAULT_CLIENTS: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Clients that disconnect and reconnect at random (rate: reconnects/s over all).
    Churn,
    /// Connections that send the request head one byte at a time (rate:
    /// bytes/s each) or open and send nothing (every other one).
    Slowloris,
    /// Receivers that stop reading while as many senders flood them (rate:
    /// packets/s per sender, 0 = as fast as the socket takes).
    SlowReader,
    /// Clients that finish the handshake, then send random bytes (rate: bytes/s each).
    Garbage,
    /// Clients that vanish without FIN: every other one resets its socket
    /// (SO_LINGER 0) right after the handshake and connects again (rate:
    /// such resets/s over all); the rest stop responding, socket open.
    HalfOpen,
}

impl Mode {
    /// Default `--fault-rate`.
    fn default_rate(self) -> f64 {
        match self {
            Mode::Churn => 50.0,
            Mode::Slowloris => 1.0,
            Mode::SlowReader => 500.0,
            Mode::Garbage => 4096.0,
            Mode::HalfOpen => 20.0,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Churn => "churn",
            Mode::Slowloris => "slowloris",
            Mode::SlowReader => "slow-reader",
            Mode::Garbage => "garbage",
            Mode::HalfOpen => "half-open",
        }
    }
}

/// Command line of the fault modes (flattened into the run's arguments).
#[derive(Debug, Clone, Args)]
pub struct FaultArgs {
    /// Run misbehaving clients beside the well-behaved ones during the traffic phase.
    #[arg(long, value_enum)]
    pub fault: Option<Mode>,
    /// Number of misbehaving clients (slow-reader: receivers, plus as many senders).
    #[arg(long, default_value_t = 100)]
    pub fault_clients: usize,
    /// Mode-specific rate (see --fault); default per mode.
    #[arg(long)]
    pub fault_rate: Option<f64>,
    /// How long the fault lasts from the start of the traffic phase (default: all of it).
    #[arg(long)]
    pub fault_for: Option<String>,
    /// Interval of the server RSS and fd samples while the fault runs.
    #[arg(long, default_value = "1s")]
    pub fault_sample: String,
}

/// Validated fault settings.
#[derive(Debug, Clone)]
pub struct FaultConfig {
    pub mode: Mode,
    pub clients: usize,
    pub rate: f64,
    /// `None`: until the traffic phase ends.
    pub duration: Option<Duration>,
    pub sample: Duration,
}

impl FaultArgs {
    pub fn into_config(self) -> Result<Option<FaultConfig>> {
        let Some(mode) = self.fault else {
            return Ok(None);
        };
        if self.fault_clients == 0 || self.fault_clients > MAX_FAULT_CLIENTS {
            bail!("--fault-clients must be between 1 and {MAX_FAULT_CLIENTS}");
        }
        let rate = self.fault_rate.unwrap_or_else(|| mode.default_rate());
        if !rate.is_finite() || rate < 0.0 {
            bail!("--fault-rate must be a non-negative number");
        }
        let duration = self
            .fault_for
            .as_deref()
            .map(parse_duration)
            .transpose()
            .context("--fault-for")?;
        let sample = parse_duration(&self.fault_sample).context("--fault-sample")?;
        if sample < Duration::from_millis(10) {
            bail!("--fault-sample must be at least 10ms");
        }
        Ok(Some(FaultConfig {
            mode,
            clients: self.fault_clients,
            rate,
            duration,
            sample,
        }))
    }
}

impl FaultConfig {
    /// Sockets the offenders hold at most.
    pub fn sockets(&self) -> usize {
        match self.mode {
            Mode::SlowReader => 2 * self.clients,
            _ => self.clients,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        f: FaultArgs,
    }

    fn parse(a: &[&str]) -> Result<Option<FaultConfig>> {
        let mut v = vec!["t"];
        v.extend_from_slice(a);
        T::try_parse_from(v)?.f.into_config()
    }

    #[test]
    fn arguments() {
        assert!(parse(&[]).unwrap().is_none());
        let c = parse(&["--fault", "slow-reader", "--fault-clients", "5"])
            .unwrap()
            .unwrap();
        assert_eq!(c.mode, Mode::SlowReader);
        assert_eq!(c.sockets(), 10);
        assert_eq!(c.rate, 500.0);
        assert_eq!(c.duration, None);
        let c = parse(&["--fault", "churn", "--fault-rate", "3", "--fault-for", "2s"])
            .unwrap()
            .unwrap();
        assert_eq!((c.rate, c.duration), (3.0, Some(Duration::from_secs(2))));
        assert!(parse(&["--fault", "garbage", "--fault-clients", "0"]).is_err());
        assert!(parse(&["--fault", "garbage", "--fault-rate", "-1"]).is_err());
        assert!(parse(&["--fault", "nonsense"]).is_err());
        assert!(parse(&["--fault", "churn", "--fault-sample", "1ms"]).is_err());
    }
}
