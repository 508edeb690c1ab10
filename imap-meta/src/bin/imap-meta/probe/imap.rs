//! The IMAP side of `imap-meta probe`: connect (IMAPS, STARTTLS or plain),
//! LOGIN, and the GETMETADATA Delta Chat sends, each step timed and its
//! failure put in words.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use imap_meta::{capabilities_in, Boundary, Framer, Limits, IROH_RELAY};
use relay_core::probe::{Check, Status};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;

use super::response::{metadata, printable, tagged};
use crate::cli::ProbeTls;
use crate::net::BoxStream;

/// Delta Chat core's first GETMETADATA (docs: /work/shared/IMAP.md §1.1):
/// the list form with the current key list.
pub const CORE_REQUEST: &str = "GETMETADATA \"\" (/shared/comment /shared/admin \
    /shared/vendor/deltachat/irohrelay /shared/vendor/deltachat/turn \
    /shared/vendor/deltachat/maxsmtprecipients /shared/vendor/deltachat/appversions)";

/// Step names, in order.
pub const STEPS: [&str; 3] = ["imap_connect", "imap_login", "imap_metadata"];

pub struct Settings {
    pub host: String,
    pub port: u16,
    pub tls: ProbeTls,
    pub user: String,
    pub password: String,
    pub ca_file: Option<PathBuf>,
    pub insecure: bool,
    pub timeout: Duration,
}

/// What discovery found.
pub struct Discovery {
    pub checks: Vec<Check>,
    pub capabilities: Vec<String>,
    pub entries: Vec<(String, Option<String>)>,
    pub relay_url: Option<String>,
}

impl Discovery {
    pub fn ok(&self) -> bool {
        self.checks.iter().all(Check::ok) && self.relay_url.is_some()
    }
}

/// Runs the three steps; a failed step skips the rest.
pub async fn discover(s: &Settings) -> Discovery {
    let mut d = Discovery {
        checks: Vec::new(),
        capabilities: Vec::new(),
        entries: Vec::new(),
        relay_url: None,
    };
    let t = Instant::now();
    let mut conn = match connect(s).await {
        Ok((conn, detail)) => {
            d.checks.push(pass(STEPS[0], t, detail));
            conn
        }
        Err(e) => {
            d.checks.push(fail(STEPS[0], t, e));
            skip_rest(&mut d.checks);
            return d;
        }
    };
    let t = Instant::now();
    match login(&mut conn, s).await {
        Ok(caps) => {
            d.capabilities = caps;
            d.checks.push(pass(
                STEPS[1],
                t,
                format!("logged in as {}; METADATA advertised", s.user),
            ));
        }
        Err((caps, e)) => {
            d.capabilities = caps;
            d.checks.push(fail(STEPS[1], t, e));
            skip_rest(&mut d.checks);
            conn.logout().await;
            return d;
        }
    }
    let t = Instant::now();
    match get_metadata(&mut conn).await {
        Ok((entries, url)) => {
            d.entries = entries;
            d.checks
                .push(pass(STEPS[2], t, format!("{IROH_RELAY} = {url}")));
            d.relay_url = Some(url);
        }
        Err((entries, e)) => {
            d.entries = entries;
            d.checks.push(fail(STEPS[2], t, e));
        }
    }
    conn.logout().await;
    d
}

fn pass(name: &'static str, t: Instant, detail: String) -> Check {
    Check {
        name,
        status: Status::Pass,
        duration: t.elapsed(),
        detail,
    }
}

fn fail(name: &'static str, t: Instant, reason: String) -> Check {
    Check {
        name,
        status: Status::Fail(reason),
        duration: t.elapsed(),
        detail: String::new(),
    }
}

fn skip_rest(checks: &mut Vec<Check>) {
    for name in STEPS.into_iter().skip(checks.len()) {
        checks.push(Check {
            name,
            status: Status::Skipped("an earlier IMAP step failed".to_owned()),
            duration: Duration::ZERO,
            detail: String::new(),
        });
    }
}

/// One IMAP connection: complete responses (literals inline) in, commands out.
struct Conn<S> {
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
                .map_err(|_| {
                    format!(
                        "{} sent nothing for {}",
                        self.peer,
                        relay_core::probe::net::secs(self.timeout)
                    )
                })?
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
    async fn command(&mut self, command: &[u8]) -> Result<Reply, String> {
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

    async fn logout(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.command(b"LOGOUT")).await;
    }
}

