//! How much memory the relay may count on: the machine's, or its cgroup's
//! limit when lower (containers, systemd `MemoryMax=`).

/// The default `limits.max_queued_bytes` is this fraction of [`usable`].
pub const QUEUE_FRACTION: u64 = 8;
/// Used when memory cannot be read (not Linux, no /proc).
const FALLBACK: u64 = 1 << 30;

/// Bytes of memory available to this process.
pub fn usable() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| mem_total(&t));
    let cgroup = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|t| cgroup_path(&t).map(str::to_owned))
        .and_then(|p| std::fs::read_to_string(format!("/sys/fs/cgroup{p}/memory.max")).ok())
        .and_then(|t| cgroup_limit(&t));
    match (total, cgroup) {
        (Some(t), Some(c)) => t.min(c),
        (Some(t), None) => t,
        (None, Some(c)) => c,
        (None, None) => FALLBACK,
    }
}

/// The default queue budget: [`usable`] / [`QUEUE_FRACTION`].
pub fn default_queue_budget() -> u64 {
    usable() / QUEUE_FRACTION
}

/// `MemTotal` from /proc/meminfo, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The cgroup v2 path from /proc/self/cgroup (`0::/path`).
fn cgroup_path(cgroup: &str) -> Option<&str> {
    cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim_end_matches('/'))
}

/// A cgroup v2 `memory.max`: a byte count, or `max` for none.
fn cgroup_limit(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_meminfo_and_cgroup() {
        let meminfo = "MemTotal:       24576000 kB\nMemFree:  1 kB\n";
        assert_eq!(mem_total(meminfo), Some(24_576_000 * 1024));
        assert_eq!(mem_total("nothing"), None);
        assert_eq!(
            cgroup_path("0::/system.slice/uring-relay.service\n"),
            Some("/system.slice/uring-relay.service")
        );
        assert_eq!(cgroup_path("0::/\n"), Some(""));
        assert_eq!(cgroup_path("1:name=systemd:/x\n"), None);
        assert_eq!(cgroup_limit("max\n"), None);
        assert_eq!(cgroup_limit("1073741824\n"), Some(1 << 30));
        assert!(usable() > 0);
        assert_eq!(default_queue_budget(), usable() / QUEUE_FRACTION);
    }
}
