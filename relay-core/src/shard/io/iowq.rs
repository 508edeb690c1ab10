//! A cap on io_uring's async worker threads (`IORING_REGISTER_IOWQ_MAX_WORKERS`).
//!
//! Operations that cannot complete inline are handed to kernel worker
//! threads, by default up to `RLIMIT_NPROC` of them per thread. A relay
//! needs few (sockets complete by polling), and under `LimitNPROC=512`
//! (Madmail's unit) or on a busy box a runaway pool would starve everything
//! else, so each shard caps its own.

use std::io;

/// Workers per shard thread: [bounded (file I/O), unbounded (sockets)].
pub const MAX_WORKERS: [u32; 2] = [2, 4];

/// Sets the calling thread's worker limits and returns them as the kernel
/// now has them. The limits belong to the thread's io-wq, which every ring
/// the thread uses shares (a throwaway ring carries the registration).
pub fn cap(max: [u32; 2]) -> io::Result<[u32; 2]> {
    let ring = io_uring::IoUring::new(2)?;
    let mut set = max;
    ring.submitter().register_iowq_max_workers(&mut set)?;
    // Zeros change nothing and read the limits back.
    let mut now = [0; 2];
    ring.submitter().register_iowq_max_workers(&mut now)?;
    Ok(now)
}

#[cfg(test)]
mod tests {
    #[test]
    fn limits_read_back_as_set() {
        std::thread::spawn(|| {
            assert_eq!(super::cap([2, 3]).unwrap(), [2, 3]);
            assert_eq!(super::cap(super::MAX_WORKERS).unwrap(), super::MAX_WORKERS);
        })
        .join()
        .unwrap();
    }
}
