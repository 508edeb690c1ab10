//! Establishing one client: TCP connect from a spread source address, the
//! HTTP upgrade its protocol asks for, then the handshake until the first
//! Pong (what iroh clients treat as "connected").

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;

use relay_proto::MAX_FRAME_SIZE;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::handshake::{Credentials, Handshake, Step};
use crate::protocol::Protocol;
use crate::upgrade;
use crate::wire::Wire;

/// A client that finished its handshake.
pub struct Connected {
    pub stream: TcpStream,
    pub wire: Wire,
    /// Bytes read past the handshake (start of the next frame).
    pub partial: Vec<u8>,
    /// Replies owed to the server (Pongs to its Pings) not yet written.
    pub out: Vec<u8>,
}

/// Failure classes reported in the summary.
#[derive(Debug)]
pub enum ConnectError {
    Tcp(io::Error),
    Http(String),
    Handshake(String),
    Io(io::Error),
}

impl ConnectError {
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectError::Tcp(_) => "tcp_connect",
            ConnectError::Http(_) => "http_upgrade",
            ConnectError::Handshake(_) => "handshake",
            ConnectError::Io(_) => "io",
        }
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Tcp(e) => write!(f, "TCP connect: {e}"),
            ConnectError::Http(e) => write!(f, "upgrade: {e}"),
            ConnectError::Handshake(e) => write!(f, "handshake: {e}"),
            ConnectError::Io(e) => write!(f, "I/O: {e}"),
        }
    }
}

/// Source address for client `idx`: 127.0.0.(1 + idx % n) for IPv4
/// loopback targets, so 10k clients and repeated runs spread over many
/// (source, destination) port spaces.
pub fn source_ip(target: SocketAddr, idx: usize, n: u8) -> Option<Ipv4Addr> {
    match target.ip() {
        IpAddr::V4(v4) if v4.is_loopback() => {
            Some(Ipv4Addr::new(127, 0, 0, 1 + (idx % n as usize) as u8))
        }
        _ => None,
    }
}

fn socket_for(target: SocketAddr, src: Option<Ipv4Addr>) -> io::Result<TcpSocket> {
    let sock = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = src {
        let one: libc::c_int = 1;
        // SAFETY: valid fd and option value of the declared size. Lets the
        // kernel pick the port at connect() per 4-tuple instead of at bind().
        let rc = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        sock.bind(SocketAddr::new(IpAddr::V4(ip), 0))?;
    }
    Ok(sock)
}

/// Runs the whole client handshake (no timeout here; the caller wraps it).
/// `seed` picks the websocket masks and the Ping's data.
pub async fn establish(
    target: SocketAddr,
    src: Option<Ipv4Addr>,
    host: &str,
    protocol: Protocol,
    creds: Credentials<'_>,
    seed: u64,
) -> Result<Connected, ConnectError> {
    let sock = socket_for(target, src).map_err(ConnectError::Tcp)?;
    let mut stream = sock.connect(target).await.map_err(ConnectError::Tcp)?;
    // iroh clients set TCP_NODELAY.
    stream.set_nodelay(true).map_err(ConnectError::Io)?;

    let key = match protocol {
        Protocol::Derp => String::new(),
        Protocol::Ws | Protocol::V2 | Protocol::V1 => upgrade::ws_key(),
    };
    stream
        .write_all(&upgrade::request(protocol, host, &key))
        .await
        .map_err(ConnectError::Io)?;
    let mut buf = Vec::with_capacity(512);
    let head_len = loop {
        if read_more(&mut stream, &mut buf).await? == 0 {
            return Err(ConnectError::Http(
                "connection closed before the 101".into(),
            ));
        }
        match upgrade::check_response(&buf, protocol, &key) {
            Ok(Some(n)) => break n,
            Ok(None) => {}
            Err(e) => return Err(ConnectError::Http(e.to_string())),
        }
    };
    buf.drain(..head_len);

    let dialect = protocol.dialect();
    let mut wire = Wire::new(dialect, seed);
    let mut hs = Handshake::new(dialect, creds, seed.to_le_bytes());
    let mut out = Vec::with_capacity(200);
    hs.start(&mut wire.writer, &mut out);
    loop {
        let mut failed = None;
        let drained = wire
            .frames(&mut buf, |w, ty, payload| {
                match hs.on_frame(ty, payload, w, &mut out) {
                    Ok(step) => step != Step::Done,
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                }
            })
            .map_err(|e| ConnectError::Handshake(e.to_string()))?;
        buf.drain(..drained.consumed);
        if let Some(e) = failed {
            return Err(ConnectError::Handshake(e));
        }
        if hs.step() == Step::Done {
            return Ok(Connected {
                stream,
                wire,
                partial: buf,
                out,
            });
        }
        if drained.closed {
            return Err(ConnectError::Handshake("websocket closed".into()));
        }
        // Replies (ClientInfo or ClientAuth, the Ping, Pongs) go out before the next read.
        if !out.is_empty() {
            stream.write_all(&out).await.map_err(ConnectError::Io)?;
            out.clear();
        }
        if read_more(&mut stream, &mut buf).await? == 0 {
            return Err(ConnectError::Handshake(match hs.step() {
                Step::Pong if dialect.family() == relay_proto::Family::V035 => {
                    "connection closed before the first Pong (rejected ClientInfo?)".into()
                }
                step => format!("connection closed while waiting for {step:?}"),
            }));
        }
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<usize, ConnectError> {
    // Complete frames are consumed as they arrive, so only one partial frame can pile up.
    if buf.len() > MAX_FRAME_SIZE + 64 {
        return Err(ConnectError::Handshake(
            "too much data before the first Pong".into(),
        ));
    }
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk).await.map_err(ConnectError::Io)?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ips_spread_over_loopback() {
        let v4: SocketAddr = "127.0.0.1:3340".parse().unwrap();
        assert_eq!(source_ip(v4, 0, 16), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(source_ip(v4, 17, 16), Some(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(source_ip(v4, 253, 254), Some(Ipv4Addr::new(127, 0, 0, 254)));
        let v6: SocketAddr = "[::1]:3340".parse().unwrap();
        assert_eq!(source_ip(v6, 3, 16), None);
    }
}
