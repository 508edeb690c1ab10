//! What the service manager hears (sd_notify): READY once every listener
//! is bound, RELOADING then READY around a SIGHUP, STOPPING on shutdown,
//! and, with `WatchdogSec=`, a WATCHDOG ping each half period as long as
//! every shard's loop answers a heartbeat. A stuck shard withholds the
//! ping, so systemd restarts the relay. Outside systemd nothing is sent.

use std::time::Duration;

use relay_core::sd_notify::{self, Notifier};
use relay_core::shard::Heartbeat;

pub struct Systemd(Option<Notifier>);

impl Systemd {
    pub fn from_env() -> Self {
        match Notifier::from_env() {
            Ok(n) => Self(n),
            Err(e) => {
                tracing::warn!("{e}: not notifying the service manager");
                Self(None)
            }
        }
    }

    pub fn ready(&self, status: &str) {
        self.send(|n| n.ready(status));
    }

    pub fn reloading(&self) {
        self.send(|n| n.reloading(sd_notify::monotonic_now()?));
    }

    pub fn stopping(&self) {
        self.send(Notifier::stopping);
    }

    fn send(&self, f: impl FnOnce(&Notifier) -> std::io::Result<bool>) {
        if let Some(n) = &self.0 {
            match f(n) {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!("service manager notification dropped: its socket is full")
                }
                Err(e) => tracing::warn!("cannot notify the service manager: {e}"),
            }
        }
    }

    /// Starts the watchdog pings when systemd asked for them.
    pub fn start_watchdog(&self, mut heartbeat: Heartbeat) {
        let (Some(_), Some(period)) = (&self.0, sd_notify::watchdog_interval()) else {
            return;
        };
        let notifier = match Notifier::from_env() {
            Ok(Some(n)) => n,
            _ => return,
        };
        let spawned = std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || loop {
                std::thread::sleep(period);
                let stuck = heartbeat.beat();
                if stuck.is_empty() {
                    if let Err(e) = notifier.watchdog() {
                        tracing::warn!("cannot ping the watchdog: {e}");
                    }
                } else {
                    tracing::error!(
                        "shards {stuck:?} have not answered for {}: watchdog ping withheld",
                        secs(period)
                    );
                }
            });
        match spawned {
            Ok(_) => tracing::info!("watchdog: pinging every {}", secs(period)),
            Err(e) => tracing::warn!("cannot start the watchdog thread: {e}"),
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}
