//! Config reloads (SIGHUP): process-wide counters the thread that handles
//! the signal updates and the metrics page reads, like Prometheus's own
//! `prometheus_config_reloads_total` and
//! `prometheus_config_last_reload_successful`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Reloads applied and rejected, and whether the last one was applied.
#[derive(Debug)]
pub struct ReloadMetrics {
    applied: AtomicU64,
    rejected: AtomicU64,
    last_failed: AtomicBool,
}

/// The process's reload counters, rendered on every page as
/// `uring_relay_config_reloads_total{result}` and
/// `uring_relay_config_last_reload_successful`.
pub static RELOADS: ReloadMetrics = ReloadMetrics::new();

impl Default for ReloadMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ReloadMetrics {
    /// No reloads yet; the config loaded at start counts as successful.
    pub const fn new() -> Self {
        Self {
            applied: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            last_failed: AtomicBool::new(false),
        }
    }

    /// A reload whose file was read, validated and applied.
    pub fn reload_applied(&self) {
        self.applied.fetch_add(1, Relaxed);
        self.last_failed.store(false, Relaxed);
    }

    /// A reload refused because the file was missing, unreadable or
    /// invalid; the running config stays.
    pub fn reload_rejected(&self) {
        self.rejected.fetch_add(1, Relaxed);
        self.last_failed.store(true, Relaxed);
    }

    /// The figures now.
    pub fn read(&self) -> ReloadStats {
        ReloadStats {
            applied: self.applied.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            last_successful: !self.last_failed.load(Relaxed),
        }
    }
}

/// A reading of [`ReloadMetrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadStats {
    pub applied: u64,
    pub rejected: u64,
    /// True until a reload is rejected, and again once one is applied.
    pub last_successful: bool,
}

impl Default for ReloadStats {
    fn default() -> Self {
        ReloadMetrics::new().read()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_reload_follows_the_latest_outcome() {
        let r = ReloadMetrics::new();
        assert_eq!(r.read(), ReloadStats::default());
        assert!(r.read().last_successful, "starts successful");
        r.reload_rejected();
        assert_eq!(
            r.read(),
            ReloadStats {
                applied: 0,
                rejected: 1,
                last_successful: false
            }
        );
        r.reload_applied();
        r.reload_applied();
        assert_eq!(
            r.read(),
            ReloadStats {
                applied: 2,
                rejected: 1,
                last_successful: true
            }
        );
    }
}
