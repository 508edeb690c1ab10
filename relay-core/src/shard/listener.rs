//! Listening sockets: one per shard on the same address (SO_REUSEPORT), so
//! the kernel spreads connections across shards.

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Accept backlog per shard; a 10k connect storm overflows 1024.
const BACKLOG: i32 = 4096;

/// Binds `n` listeners on `addr`. Fails if the port is used by anything
/// else, including another SO_REUSEPORT group.
pub fn bind(addr: SocketAddr, n: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    // A plain bind first: SO_REUSEPORT would let us silently share the
    // port with another process of the same user.
    drop(socket(addr, false)?);
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
