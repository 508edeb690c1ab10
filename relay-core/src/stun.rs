//! The STUN listener: a plain UDP thread answering Binding requests.

use std::net::{SocketAddr, UdpSocket};

use crate::proto::stun::{respond, StunError};

pub fn spawn(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        None,
    )?;
    if addr.is_ipv6() {
        sock.set_only_v6(false)?;
    }
    sock.bind(&addr.into())?;
    let sock: UdpSocket = sock.into();
    let local = sock.local_addr()?;
    std::thread::Builder::new()
        .name("stun".into())
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let Ok((n, src)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                match respond(&buf[..n], src) {
                    Ok(reply) => {
                        let _ = sock.send_to(&reply, src);
                    }
                    Err(StunError::NotStun) | Err(StunError::Rejected(_)) => {}
                }
            }
        })?;
    Ok(local)
}
