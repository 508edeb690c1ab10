//! The validated configuration of a load run, as every part of the run
//! reads it (`cli` builds it from the command line).

use std::net::SocketAddr;
use std::time::Duration;

use crate::fault::options::FaultConfig;
use crate::mix::Mix;
use crate::pattern::Pattern;
use crate::protocol::Protocol;

/// Sending rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// As fast as the per-sender window allows.
    Max,
    /// Total packets per second over all senders; 0 means idle.
    Fixed(f64),
}

/// Validated run configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub url: String,
    pub target: SocketAddr,
    /// Value of the Host header.
    pub host: String,
    pub clients: usize,
    pub pattern: Pattern,
    pub size: usize,
    pub rate: Rate,
    pub duration: Duration,
    pub window: u32,
    pub protocol: Protocol,
    /// The protocol of each client (one group unless --mix).
    pub mix: Mix,
    pub connect_rate: Option<f64>,
    pub connect_inflight: usize,
    pub connect_timeout: Duration,
    pub grace: Duration,
    pub src_ips: u8,
    pub threads: usize,
    pub server_pid: Option<u32>,
    /// Wait after the clients left before the last RSS reading.
    pub settle: Duration,
    pub json: Option<String>,
    pub label: Option<String>,
    pub quiet: bool,
    /// Misbehaving clients run beside the well-behaved ones.
    pub fault: Option<FaultConfig>,
}
