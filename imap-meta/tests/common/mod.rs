//! Helpers for the integration tests: start the built binary, talk raw IMAP.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// Upper bound for any single network step in these tests.
pub const STEP: Duration = Duration::from_secs(20);

/// Fails the test instead of hanging.
pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// Starts `imap-meta proxy` on a free loopback port in front of `upstream`.
pub async fn start_proxy(upstream: &str, relay_url: &str, extra: &[&str]) -> Running {
    let mut args = vec![
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        upstream,
        "--relay-url",
        relay_url,
    ];
    args.extend_from_slice(extra);
    start(&args).await
}

/// An async-imap client on `stream` that has read the server greeting.
pub async fn greeted<S>(stream: S) -> async_imap::Client<S>
where
    S: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let mut client = async_imap::Client::new(stream);
    bounded("greeting", client.read_response())
        .await
        .expect("read greeting")
        .expect("greeting");
    client
}

/// `greeted` over a new TCP connection to `addr`.
pub async fn greeted_tcp(addr: SocketAddr) -> async_imap::Client<TcpStream> {
    let tcp = bounded("connect", TcpStream::connect(addr))
        .await
        .expect("connect");
    greeted(tcp).await
}

/// A running `imap-meta` process, killed when dropped.
pub struct Running {
    pub child: Child,
    pub addr: SocketAddr,
}

/// Starts `imap-meta <args>` and waits for its "listening on" line.
pub async fn start(args: &[&str]) -> Running {
    // Set IMAP_META_TEST_LOG=1 to see the server's log.
    let stderr = if std::env::var_os("IMAP_META_TEST_LOG").is_some() {
        Stdio::inherit()
    } else {
        Stdio::null()
    };
    start_with_stderr(args, stderr).await
}

/// `start`, with the server's stderr (its log) going to `stderr`;
/// `Stdio::piped()` leaves it to read in `child.stderr`.
pub async fn start_with_stderr(args: &[&str], stderr: Stdio) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_imap-meta"))
        .args(args)
        .env("RUST_LOG", "imap_meta=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("start imap-meta binary");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let addr = bounded("imap-meta startup", async {
        loop {
            let line = lines
                .next_line()
                .await
                .expect("read stdout")
                .expect("imap-meta exited before listening");
            if let Some(addr) = line.split("listening on ").nth(1) {
                return addr.trim().parse::<SocketAddr>().expect("address");
            }
        }
    })
    .await;
    Running { child, addr }
}

/// Raw line-based IMAP client for checking exact bytes.
pub struct Raw<S> {
    pub stream: BufReader<S>,
}

impl Raw<TcpStream> {
    pub async fn connect(addr: SocketAddr) -> Self {
        let tcp = bounded("connect", TcpStream::connect(addr))
            .await
            .expect("connect");
        Raw {
            stream: BufReader::new(tcp),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Raw<S> {
    pub fn new(stream: S) -> Self {
        Raw {
            stream: BufReader::new(stream),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        bounded("send", async {
            self.stream.get_mut().write_all(bytes).await?;
            self.stream.get_mut().flush().await
        })
        .await
        .expect("send");
    }

    /// One line including CRLF; empty string at EOF.
    pub async fn line(&mut self) -> String {
        let mut buf = Vec::new();
        bounded("read line", self.stream.read_until(b'\n', &mut buf))
            .await
            .expect("read");
        String::from_utf8(buf).expect("utf-8 line")
    }

    /// Exactly `n` bytes (literal data).
    pub async fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        bounded("read bytes", self.stream.read_exact(&mut buf))
            .await
            .expect("read");
        buf
    }

    /// Lines up to and including the tagged reply for `tag`.
    pub async fn until_tagged(&mut self, tag: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            assert!(
                !line.is_empty(),
                "connection closed before {tag} completed: {lines:?}"
            );
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// Sends `tag command` and returns all lines up to the tagged reply.
    pub async fn command(&mut self, tag: &str, command: &str) -> Vec<String> {
        self.send(format!("{tag} {command}\r\n").as_bytes()).await;
        self.until_tagged(tag).await
    }

    /// `true` once the server has closed the connection (reads to EOF).
    pub async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        bounded("read to EOF", self.stream.read_to_end(&mut rest))
            .await
            .is_ok()
    }
}

pub const RELAY: &str = "http://127.0.0.1:3340";
pub const IROH: &str = "/shared/vendor/deltachat/irohrelay";

/// Delta Chat core's current key list.
pub const CORE_KEYS_6: &str = "(/shared/comment /shared/admin /shared/vendor/deltachat/irohrelay /shared/vendor/deltachat/turn /shared/vendor/deltachat/maxsmtprecipients /shared/vendor/deltachat/appversions)";
/// The list of core v2.16 .. v2.56.
pub const CORE_KEYS_4: &str = "(/shared/comment /shared/admin /shared/vendor/deltachat/irohrelay /shared/vendor/deltachat/turn)";

/// Results of `get_metadata` as (entry, value) pairs.
pub fn pairs(md: &[async_imap::imap_proto::types::Metadata]) -> Vec<(String, Option<String>)> {
    md.iter()
        .map(|m| (m.entry.clone(), m.value.clone()))
        .collect()
}
