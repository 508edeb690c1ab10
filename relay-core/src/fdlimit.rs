//! The open-file limit: every client is a descriptor. Services often start
//! with a soft limit of 1024 under a much higher hard limit (systemd's
//! default, and chatmail's unit sets none), so the relay raises its own.

use std::io;

/// Descriptors for 10,000 clients plus what the relay itself holds.
pub fn wanted(shards: usize) -> u64 {
    10_000 + 64 + 16 * shards as u64
}

/// The soft and hard `RLIMIT_NOFILE`.
pub fn get() -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((lim.rlim_cur, lim.rlim_max))
}

/// Raises the soft limit to the hard limit; returns (before, after).
pub fn raise_to_hard() -> io::Result<(u64, u64)> {
    let (soft, hard) = get()?;
    if soft >= hard {
        return Ok((soft, soft));
    }
    let raised = libc::rlimit {
        rlim_cur: hard,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((soft, hard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raise_reaches_the_hard_limit() {
        let (_, hard) = get().unwrap();
        let (_, after) = raise_to_hard().unwrap();
        assert_eq!(after, hard);
        assert_eq!(get().unwrap(), (hard, hard));
        assert!(wanted(2) > 10_000);
    }
}
