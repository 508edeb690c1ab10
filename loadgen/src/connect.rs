//! Establishing one client: TCP connect from a spread source address,
//! HTTP upgrade, ClientInfo, then Ping until the first Pong (what an iroh
//! 0.35 client treats as "connected").

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;

use relay_proto::frame::decode;
use relay_proto::ws::Role;
use relay_proto::{Frame, Transport, MAX_FRAME_SIZE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::codec::{Decoder, Encoder};
use crate::protocol::Protocol;
use crate::upgrade;

/// A client that finished its handshake.
pub struct Established {
    pub stream: TcpStream,
    pub dec: Decoder,
    pub enc: Encoder,
    /// Bytes read past the Pong (start of the next frame).
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

pub(crate) fn socket_for(target: SocketAddr, src: Option<Ipv4Addr>) -> io::Result<TcpSocket> {
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
pub async fn establish(
    target: SocketAddr,
    src: Option<Ipv4Addr>,
    host: &str,
    protocol: Protocol,
    client_info: &[u8],
    seed: u64,
) -> Result<Established, ConnectError> {
    let transport = match protocol {
        Protocol::Derp => Transport::Derp,
        Protocol::Ws => Transport::Websocket,
        Protocol::V2 | Protocol::V1 => {
            return Err(ConnectError::Http(
                "1.x clients connect through v1x::connect".into(),
            ))
        }
    };
    let sock = socket_for(target, src).map_err(ConnectError::Tcp)?;
    let mut stream = sock.connect(target).await.map_err(ConnectError::Tcp)?;
    // iroh clients set TCP_NODELAY.
    stream.set_nodelay(true).map_err(ConnectError::Io)?;

    let key = match transport {
        Transport::Websocket => upgrade::ws_key(),
        Transport::Derp => String::new(),
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

    let mut enc = Encoder::new(transport, seed);
    let mut dec = Decoder::new(transport, Role::Client);
    let ping = seed.to_le_bytes();
    let mut hello = Vec::with_capacity(200);
    enc.encode(&mut hello, &Frame::ClientInfo(client_info));
    enc.encode(&mut hello, &Frame::Ping(ping));
    stream.write_all(&hello).await.map_err(ConnectError::Io)?;

    let mut out = Vec::new();
    loop {
        let mut result: Option<Result<(), String>> = None;
        let drained = dec
            .drain(&mut buf, |ty, payload| match decode(ty, payload) {
                Ok(Frame::Pong(d)) if d == ping => {
                    result = Some(Ok(()));
                    false
                }
                Ok(Frame::Ping(d)) => {
                    enc.encode(&mut out, &Frame::Pong(d));
                    true
                }
                Ok(Frame::Health(t)) => {
                    result = Some(Err(format!("server health message: {t}")));
                    false
                }
                Ok(_) => true,
                Err(e) => {
                    result = Some(Err(e.to_string()));
                    false
                }
            })
            .map_err(|e| ConnectError::Handshake(e.to_string()))?;
        buf.drain(..drained.consumed);
        match result {
            Some(Ok(())) => {
                return Ok(Established {
                    stream,
                    dec,
                    enc,
                    partial: buf,
                    out,
                })
            }
            Some(Err(e)) => return Err(ConnectError::Handshake(e)),
            None if drained.closed => {
                return Err(ConnectError::Handshake("websocket closed".into()))
            }
            None => {}
        }
        if read_more(&mut stream, &mut buf).await? == 0 {
            return Err(ConnectError::Handshake(
                "connection closed before the first Pong (rejected ClientInfo?)".into(),
            ));
        }
    }
}

pub(crate) async fn read_more(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Result<usize, ConnectError> {
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
