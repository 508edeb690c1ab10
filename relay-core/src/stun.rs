//! The STUN listener: a plain UDP thread answering Binding requests.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;

use crate::metrics::StunMetrics;
use crate::proto::stun::respond;

/// Binds now (a bad address fails at start) and serves on a thread.
pub fn spawn(addr: SocketAddr, metrics: Arc<StunMetrics>) -> std::io::Result<SocketAddr> {
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
                    metrics.failures.inc();
                    continue;
                };
                metrics.requests.inc();
                let Ok(reply) = respond(&buf[..n], src) else {
                    metrics.bad_requests.inc();
                    continue;
                };
                match sock.send_to(&reply, src) {
                    Ok(_) if src.ip().to_canonical().is_ipv4() => metrics.ipv4_success.inc(),
                    Ok(_) => metrics.ipv6_success.inc(),
                    Err(_) => metrics.failures.inc(),
                }
            }
        })?;
    Ok(local)
}
