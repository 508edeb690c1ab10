//! Live progress on stderr, only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::shared::Shared;

pub struct Progress {
    enabled: bool,
    last: Instant,
    last_delivered: u64,
    shown: bool,
}

const EVERY: Duration = Duration::from_millis(500);

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Self {
            enabled: !quiet && std::io::stderr().is_terminal(),
            last: Instant::now(),
            last_delivered: 0,
            shown: false,
        }
    }

    fn due(&mut self) -> Option<f64> {
        if !self.enabled || self.last.elapsed() < EVERY {
            return None;
        }
        let dt = self.last.elapsed().as_secs_f64();
        self.last = Instant::now();
        self.shown = true;
        Some(dt)
    }

    pub fn connecting(&mut self, sh: &Shared) {
        if self.due().is_some() {
            let ok = sh.total(|c| &c.connected);
            let failed = sh.total(|c| &c.connect_failed);
            eprint!(
                "\r\x1b[Kconnecting: {ok}/{} connected, {failed} failed",
                sh.cfg.clients
            );
            let _ = std::io::stderr().flush();
        }
    }

    pub fn traffic(&mut self, sh: &Shared, elapsed: Duration) {
        if let Some(dt) = self.due() {
            let delivered = sh.total(|c| &c.delivered);
            let pps = (delivered - self.last_delivered.min(delivered)) as f64 / dt;
            self.last_delivered = delivered;
            let connected = sh
                .slots
                .iter()
                .filter(|s| s.connected.load(std::sync::atomic::Ordering::Relaxed))
                .count();
            eprint!(
                "\r\x1b[K{:>5.1}s  {connected} connected  {pps:>10.0} pkt/s  sent {}  delivered {delivered}",
                elapsed.as_secs_f64(),
                sh.total(|c| &c.sent),
            );
            let _ = std::io::stderr().flush();
        }
    }

    /// The wait after the clients left, before the server's memory is read.
    pub fn settling(&mut self, left: Duration) {
        if self.due().is_some() {
            eprint!(
                "\r\x1b[Kclients gone; reading server memory in {:.0} s",
                left.as_secs_f64().ceil()
            );
            let _ = std::io::stderr().flush();
        }
    }

    pub fn finish(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
            let _ = std::io::stderr().flush();
            self.shown = false;
        }
    }
}
