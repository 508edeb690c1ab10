//! What a probe run is asked to check, and how patiently.

use std::time::Duration;

use super::codec::Protocol;
use super::target::{Target, TargetError};
use super::tls::TlsOptions;

/// Default wait for each step.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default packets per direction.
pub const DEFAULT_COUNT: u32 = 5;
/// Most packets per direction (they go out 10 ms apart).
pub const MAX_COUNT: u32 = 10_000;

/// What to probe and how patiently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub target: Target,
    /// The wait for each step: a TCP connect, an HTTP answer, a client's
    /// handshake, the echoes after a direction's last packet.
    pub timeout: Duration,
    /// Packets per direction, 1 to [`MAX_COUNT`] (clamped).
    pub count: u32,
    /// What the two clients speak.
    pub protocol: Protocol,
    /// An access token (`Authorization: Bearer`, 1.x only); the URL's
    /// `?token=` also counts.
    pub token: Option<String>,
    /// Certificate checks for `https://`.
    pub tls: TlsOptions,
}

impl Options {
    /// Options for `url` with the default timeout, count and protocol.
    pub fn new(url: &str) -> Result<Options, TargetError> {
        Ok(Options {
            target: Target::parse(url)?,
            timeout: DEFAULT_TIMEOUT,
            count: DEFAULT_COUNT,
            protocol: Protocol::default(),
            token: None,
            tls: TlsOptions::default(),
        })
    }

    /// What the report warns about.
    pub(crate) fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.target.tls && self.tls.insecure {
            w.push(
                "--insecure: the relay's TLS certificate was NOT verified; \
                 clients that verify it may still fail"
                    .to_owned(),
            );
        }
        w
    }
}
