//! Open-file limit: every client is a socket, so check it before connecting.

use anyhow::{anyhow, bail, Result};
use relay_core::fdlimit;

/// Descriptors needed beyond the client sockets (runtime, stdio, files).
pub const SPARE_FDS: u64 = 64;

/// Raises the RLIMIT_NOFILE soft limit towards the hard limit if needed and
/// fails with advice when even the hard limit is too low.
pub fn ensure_nofile(clients: usize) -> Result<u64> {
    let need = clients as u64 + SPARE_FDS;
    let (soft, hard) = fdlimit::get().map_err(|e| anyhow!("getrlimit(RLIMIT_NOFILE): {e}"))?;
    if soft >= need {
        return Ok(soft);
    }
    if hard < need {
        bail!(
            "{clients} clients need about {need} open files, but the hard limit (ulimit -Hn) is {hard}. \
             Raise it (e.g. `ulimit -n {need}` as root, LimitNOFILE= in systemd, or nofile in \
             /etc/security/limits.conf) or use fewer --clients."
        );
    }
    match fdlimit::raise_to_hard() {
        Ok((_, raised)) => Ok(raised),
        Err(e) => bail!(
            "{clients} clients need about {need} open files; the soft limit is {soft} and raising it \
             to the hard limit {hard} failed: {e}. Run `ulimit -n {need}` first."
        ),
    }
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
