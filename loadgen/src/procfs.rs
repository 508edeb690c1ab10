//! CPU time and memory of this process (getrusage) and of the server
//! under test (/proc/PID/stat and /proc/PID/status).

use std::time::Duration;

/// CPU time of this process so far: (user, system).
pub fn self_cpu() -> (Duration, Duration) {
    // SAFETY: zeroed rusage is a valid out-parameter for getrusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into `ru`.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (Duration::ZERO, Duration::ZERO);
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

/// utime + stime of all threads of `pid`, from /proc/PID/stat.
pub fn proc_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu_ticks(&stat).map(|ticks| ticks_to_duration(ticks, clock_ticks()))
}

/// CPU time the whole machine spent busy and in steal so far, from the
/// first line of /proc/stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MachineCpu {
    pub busy: Duration,
    pub steal: Duration,
}

pub fn machine_cpu() -> Option<MachineCpu> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let hz = clock_ticks();
    parse_machine_ticks(&stat).map(|(busy, steal)| MachineCpu {
        busy: ticks_to_duration(busy, hz),
        steal: ticks_to_duration(steal, hz),
    })
}

/// (busy, steal) ticks: user, nice, system, irq, softirq and steal count
/// as busy (guest time is already inside user); idle and iowait do not.
pub fn parse_machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
    Some((busy, at(7)))
}

/// Resident set size of `pid` in KiB (VmRSS).
pub fn proc_rss_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS:")
}

/// Peak resident set size of `pid` since it started, in KiB (VmHWM): the
/// kernel's own high-water mark, which no sampling interval can miss.
pub fn proc_rss_hwm_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmHWM:")
}

/// Open file descriptors of `pid`: shows whether the server has closed the
/// connections of clients that left.
pub fn proc_fds(pid: u32) -> Option<u64> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(dir.filter(|e| e.is_ok()).count() as u64)
}

/// Number of threads of `pid`.
pub fn proc_threads(pid: u32) -> Option<u64> {
    status_field(pid, "Threads:")
}

fn status_field(pid: u32, name: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_field(&status, name)
}

/// The numeric value of a `Name:  value [kB]` line.
pub fn parse_status_field(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// utime + stime in clock ticks. The command name may contain spaces and
/// parentheses, so fields are counted from the last ')'.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // Fields 3.. of proc(5); utime is field 14, stime 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

fn ticks_to_duration(ticks: u64, hz: u64) -> Duration {
    Duration::from_nanos(ticks.saturating_mul(1_000_000_000 / hz.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_comm() {
        let s =
            "1234 (my (odd) relay) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1 2 3";
        assert_eq!(parse_stat_cpu_ticks(s), Some(300));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
        assert_eq!(parse_stat_cpu_ticks("1 (x) S 1 2"), None);
        assert_eq!(ticks_to_duration(300, 100), Duration::from_secs(3));
    }

    #[test]
    fn machine_ticks() {
        let s = "cpu  100 5 30 900 7 1 2 3 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(parse_machine_ticks(s), Some((141, 3)));
        assert_eq!(parse_machine_ticks("intr 1 2"), None);
        assert!(machine_cpu().is_some());
    }

    #[test]
    fn status_fields() {
        let s = "Name:\tx\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(parse_status_field(s, "VmRSS:"), Some(12345));
        assert_eq!(parse_status_field(s, "Threads:"), Some(3));
        assert_eq!(parse_status_field(s, "VmSwap:"), None);
    }

    #[test]
    fn own_process_is_readable() {
        let pid = std::process::id();
        assert!(proc_cpu(pid).is_some());
        assert!(proc_rss_kib(pid).unwrap_or(0) > 0);
        assert!(proc_rss_hwm_kib(pid) >= proc_rss_kib(pid));
        // At least the directory being read is open.
        assert!(proc_fds(pid).unwrap_or(0) > 0);
        let (u, s) = self_cpu();
        assert!(u + s < Duration::from_secs(3600));
    }
}
