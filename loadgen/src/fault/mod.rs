//! Fault modes run beside the well-behaved clients of a load run: clients
//! that churn, stall the request head, stop reading, send garbage or
//! vanish. Each is bounded in count (`--fault-clients`) and time
//! (`--fault-for`), and like the rest of loadgen talks only to loopback.
//!
//! The offenders live on their own thread and runtime, so the well-behaved
//! clients' threads are untouched; the server's VmRSS and open descriptors
//! are sampled over the fault's life (see [`report`]).

pub mod churn;
pub mod garbage;
pub mod half_open;
pub mod options;
pub mod peer;
pub mod report;
pub mod slow_reader;
pub mod slowloris;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;

use crate::shared::Shared;
use options::FaultConfig;

pub use report::{FaultReport, Runner};

/// Offender counters, shared by a mode's tasks and read for the report.
#[derive(Debug, Default)]
pub struct Counters {
    /// TCP connections opened.
    pub opened: AtomicU64,
    /// Connections that finished the 0.35 handshake (first Pong).
    pub established: AtomicU64,
    /// Connect or handshake attempts that failed.
    pub failed: AtomicU64,
    /// Connections the server ended (FIN or reset) while the fault ran.
    pub closed_by_server: AtomicU64,
    /// Closes whose moment was seen (a receiver that reads nothing learns
    /// of the close only when it reads again, at the end).
    pub close_timed: AtomicU64,
    /// Sum and largest of the milliseconds from the offence starting to
    /// the server closing the connection, over the timed closes.
    pub close_ms_sum: AtomicU64,
    pub close_ms_max: AtomicU64,
    /// Connections the offenders ended themselves (churn, resets).
    pub closed_by_client: AtomicU64,
    /// Offending connections still open when the fault stopped.
    pub open_at_stop: AtomicU64,
    /// Bytes the offenders wrote (garbage, head bytes, packets).
    pub bytes_sent: AtomicU64,
    pub packets_sent: AtomicU64,
    pub packets_received: AtomicU64,
    /// PeerGone frames the offenders received.
    pub peer_gone: AtomicU64,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Records a server-side close `after` the offence began.
    pub fn server_closed(&self, after: Duration) {
        let ms = after.as_millis() as u64;
        self.closed_by_server.fetch_add(1, Ordering::Relaxed);
        self.close_timed.fetch_add(1, Ordering::Relaxed);
        self.close_ms_sum.fetch_add(ms, Ordering::Relaxed);
        self.close_ms_max.fetch_max(ms, Ordering::Relaxed);
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// What a mode's tasks share.
pub struct Ctx {
    pub cfg: FaultConfig,
    pub target: SocketAddr,
    pub host: String,
    pub counters: Arc<Counters>,
    /// Becomes true when the fault ends.
    pub stop: watch::Receiver<bool>,
    /// Becomes true when the run ends (churn clients stay until then).
    pub exit: watch::Receiver<bool>,
    /// Set by a mode once its offenders are all in place (churn: all
    /// connected), so the report can take the pre-fault sample.
    pub ready: watch::Sender<bool>,
    /// Set once the fault has wound down after `stop` (churn: every
    /// client connected again); the report then takes its `after` reading.
    pub done: watch::Sender<bool>,
    pub shared: Arc<Shared>,
}

impl Ctx {
    pub fn stopped(&self) -> bool {
        *self.stop.borrow()
    }
}

/// Resolves once `rx` reads true (or its sender is gone).
pub async fn wait_true(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// Source address of offender `idx`: 127.0.0.101 ..= 127.0.0.132, apart
/// from the well-behaved clients' 127.0.0.1 ..= 16 (IPv4 targets only).
pub fn source_ip(target: SocketAddr, idx: usize) -> Option<Ipv4Addr> {
    match target.ip() {
        IpAddr::V4(v4) if v4.is_loopback() => {
            Some(Ipv4Addr::new(127, 0, 0, 101 + (idx % 32) as u8))
        }
        _ => None,
    }
}

/// A plain TCP connection from offender `idx`'s source address.
pub async fn tcp_connect(target: SocketAddr, idx: usize) -> std::io::Result<TcpStream> {
    let sock = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source_ip(target, idx) {
        sock.bind(SocketAddr::new(IpAddr::V4(ip), 0))?;
    }
    let s = sock.connect(target).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Closes `stream` with a reset instead of a FIN (SO_LINGER 0): to the
/// server the client vanished.
pub fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Whether the server has closed `stream`: reads (and discards) what is
/// buffered, for at most `limit`, until EOF, a reset, or nothing more.
pub async fn closed_by_server(stream: &TcpStream, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.try_read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return true,
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        // Data the server still had queued may arrive after a moment.
        if tokio::time::timeout(left.min(Duration::from_millis(100)), stream.readable())
            .await
            .is_err()
            && tokio::time::Instant::now() >= deadline
        {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offenders_use_their_own_sources() {
        let v4: SocketAddr = "127.0.0.1:3340".parse().unwrap();
        assert_eq!(source_ip(v4, 0), Some(Ipv4Addr::new(127, 0, 0, 101)));
        assert_eq!(source_ip(v4, 33), Some(Ipv4Addr::new(127, 0, 0, 102)));
        assert_eq!(source_ip("[::1]:1".parse().unwrap(), 0), None);
    }
}
