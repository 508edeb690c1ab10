//! Blocking TCP with deadlines, and socket errors in an operator's words.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A failed step: what an operator reads, and whether the relay could not
/// be reached at all, by TCP or TLS (then later steps are skipped, not
/// failed again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: String,
    pub unreachable: bool,
}

impl Failure {
    pub fn new(reason: impl Into<String>) -> Self {
        Failure {
            reason: reason.into(),
            unreachable: false,
        }
    }

    fn unreachable(reason: String) -> Self {
        Failure {
            reason,
            unreachable: true,
        }
    }
}

/// Connects to the first address that answers within `timeout` each.
pub fn connect(addrs: &[SocketAddr], timeout: Duration) -> Result<TcpStream, Failure> {
    let mut reasons = Vec::new();
    for addr in addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(s) => {
                // As iroh's client does; the probe's packets are tiny.
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => reasons.push(connect_error(*addr, &e, timeout)),
        }
    }
    if reasons.is_empty() {
        reasons.push("no address to connect to".to_owned());
    }
    Err(Failure::unreachable(reasons.join("; ")))
}

fn connect_error(addr: SocketAddr, e: &io::Error, timeout: Duration) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            format!("connection refused at {addr} (nothing listens on that port)")
        }
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => format!(
            "no answer from {addr} within {} (TCP connect timed out: host down or port filtered)",
            secs(timeout)
        ),
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            format!("{addr} is unreachable ({e})")
        }
        _ => format!("cannot connect to {addr}: {e}"),
    }
}

/// Time left until `deadline`, or `None` once it has passed.
pub fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

/// Why a read gave nothing.
#[derive(Debug)]
pub enum ReadError {
    /// The deadline passed first.
    Timeout,
    /// The peer closed the connection (EOF or reset).
    Closed,
    Io(io::Error),
}

/// Reads some bytes into `buf`, waiting until `deadline` at most.
pub fn read_some(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<usize, ReadError> {
    loop {
        let left = remaining(deadline).ok_or(ReadError::Timeout)?;
        stream.set_read_timeout(Some(left)).map_err(ReadError::Io)?;
        match stream.read(buf) {
            Ok(0) => return Err(ReadError::Closed),
            Ok(n) => return Ok(n),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ) =>
            {
                return Err(ReadError::Closed)
            }
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
}

/// A duration as an operator reads it: `5s`, `2.5s`, `0.25s`.
pub fn secs(d: Duration) -> String {
    let text = format!("{:.3}", d.as_secs_f64());
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}s")
}

/// Milliseconds with two decimals, for round-trip times.
pub fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_words() {
        assert_eq!(secs(Duration::from_secs(5)), "5s");
        assert_eq!(secs(Duration::from_millis(2500)), "2.5s");
        assert_eq!(secs(Duration::from_millis(250)), "0.25s");
        assert_eq!(millis(Duration::from_micros(1234)), "1.23 ms");
    }

    #[test]
    fn refused_port_is_unreachable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let err = connect(&[addr], Duration::from_secs(2)).unwrap_err();
        assert!(err.unreachable);
        assert_eq!(
            err.reason,
            format!("connection refused at {addr} (nothing listens on that port)")
        );
    }
}
