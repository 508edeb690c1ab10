//! One connection to the relay, plain TCP or TLS, that one thread reads
//! while others write. Over TLS both halves share the rustls state under a
//! lock; the reader waits for bytes on the socket without holding it
//! (`peek`), so a writer never waits for a read.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ClientConnection};

use super::net::{self, Failure, ReadError};
use super::target::Target;
use super::tls;

/// The reading half (and the connection's identity).
#[derive(Debug)]
pub struct Conn {
    tcp: TcpStream,
    tls: Option<Arc<Mutex<ClientConnection>>>,
}

/// The writing half; any thread, one write at a time.
#[derive(Debug)]
pub struct ConnWriter {
    tcp: TcpStream,
    tls: Option<Arc<Mutex<ClientConnection>>>,
}

/// Connects within `timeout`: TCP, then the TLS handshake when `tls` is
/// given (the target is https).
pub fn connect(
    target: &Target,
    addrs: &[SocketAddr],
    tls: Option<&Arc<ClientConfig>>,
    timeout: Duration,
) -> Result<Conn, Failure> {
    let tcp = net::connect(addrs, timeout)?;
    let _ = tcp.set_write_timeout(Some(timeout));
    let tls = match tls {
        Some(config) => Some(Arc::new(Mutex::new(handshake(
            &tcp, target, config, timeout,
        )?))),
        None => None,
    };
    Ok(Conn { tcp, tls })
}

fn handshake(
    tcp: &TcpStream,
    target: &Target,
    config: &Arc<ClientConfig>,
    timeout: Duration,
) -> Result<ClientConnection, Failure> {
    let name = tls::server_name(&target.host).map_err(Failure::new)?;
    let mut conn = ClientConnection::new(config.clone(), name)
        .map_err(|e| Failure::new(format!("TLS setup for {}: {e}", target.host)))?;
    let peer = peer_text(tcp, target);
    let deadline = Instant::now() + timeout;
    while conn.is_handshaking() {
        let Some(left) = net::remaining(deadline) else {
            return Err(Failure::new(format!(
                "TLS handshake with {peer} did not finish within {}",
                net::secs(timeout)
            )));
        };
        let _ = tcp.set_read_timeout(Some(left));
        if let Err(e) = conn.complete_io(&mut &*tcp) {
            let why = match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => format!(
                    "no answer within {} (is it a TLS port?)",
                    net::secs(timeout)
                ),
                io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted => "the server closed the connection".to_owned(),
                _ => tls::handshake_error(&e, &target.host),
            };
            // Every later connection would fail the same way.
            return Err(Failure {
                reason: format!("TLS handshake with {peer} failed: {why}"),
                unreachable: true,
            });
        }
    }
    Ok(conn)
}

fn peer_text(tcp: &TcpStream, target: &Target) -> String {
    tcp.peer_addr()
        .map_or_else(|_| target.authority(), |a| a.to_string())
}

fn lock(m: &Mutex<ClientConnection>) -> io::Result<MutexGuard<'_, ClientConnection>> {
    m.lock()
        .map_err(|_| io::Error::other("TLS state lock poisoned"))
}

impl Conn {
    /// The relay's address as connected.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.tcp.peer_addr().ok()
    }

    /// The writing half.
    pub fn writer(&self) -> io::Result<ConnWriter> {
        Ok(ConnWriter {
            tcp: self.tcp.try_clone()?,
            tls: self.tls.clone(),
        })
    }

    /// Reads some bytes into `buf`, waiting until `deadline` at most.
    pub fn read_some(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, ReadError> {
        let Some(tls) = self.tls.clone() else {
            return net::read_some(&mut self.tcp, buf, deadline);
        };
        let mut eof = false;
        loop {
            {
                let mut conn = lock(&tls).map_err(ReadError::Io)?;
                match conn.reader().read(buf) {
                    Ok(0) => return Err(ReadError::Closed),
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && !eof => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::UnexpectedEof | io::ErrorKind::WouldBlock
                        ) =>
                    {
                        return Err(ReadError::Closed)
                    }
                    Err(e) => return Err(ReadError::Io(e)),
                }
            }
            // Wait for TLS bytes without holding the lock.
            let left = net::remaining(deadline).ok_or(ReadError::Timeout)?;
            self.tcp
                .set_read_timeout(Some(left))
                .map_err(ReadError::Io)?;
            match self.tcp.peek(&mut [0u8; 1]) {
                Ok(0) => eof = true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
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
            let mut conn = lock(&tls).map_err(ReadError::Io)?;
            conn.read_tls(&mut &self.tcp).map_err(|e| match e.kind() {
                io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
                    ReadError::Closed
                }
                _ => ReadError::Io(e),
            })?;
            if let Err(e) = conn.process_new_packets() {
                return Err(ReadError::Io(io::Error::other(format!("TLS: {e}"))));
            }
            // A TLS 1.3 key update wants an answer.
            while conn.wants_write() {
                conn.write_tls(&mut &self.tcp).map_err(ReadError::Io)?;
            }
        }
    }
}

impl ConnWriter {
    /// Writes all of `bytes` (blocking up to the connect timeout per write).
    pub fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        let Some(tls) = &self.tls else {
            return (&self.tcp).write_all(bytes);
        };
        let mut conn = lock(tls)?;
        let mut rest = bytes;
        loop {
            let n = conn.writer().write(rest)?;
            rest = &rest[n..];
            while conn.wants_write() {
                conn.write_tls(&mut &self.tcp)?;
            }
            if rest.is_empty() {
                return Ok(());
            }
        }
    }
}
