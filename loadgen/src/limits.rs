//! Open-file limit: every client is a socket, so check it before connecting.

use anyhow::{bail, Result};

/// Descriptors needed beyond the client sockets (runtime, stdio, files).
pub const SPARE_FDS: u64 = 64;

/// Raises the RLIMIT_NOFILE soft limit towards the hard limit if needed and
/// fails with advice when even the hard limit is too low.
pub fn ensure_nofile(clients: usize) -> Result<u64> {
    let need = clients as u64 + SPARE_FDS;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        bail!(
            "getrlimit(RLIMIT_NOFILE): {}",
            std::io::Error::last_os_error()
        );
    }
    if lim.rlim_cur >= need {
        return Ok(lim.rlim_cur);
    }
    if lim.rlim_max < need {
        bail!(
            "{clients} clients need about {need} open files, but the hard limit (ulimit -Hn) is {}. \
             Raise it (e.g. `ulimit -n {need}` as root, LimitNOFILE= in systemd, or nofile in \
             /etc/security/limits.conf) or use fewer --clients.",
            lim.rlim_max
        );
    }
    let raised = libc::rlimit {
        rlim_cur: lim.rlim_max,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        bail!(
            "{clients} clients need about {need} open files; the soft limit is {} and raising it \
             to the hard limit {} failed: {}. Run `ulimit -n {need}` first.",
            lim.rlim_cur,
            lim.rlim_max,
            std::io::Error::last_os_error()
        );
    }
    Ok(raised.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_pass_huge_counts_explain() {
        assert!(ensure_nofile(1).is_ok());
        let err = ensure_nofile(usize::MAX / 4).unwrap_err().to_string();
        assert!(err.contains("hard limit"), "{err}");
    }
}
