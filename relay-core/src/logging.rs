//! Logging that can never block or slow a shard.
//!
//! Lines go through a bounded queue to one writer thread; when stderr is a
//! pipe nobody reads (Madmail starts the relay that way), the writer blocks
//! and new lines are dropped and counted (`uring_relay_log_lines_dropped`)
//! instead of stopping the shard that logged them. Colours only on a
//! terminal. Warnings that can repeat fast go through a [`Throttle`].

use std::io::IsTerminal;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Lines that may wait for the writer before new ones are dropped.
const QUEUE_LINES: usize = 4096;

static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Installs the global subscriber (filter from `RUST_LOG`, default `info`).
/// Keep the guard until exit: dropping it flushes what is queued.
pub fn init(format: LogFormat) -> WorkerGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUE_LINES)
        .thread_name("log-writer")
        .finish(std::io::stderr());
    let _ = DROPPED.set(writer.error_counter());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => fmt.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => fmt.json().init(),
    }
    guard
}

/// Log lines dropped so far because the writer could not keep up.
pub fn dropped_lines() -> u64 {
    DROPPED.get().map_or(0, |c| c.dropped_lines() as u64)
}

/// A warning that can repeat many times a second (accept errors, callout
/// failures): the first is logged, the ones in the next `every` are only
/// counted, and the first after that is logged with that count.
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl Throttle {
    pub const fn new(every: Duration) -> Self {
        Self {
            every,
            state: Mutex::new((None, 0)),
        }
    }

    /// Calls `log(suppressed since the last line)` if a line is due.
    pub fn hit(&self, log: impl FnOnce(u64)) {
        self.hit_at(Instant::now(), log)
    }

    fn hit_at(&self, now: Instant, log: impl FnOnce(u64)) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match s.0 {
            Some(last) if now.duration_since(last) < self.every => s.1 += 1,
            _ => {
                let suppressed = s.1;
                *s = (Some(now), 0);
                drop(s);
                log(suppressed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_logs_first_then_counts() {
        let t = Throttle::new(Duration::from_secs(10));
        let start = Instant::now();
        let mut lines = Vec::new();
        for ms in [0u64, 1, 2, 3, 9_999, 10_001, 10_002, 25_000] {
            t.hit_at(start + Duration::from_millis(ms), |n| lines.push((ms, n)));
        }
        assert_eq!(lines, vec![(0, 0), (10_001, 4), (25_000, 1)]);
    }
}
