//! Whether the server's memory goes back after a burst: its VmRSS peak
//! while the run lasts, and what it still holds once the clients have left
//! and a settle wait has passed.
//!
//! The peak is sampled on a thread because a burst can rise and fall
//! between the run's phase snapshots. The settle wait exists because
//! allocators hand freed memory back to the system with a delay.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::procfs;
use crate::progress::Progress;

/// How often the sampler reads /proc/PID/status: fine enough for a burst
/// that lasts seconds, and one small read is no load on the loadgen's core.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// Reads the server's VmRSS every [`SAMPLE_EVERY`] until stopped and keeps
/// the largest value.
pub struct PeakSampler {
    /// KiB; 0 until the first successful read.
    peak: Arc<AtomicU64>,
    /// Dropping it wakes the thread at once, which then ends.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl PeakSampler {
    pub fn start(pid: u32) -> std::io::Result<Self> {
        let peak = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = mpsc::channel::<()>();
        let p = peak.clone();
        let thread = std::thread::Builder::new()
            .name("loadgen-rss".into())
            .spawn(move || loop {
                // A server that exited reads as nothing; the peak so far stays.
                if let Some(kib) = procfs::proc_rss_kib(pid) {
                    p.fetch_max(kib, Ordering::Relaxed);
                }
                if !matches!(
                    stopped.recv_timeout(SAMPLE_EVERY),
                    Err(mpsc::RecvTimeoutError::Timeout)
                ) {
                    return;
                }
            })?;
        Ok(Self {
            peak,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Folds in a reading taken elsewhere (the phase snapshots), so the
    /// peak is never below a value the report shows next to it.
    pub fn note(&self, kib: Option<u64>) {
        if let Some(kib) = kib {
            self.peak.fetch_max(kib, Ordering::Relaxed);
        }
    }

    /// Stops sampling; the largest VmRSS seen in KiB, if any read worked.
    pub fn stop(mut self) -> Option<u64> {
        self.halt();
        Some(self.peak.load(Ordering::Relaxed)).filter(|&k| k > 0)
    }

    fn halt(&mut self) {
        self.stop = None;
        if let Some(t) = self.thread.take() {
            // The thread only reads /proc; a panic there loses samples, nothing else.
            let _ = t.join();
        }
    }
}

impl Drop for PeakSampler {
    /// A run that fails half way must not leave the thread behind.
    fn drop(&mut self) {
        self.halt();
    }
}

/// What the server holds after the clients left and the settle wait.
#[derive(Debug, Clone, Copy, Default)]
pub struct Settled {
    pub rss_kib: Option<u64>,
    pub fds: Option<u64>,
}

/// Waits `wait`, then reads the server's VmRSS and open descriptors.
///
/// Call it only once every client socket is closed (the loadgen threads
/// have been joined): the clock must start when the server can see that
/// the clients are gone.
pub fn settle(pid: u32, wait: Duration, progress: &mut Progress) -> Settled {
    let start = Instant::now();
    while let Some(left) = wait.checked_sub(start.elapsed()).filter(|l| !l.is_zero()) {
        progress.settling(left);
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
    Settled {
        rss_kib: procfs::proc_rss_kib(pid),
        fds: procfs::proc_fds(pid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_of_own_process_covers_the_snapshots() {
        let pid = std::process::id();
        let s = PeakSampler::start(pid).unwrap();
        std::thread::sleep(SAMPLE_EVERY * 2);
        s.note(Some(u64::MAX / 2));
        assert_eq!(s.stop(), Some(u64::MAX / 2));
        let s = PeakSampler::start(pid).unwrap();
        std::thread::sleep(SAMPLE_EVERY * 2);
        assert!(s.stop().unwrap_or(0) > 0);
    }

    #[test]
    fn a_missing_process_has_no_peak_and_stops_promptly() {
        // PIDs are at most 2^22 on Linux.
        let s = PeakSampler::start(u32::MAX).unwrap();
        let t = Instant::now();
        assert_eq!(s.stop(), None);
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn settle_waits_then_reads() {
        let t = Instant::now();
        let s = settle(
            std::process::id(),
            Duration::from_millis(50),
            &mut Progress::new(true),
        );
        assert!(t.elapsed() >= Duration::from_millis(50));
        assert!(s.rss_kib.unwrap_or(0) > 0);
        assert!(s.fds.unwrap_or(0) > 0);
    }
}
