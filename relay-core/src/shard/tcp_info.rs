//! What the kernel knows about a connection's progress (`TCP_INFO`).
//!
//! A shard that is busy for a while observes its write completions late;
//! the kernel's counters move regardless, so they tell a slow reader (bytes
//! still being acknowledged) from a stalled one (nothing acknowledged).

use std::os::fd::RawFd;

/// A connection's send side as the kernel sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendProgress {
    /// Bytes of ours the peer has acknowledged, ever.
    pub acked: u64,
    /// Whether bytes wait in the kernel (unsent or unacknowledged): if
    /// not, the kernel is not waiting for the peer.
    pub waiting: bool,
}

/// The send side's progress (`tcpi_bytes_acked`, Linux 4.1+;
/// `tcpi_notsent_bytes`, 4.6+). `None` if the kernel does not report it.
pub fn send_progress(fd: RawFd) -> Option<SendProgress> {
    // SAFETY: tcp_info is plain old data; all-zero is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info` and
    // updates `len`; a bad fd is reported as an error.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    let end = std::mem::offset_of!(libc::tcp_info, tcpi_notsent_bytes) + 4;
    (rc == 0 && len as usize >= end).then_some(SendProgress {
        acked: info.tcpi_bytes_acked,
        waiting: info.tcpi_unacked > 0 || info.tcpi_notsent_bytes > 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    #[test]
    fn acked_bytes_follow_the_reader() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut a = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut b, _) = l.accept().unwrap();
        let before = send_progress(a.as_raw_fd()).unwrap();
        assert!(!before.waiting);
        a.write_all(&[7; 1000]).unwrap();
        let mut got = [0; 1000];
        b.read_exact(&mut got).unwrap();
        // The ack may trail the read by a moment on a busy machine.
        let mut after = send_progress(a.as_raw_fd()).unwrap();
        for _ in 0..100 {
            if after.acked >= before.acked + 1000 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            after = send_progress(a.as_raw_fd()).unwrap();
        }
        assert_eq!(after.acked, before.acked + 1000);
        assert_eq!(send_progress(-1), None);
        // A peer that does not read: bytes wait, nothing more is acked.
        a.set_nonblocking(true).unwrap();
        while a.write(&[1; 65536]).is_ok() {}
        std::thread::sleep(std::time::Duration::from_millis(50));
        let stuck = send_progress(a.as_raw_fd()).unwrap();
        assert!(stuck.waiting);
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(send_progress(a.as_raw_fd()).unwrap(), stuck);
    }
}
