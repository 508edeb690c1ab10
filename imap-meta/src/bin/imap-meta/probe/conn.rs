//! One IMAP connection for the probe: TCP, TLS from the first byte or
//! after STARTTLS, the greeting, then tagged commands and their complete
//! responses (literals inline, split by the library's `Framer`).

use std::net::SocketAddr;
use std::time::Duration;

use imap_meta::{Boundary, Framer, Limits};
use relay_probe::net::secs;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;

use super::response::{printable, tagged};
use super::settings::Settings;
use crate::cli::ProbeTls;
use crate::net::BoxStream;

/// One IMAP connection: complete responses (literals inline) in, commands out.
pub struct Conn<S> {
    stream: S,
    buf: Vec<u8>,
    /// Bytes of `buf` the framer has seen.
    framed: usize,
    framer: Framer,
    timeout: Duration,
    peer: String,
    next_tag: u32,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    fn new(stream: S, peer: String, timeout: Duration) -> Self {
        let limits = Limits {
            max_line: 1 << 20,
            max_literal: 1 << 20,
            max_command: 4 << 20,
            ..Limits::DEFAULT
        };
        Conn {
            stream,
            buf: Vec::new(),
            framed: 0,
            framer: Framer::new(&limits),
            timeout,
            peer,
            next_tag: 1,
        }
    }

    /// The next complete response.
    async fn response(&mut self) -> Result<Vec<u8>, String> {
        let mut chunk = [0u8; 8192];
        loop {
            while self.framed < self.buf.len() {
                let (n, b) = self
                    .framer
                    .step(&self.buf[self.framed..])
                    .map_err(|e| format!("{} sent an oversized response: {e}", self.peer))?;
                self.framed += n;
                if b == Boundary::LineEnd(None) {
                    let rest = self.buf.split_off(self.framed);
                    self.framed = 0;
                    return Ok(std::mem::replace(&mut self.buf, rest));
                }
            }
            let n = tokio::time::timeout(self.timeout, self.stream.read(&mut chunk))
                .await
                .map_err(|_| format!("{} sent nothing for {}", self.peer, secs(self.timeout)))?
                .map_err(|e| format!("reading from {}: {e}", self.peer))?;
            if n == 0 {
                return Err(format!("{} closed the connection", self.peer));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        tokio::time::timeout(self.timeout, write)
            .await
            .map_err(|_| format!("{} does not take our command", self.peer))?
            .map_err(|e| format!("writing to {}: {e}", self.peer))
    }

    /// Sends `command` with a fresh tag; the untagged responses and the
    /// tagged one's status word and text.
    pub async fn command(&mut self, command: &[u8]) -> Result<Reply, String> {
        let tag = format!("p{}", self.next_tag);
        self.next_tag += 1;
        let mut line = format!("{tag} ").into_bytes();
        line.extend_from_slice(command);
        line.extend_from_slice(b"\r\n");
        self.send(&line).await?;
        let mut untagged = Vec::new();
        loop {
            let r = self.response().await?;
            if let Some((status, text)) = tagged(&r, &tag) {
                return Ok(Reply {
                    untagged,
                    status,
                    text: text.to_owned(),
                    line: r.clone(),
                });
            }
            if r.starts_with(b"* BYE") {
                return Err(format!("{} said {}", self.peer, printable(&r)));
            }
            untagged.push(r);
        }
    }

    pub async fn logout(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.command(b"LOGOUT")).await;
    }
}

pub struct Reply {
    pub untagged: Vec<Vec<u8>>,
    /// `OK`, `NO` or `BAD`.
    pub status: String,
    pub text: String,
    pub line: Vec<u8>,
}

/// TCP, TLS as asked, and the greeting.
pub async fn connect(s: &Settings) -> Result<(Conn<BoxStream>, String), String> {
    let (tcp, peer) = tcp(&s.host, s.port, s.timeout).await?;
    match s.tls {
        ProbeTls::Plain => {
            let mut conn = Conn::new(Box::new(tcp) as BoxStream, peer, s.timeout);
            let greeting = greeting(&mut conn).await?;
            Ok((conn, format!("plain IMAP (no TLS); greeting: {greeting}")))
        }
        ProbeTls::Imaps => {
            let tls = tls(s, tcp, &peer, "imaps").await?;
            let mut conn = Conn::new(tls, peer, s.timeout);
            let greeting = greeting(&mut conn).await?;
            Ok((conn, format!("IMAPS; greeting: {greeting}")))
        }
        ProbeTls::Starttls => {
            let mut conn = Conn::new(tcp, peer.clone(), s.timeout);
            let greeting = greeting(&mut conn).await?;
            let reply = conn.command(b"STARTTLS").await?;
            if reply.status != "OK" {
                return Err(format!(
                    "{peer} refused STARTTLS: {}",
                    printable(&reply.line)
                ));
            }
            if !conn.buf.is_empty() {
                return Err(format!(
                    "{peer} sent data after STARTTLS's OK (it would be taken as coming over TLS)"
                ));
            }
            let tls = tls(s, conn.stream, &peer, "starttls").await?;
            Ok((
                Conn::new(tls, peer, s.timeout),
                format!("STARTTLS; greeting: {greeting}"),
            ))
        }
    }
}

async fn tcp(host: &str, port: u16, timeout: Duration) -> Result<(TcpStream, String), String> {
    let addrs: Vec<SocketAddr> =
        tokio::time::timeout(timeout, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| format!("looking up {host} took longer than {}", secs(timeout)))?
            .map_err(|e| format!("cannot resolve host {host}: {e}"))?
            .collect();
    let mut reasons = Vec::new();
    for addr in &addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => return Ok((s, format!("{host}:{port}"))),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => reasons.push(
                format!("connection refused at {addr} (nothing listens on that port)"),
            ),
            Ok(Err(e)) => reasons.push(format!("cannot connect to {addr}: {e}")),
            Err(_) => reasons.push(format!(
                "no answer from {addr} within {} (TCP connect timed out)",
                secs(timeout)
            )),
        }
    }
    if reasons.is_empty() {
        reasons.push(format!("{host} resolves to no address"));
    }
    Err(reasons.join("; "))
}