struct Reply {
    untagged: Vec<Vec<u8>>,
    /// `OK`, `NO` or `BAD`.
    status: String,
    text: String,
    line: Vec<u8>,
}

/// TCP, TLS as asked, and the greeting.
async fn connect(s: &Settings) -> Result<(Conn<BoxStream>, String), String> {
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
            .map_err(|_| {
                format!(
                    "looking up {host} took longer than {}",
                    relay_core::probe::net::secs(timeout)
                )
            })?
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
                relay_core::probe::net::secs(timeout)
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
            relay_core::probe::net::secs(s.timeout)
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

/// A quoted string as async-imap writes LOGIN's arguments.
fn quoted(s: &str) -> Result<Vec<u8>, String> {
    if s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err("user names and passwords cannot contain line breaks".to_owned());
    }
    let mut out = vec![b'"'];
    for b in s.bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
    Ok(out)
}

/// LOGIN, then the capabilities Delta Chat decides with: those of the
/// tagged OK, else of a CAPABILITY command. Errors keep what was learnt.
async fn login(
    conn: &mut Conn<BoxStream>,
    s: &Settings,
) -> Result<Vec<String>, (Vec<String>, String)> {
    let none = |e| (Vec::new(), e);
    let mut cmd = b"LOGIN ".to_vec();
    cmd.extend(quoted(&s.user).map_err(none)?);
    cmd.push(b' ');
    cmd.extend(quoted(&s.password).map_err(none)?);
    let reply = conn.command(&cmd).await.map_err(none)?;
    if reply.status != "OK" {
        return Err(none(format!(
            "login as {} refused: {} {}",
            s.user, reply.status, reply.text
        )));
    }
    let owned = |caps: Vec<&str>| caps.into_iter().map(str::to_owned).collect::<Vec<_>>();
    let mut caps = capabilities_in(&reply.line).map(owned);
    if caps.is_none() {
        let reply = conn.command(b"CAPABILITY").await.map_err(none)?;
        caps = reply
            .untagged
            .iter()
            .find_map(|r| capabilities_in(r))
            .map(owned);
    }
    let caps = caps.unwrap_or_default();
    // async-imap matches the atom exactly; METADATA-SERVER does not count.
    if caps.iter().any(|c| c == "METADATA") {
        Ok(caps)
    } else {
        let list = caps.join(" ");
        Err((
            caps,
            format!(
                "the server does not advertise METADATA after login (capabilities: {list}), so \
                 Delta Chat never asks it for a relay and uses iroh's default relays"
            ),
        ))
    }
}

type Entries = Vec<(String, Option<String>)>;

/// The GETMETADATA Delta Chat sends; the entries and the relay URL.
async fn get_metadata(conn: &mut Conn<BoxStream>) -> Result<(Entries, String), (Entries, String)> {
    let reply = conn
        .command(CORE_REQUEST.as_bytes())
        .await
        .map_err(|e| (Vec::new(), e))?;
    let mut entries = Vec::new();
    for r in &reply.untagged {
        match metadata(r) {
            Some(found) => entries.extend(
                found
                    .into_iter()
                    .map(|(k, v)| (k, v.map(|v| String::from_utf8_lossy(&v).into_owned()))),
            ),
            None if r.len() > 11 && r[..11].eq_ignore_ascii_case(b"* METADATA ") => {
                return Err((
                    entries,
                    format!(
                        "the server's METADATA answer does not parse: {:?} (Delta Chat's inbox \
                         loop would fail on it)",
                        printable(r)
                    ),
                ))
            }
            None => {}
        }
    }
    if reply.status != "OK" {
        return Err((
            entries,
            format!(
                "GETMETADATA answered {} {}: Delta Chat takes that as no relay",
                reply.status, reply.text
            ),
        ));
    }
    let url = entries
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(IROH_RELAY))
        .and_then(|(_, v)| v.clone());
    match url {
        Some(url) if !url.trim().is_empty() => Ok((entries, url.trim().to_owned())),
        _ => Err((
            entries,
            format!(
                "the server has no {IROH_RELAY} entry (NIL): Delta Chat uses iroh's default relays"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_strings_are_quoted() {
        assert_eq!(quoted("a\"b\\c").unwrap(), b"\"a\\\"b\\\\c\"");
        assert!(quoted("a\r\nb").is_err());
    }
}
