//! A minimal raw HTTP/1.1 client over a plain TcpStream: exact request bytes
//! out, parsed response head (and body) in.

use std::{net::SocketAddr, time::Duration};

use anyhow::{bail, Context, Result};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

/// Per-read timeout for responses.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// The RFC 6455 section 1.3 example key and its accept value.
pub const WS_EXAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const WS_EXAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header (lower-cased name, value) pairs in wire order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) UTF-8.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Connects to `addr` with a bounded timeout.
pub async fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let s = timeout(IO_TIMEOUT, TcpStream::connect(addr))
        .await
        .context("connect timed out")?
        .context("connect failed")?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Connects with a small receive buffer (set before connect, so the window
/// stays small), for slow-receiver tests.
pub async fn connect_small_rcvbuf(addr: SocketAddr, rcvbuf: u32) -> Result<TcpStream> {
    let sock = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    sock.set_recv_buffer_size(rcvbuf)?;
    let s = timeout(IO_TIMEOUT, sock.connect(addr))
        .await
        .context("connect timed out")?
        .context("connect failed")?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// `GET <path>` with a Host header and extra header lines (each without CRLF).
pub fn get_request(path: &str, host: &str, extra: &[&str]) -> Vec<u8> {
    request("GET", path, host, extra)
}

/// `<method> <path>` with a Host header and extra header lines.
pub fn request(method: &str, path: &str, host: &str, extra: &[&str]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for h in extra {
        r.push_str(h);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// The iroh 0.35 custom upgrade request, byte for byte (docs/protocol-0.35.md §2.3).
pub fn relay_upgrade_request(path: &str, port: u16) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nupgrade: iroh derp http\r\nhost: 127.0.0.1:{port}\r\n\r\n")
        .into_bytes()
}

/// A standard WebSocket upgrade request (no subprotocol) using the RFC example key.
pub fn ws_upgrade_request(path: &str, port: u16) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {WS_EXAMPLE_KEY}\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// Reads one response head byte-by-byte (so no bytes after the head are
/// consumed), then its body if it has one.
pub async fn read_response(s: &mut TcpStream) -> Result<Response> {
    let head = read_head(s).await?;
    let (status, headers) = parse_head(&head)?;
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if status == 101 || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(resp);
    }
    if let Some(len) = resp.header("content-length") {
        let len: usize = len.trim().parse().context("bad content-length")?;
        let mut body = vec![0u8; len];
        timeout(IO_TIMEOUT, s.read_exact(&mut body))
            .await
            .context("body read timed out")?
            .context("body read failed")?;
        resp.body = body;
    } else if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        resp.body = read_chunked(s).await?;
    }
    Ok(resp)
}

async fn read_head(s: &mut TcpStream) -> Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = timeout(IO_TIMEOUT, s.read(&mut b))
            .await
            .context("response head read timed out")?
            .context("response head read failed")?;
        if n == 0 {
            bail!(
                "EOF inside response head after {:?}",
                String::from_utf8_lossy(&head)
            );
        }
        head.push(b[0]);
        if head.len() > MAX_HEAD {
            bail!("response head too long");
        }
    }
    Ok(head)
}

fn parse_head(head: &[u8]) -> Result<(u16, Vec<(String, String)>)> {
    let text = std::str::from_utf8(head).context("response head not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().context("no status line")?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if version != "HTTP/1.1" {
        bail!("unexpected status line {status_line:?}");
    }
    let status: u16 = parts
        .next()
        .context("no status code")?
        .parse()
        .context("bad status code")?;
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .with_context(|| format!("bad header line {line:?}"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Ok((status, headers))
}

async fn read_chunked(s: &mut TcpStream) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(s).await?;
        let size_str = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_str, 16).context("bad chunk size")?;
        if size == 0 {
            // Trailers until an empty line.
            while !read_line(s).await?.is_empty() {}
            return Ok(body);
        }
        let mut chunk = vec![0u8; size + 2];
        timeout(IO_TIMEOUT, s.read_exact(&mut chunk))
            .await
            .context("chunk read timed out")??;
        chunk.truncate(size);
        body.extend_from_slice(&chunk);
    }
}

async fn read_line(s: &mut TcpStream) -> Result<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        let n = timeout(IO_TIMEOUT, s.read(&mut b))
            .await
            .context("line read timed out")??;
        if n == 0 {
            bail!("EOF inside chunked body");
        }
        line.push(b[0]);
        if line.len() > MAX_HEAD {
            bail!("line too long");
        }
    }
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Opens a connection, sends `req`, reads one response.
pub async fn roundtrip(addr: SocketAddr, req: &[u8]) -> Result<Response> {
    let mut s = connect(addr).await?;
    s.write_all(req).await?;
    read_response(&mut s).await
}
