//! Process-wide figures, read at scrape time: memory, descriptors, the
//! allocator's view, dropped log lines and config reloads.

use super::{ReloadStats, RELOADS};

/// Process-wide figures, read at scrape time.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessStats {
    pub rss_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    /// The soft `RLIMIT_NOFILE`: accepts fail once open fds reach it.
    pub max_fds: Option<u64>,
    pub log_lines_dropped: u64,
    pub allocator: Option<AllocatorStats>,
    pub reloads: ReloadStats,
}

/// jemalloc's own figures: what the program holds (`allocated`), the
/// pages backing it (`active`), what is resident including the
/// allocator's metadata and not yet purged pages (`resident`), and
/// address space kept for reuse (`retained`, not resident); and beside
/// jemalloc, the large blocks mapped on their own (`mapped`, see
/// [`crate::large_alloc`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct AllocatorStats {
    pub allocated: u64,
    pub active: u64,
    pub resident: u64,
    pub metadata: u64,
    pub retained: u64,
    pub mapped: u64,
}

impl AllocatorStats {
    /// Reads the allocator's current statistics (refreshing its cache
    /// first); `None` when the process does not run on jemalloc.
    pub fn read() -> Option<Self> {
        use tikv_jemalloc_ctl::{epoch, stats};
        epoch::advance().ok()?;
        let s = Self {
            allocated: stats::allocated::read().ok()? as u64,
            active: stats::active::read().ok()? as u64,
            resident: stats::resident::read().ok()? as u64,
            metadata: stats::metadata::read().ok()? as u64,
            retained: stats::retained::read().ok()? as u64,
            mapped: crate::large_alloc::mapped_bytes() as u64,
        };
        // A process on another allocator has an idle jemalloc.
        (s.resident > 0 && s.allocated > 0).then_some(s)
    }
}

impl ProcessStats {
    pub fn read() -> Self {
        Self {
            rss_bytes: process_rss_bytes(),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|d| d.count() as u64),
            max_fds: crate::fdlimit::get().ok().map(|(soft, _)| soft),
            log_lines_dropped: crate::logging::dropped_lines(),
            allocator: AllocatorStats::read(),
            reloads: RELOADS.read(),
        }
    }
}

/// VmRSS of this process, from /proc.
pub fn process_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