async fn tls(s: &Settings, tcp: TcpStream, peer: &str, mode: &str) -> Result<BoxStream, String> {
    let connector =
        crate::tls::connector(s.ca_file.as_deref(), s.insecure).map_err(|e| format!("{e:#}"))?;
    let name = ServerName::try_from(s.host.clone())
        .map_err(|e| format!("{:?} is not a valid TLS server name: {e}", s.host))?;
    match tokio::time::timeout(s.timeout, connector.connect(name, tcp)).await {
        Ok(Ok(stream)) => Ok(Box::new(stream)),
        Ok(Err(e)) => {
            let text = e.to_string();
            let hint = if text.contains("certificate") {
                " (--ca-file FILE trusts a private CA; --insecure skips the check)"
            } else if mode == "imaps" {
                " (is it a plain or STARTTLS port? try --tls starttls)"
            } else {
                ""
            };
            Err(format!("TLS handshake with {peer} failed: {text}{hint}"))
        }
        Err(_) => Err(format!(
            "TLS handshake with {peer} did not finish within {}",
            secs(s.timeout)
        )),
    }
}

async fn greeting<S: AsyncRead + AsyncWrite + Unpin>(conn: &mut Conn<S>) -> Result<String, String> {
    let g = conn.response().await?;
    let text = printable(&g);
    if g.starts_with(b"* OK") || g.starts_with(b"* PREAUTH") {
        Ok(text)
    } else if g.starts_with(b"* BYE") {
        Err(format!("{} refused the session: {text}", conn.peer))
    } else {
        Err(format!(
            "{} is not an IMAP server: it greeted with {text:?}",
            conn.peer
        ))
    }
}
