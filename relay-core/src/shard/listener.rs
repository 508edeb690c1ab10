//! Listening sockets: one per shard on the same address (SO_REUSEPORT), so
//! the kernel spreads connections across shards.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

/// Accept backlog per shard; a 10k connect storm overflows 1024.
const BACKLOG: i32 = 4096;
/// How long a busy port is retried at start. A process killed with SIGKILL
/// keeps its listeners for some milliseconds while the kernel tears down
/// its io_uring, so a supervisor's immediate restart finds the port busy.
const BUSY_RETRY: Duration = Duration::from_secs(2);

/// Binds `n` listeners on `addr`. Fails if the port is used by anything
/// else, including another SO_REUSEPORT group. With port 0 all share the
/// port the first one got.
pub fn bind(addr: SocketAddr, n: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let deadline = Instant::now() + BUSY_RETRY;
    loop {
        match try_bind(addr, n) {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            result => return result,
        }
    }
}

fn try_bind(addr: SocketAddr, n: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    // A plain bind first: SO_REUSEPORT would let us silently share the
    // port with another process of the same user.
    let probe = socket(addr, false)?;
    let addr = probe.local_addr()?;
    drop(probe);
    (0..n).map(|_| socket(addr, true)).collect()
}

fn socket(addr: SocketAddr, reuse_port: bool) -> std::io::Result<std::net::TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    if reuse_port {
        s.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        // `[::]` serves IPv4 too, as the reference does.
        s.set_only_v6(false)?;
    }
    s.bind(&addr.into())?;
    s.listen(BACKLOG)?;
    Ok(s.into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn port_zero_gives_every_shard_the_same_port() {
        let ls = super::bind("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        let port = ls[0].local_addr().unwrap().port();
        assert_ne!(port, 0);
        assert!(ls.iter().all(|l| l.local_addr().unwrap().port() == port));
    }
}
