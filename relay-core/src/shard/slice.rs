//! Asks the scheduler for a short time slice on each shard thread.
//!
//! Under EEVDF (Linux 6.12+) the `sched_runtime` of a SCHED_OTHER thread is
//! the slice it requests. A short slice gives the thread an early virtual
//! deadline, so a shard woken by a packet or by another shard's batch
//! preempts a busy neighbour (an IMAP server, a loadgen) instead of waiting
//! out that neighbour's slice. The shard still gets its fair share of CPU.
//! Older kernels ignore the field; a refusal is only logged.

/// The slice shard threads ask for: the kernel's minimum.
pub const SHARD_SLICE_NS: u64 = 100_000;

/// `struct sched_attr`, first version (48 bytes).
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
}

/// Requests `slice_ns` for the calling thread, keeping its nice value.
pub fn request(slice_ns: u64) -> std::io::Result<()> {
    // SAFETY: getpriority takes no pointers; errno is cleared first because
    // -1 is also a valid nice value.
    let nice = unsafe {
        *libc::__errno_location() = 0;
        libc::getpriority(libc::PRIO_PROCESS, 0)
    };
    if nice == -1 && std::io::Error::last_os_error().raw_os_error() != Some(0) {
        return Err(std::io::Error::last_os_error());
    }
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        sched_policy: libc::SCHED_OTHER as u32,
        sched_nice: nice,
        sched_runtime: slice_ns,
        ..Default::default()
    };
    // SAFETY: attr is a valid sched_attr of the size it declares; pid 0 is
    // the calling thread.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `se.slice` of the calling thread, where the kernel shows it.
    fn current_slice() -> Option<u64> {
        let sched = std::fs::read_to_string("/proc/thread-self/sched").ok()?;
        sched
            .lines()
            .find(|l| l.trim_start().starts_with("se.slice"))?
            .split(':')
            .nth(1)?
            .trim()
            .parse()
            .ok()
    }

    fn kernel_at_least(major: u32, minor: u32) -> bool {
        let Ok(r) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
            return false;
        };
        let mut it = r
            .trim()
            .split(['.', '-'])
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let (a, b) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
        (a, b) >= (major, minor)
    }

    #[test]
    fn thread_gets_the_requested_slice() {
        std::thread::spawn(|| {
            request(SHARD_SLICE_NS).expect("sched_setattr with the current nice");
            // EEVDF custom slices arrived in 6.12; where the kernel shows
            // the slice, it must be the one asked for.
            if kernel_at_least(6, 12) {
                if let Some(s) = current_slice() {
                    assert_eq!(s, SHARD_SLICE_NS);
                }
            }
        })
        .join()
        .expect("test thread");
    }
}
