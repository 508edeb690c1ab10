//! Access control (docs/protocol-0.35.md §6, 4.2 step 4): allowlist, denylist and
//! the HTTP callout. A denied client gets exactly `Health("not authenticated")`
//! (`0e 00 00 00 11` + text) and then the connection closes; the real
//! iroh-relay 0.35 client sees that Health frame instead of a Pong.
//!
//! The callout tests run a small HTTP/1.1 server on 127.0.0.1 that records
//! each request and answers per `X-Iroh-NodeId`.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use ed25519_dalek::SigningKey;
use futures_util::{SinkExt, StreamExt};
use iroh_base::{RelayUrl, SecretKey};
use iroh_relay::{
    client::{ClientBuilder, ReceivedMessage, SendMessage},
    dns::DnsResolver,
    http::Protocol,
};
use tests::{
    bounded,
    client::{TestClient, PROTOCOLS},
    raw::RawRelay,
    skip_on_reference, wire,
    ws::{self, RawWs},
    RelayOptions, RelayProcess,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Notify,
};

const T: Duration = Duration::from_secs(60);
/// The callout answers within this in the non-slow cases; also the bound on
/// waiting for a denial.
const DENY_WAIT: Duration = Duration::from_secs(10);
/// The bytes a denied client receives before the close.
const HEALTH_NOT_AUTHENTICATED: &[u8] = b"\x0e\x00\x00\x00\x11not authenticated";

fn start(opts: RelayOptions) -> RelayProcess {
    match RelayProcess::start_with(opts) {
        Ok(r) => r,
        Err(e) => panic!("starting relay: {e:#}"),
    }
}

fn start_with_toml(shards: usize, extra_toml: String) -> RelayProcess {
    start(RelayOptions {
        shards,
        extra_toml,
        ..Default::default()
    })
}

fn secret(sk: &SigningKey) -> SecretKey {
    SecretKey::from_bytes(&sk.to_bytes())
}

fn hex(sk: &SigningKey) -> String {
    wire::public(sk)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// RFC 4648 base32, lower case, unpadded: the other node id form the config
/// accepts (52 characters for a key).
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Handshakes `sk` on a raw connection and requires exactly the
/// `Health("not authenticated")` frame followed by a close.
async fn expect_denied_raw(addr: SocketAddr, sk: &SigningKey) -> Result<()> {
    expect_denied_raw_msg(addr, sk, &wire::VERSION_3_MSG).await
}

async fn expect_denied_raw_msg(addr: SocketAddr, sk: &SigningKey, message: &[u8]) -> Result<()> {
    let mut c = RawRelay::upgrade(addr, "/relay").await?;
    c.send_frame(
        wire::ty::CLIENT_INFO,
        &wire::client_info_payload(sk, message),
    )
    .await?;
    // Exactly the Health frame, then EOF: a registered connection would stay
    // open and time this out.
    let got = c.read_until_closed(DENY_WAIT).await?;
    if got != HEALTH_NOT_AUTHENTICATED {
        bail!(
            "expected Health(\"not authenticated\") then close, got {:02x?} ({:?})",
            got,
            String::from_utf8_lossy(&got)
        );
    }
    Ok(())
}

/// Handshakes `sk` on a raw WebSocket and requires exactly one binary
/// message `0e ‖ "not authenticated"` followed by a close.
async fn expect_denied_ws(addr: SocketAddr, sk: &SigningKey) -> Result<()> {
    let mut c = RawWs::upgrade(addr).await?;
    c.send_relay(wire::ty::CLIENT_INFO, &wire::client_info(sk))
        .await?;
    let msgs = c.read_until_closed(DENY_WAIT).await?;
    let want = wire::ws_relay_message(wire::ty::HEALTH, b"not authenticated");
    if msgs != [(ws::op::BINARY, want)] {
        bail!("expected one Health(\"not authenticated\") message then close, got {msgs:02x?}");
    }
    Ok(())
}

/// The real 0.35 client with key `sk` does not get established: its first
/// Ping is never answered with a Pong, the connection ends, and the only
/// message it may see first is `Health("not authenticated")`. (The client's
/// Ping can still be unread when the server closes, so the kernel may reset
/// the connection before the client reads the Health frame; the exact bytes
/// are checked with the raw clients.)
async fn expect_denied_client(url: &RelayUrl, protocol: Protocol, sk: &SigningKey) -> Result<()> {
    let builder =
        ClientBuilder::new(url.clone(), secret(sk), DnsResolver::new()).protocol(protocol);
    let client = match tokio::time::timeout(DENY_WAIT, builder.connect()).await {
        Err(_) => bail!("client connect timed out"),
        // Failing to connect at all also means "not established".
        Ok(Err(_)) => return Ok(()),
        Ok(Ok(c)) => c,
    };
    let (mut stream, mut sink) = client.split();
    // The send may fail if the server already closed; that is fine.
    let _ = tokio::time::timeout(DENY_WAIT, sink.send(SendMessage::Ping(*b"denied??"))).await;
    let mut seen_health = false;
    loop {
        match tokio::time::timeout(DENY_WAIT, stream.next())
            .await
            .context("denied client: connection still open")?
        {
            None | Some(Err(_)) => return Ok(()),
            Some(Ok(ReceivedMessage::Health { problem }))
                if !seen_health && problem.as_deref() == Some("not authenticated") =>
            {
                seen_health = true;
            }
            Some(Ok(m)) => bail!("{protocol:?}: denied client got {m:?}"),
        }
    }
}

/// `a` sends to `b` and `b` answers: both are registered and forwarding.
async fn exchange(a: &mut TestClient, b: &mut TestClient) -> Result<()> {
    let packet = Bytes::from(wire::pattern(1200, 7));
    a.send(b.node_id(), packet.clone()).await?;
    let (src, data) = b.recv_packet().await?;
    if src != a.node_id() || data != packet {
        bail!("b got a wrong packet from {}", src.fmt_short());
    }
    b.send(a.node_id(), &b"pong-back"[..]).await?;
    let (src, data) = a.recv_packet().await?;
    if src != b.node_id() || &data[..] != b"pong-back" {
        bail!("a got a wrong packet from {}", src.fmt_short());
    }
    Ok(())
}

/// Connects the real client with `sk`.
async fn connect(url: &RelayUrl, protocol: Protocol, sk: &SigningKey) -> TestClient {
    match TestClient::connect_with_key(url, protocol, secret(sk)).await {
        Ok(c) => c,
        Err(e) => panic!("{protocol:?} client {} should connect: {e:#}", hex(sk)),
    }
}

#[tokio::test]
async fn allowlist_admits_listed_keys_and_denies_others() {
    bounded(T, async {
        let a = wire::random_signing_key();
        let b = wire::random_signing_key();
        let outsider = wire::random_signing_key();
        // One id in hex, one in base32: both forms are accepted.
        let toml = format!(
            "[access]\nallowlist = [\"{}\", \"{}\"]\n",
            hex(&a),
            base32(&wire::public(&b))
        );
        assert_eq!(base32(&wire::public(&b)).len(), 52);
        let relay = start_with_toml(2, toml);
        let url = relay.url();

        for (pa, pb) in [
            (Protocol::Relay, Protocol::Websocket),
            (Protocol::Websocket, Protocol::Relay),
        ] {
            let mut ca = connect(&url, pa, &a).await;
            let mut cb = connect(&url, pb, &b).await;
            exchange(&mut ca, &mut cb).await.unwrap();

            expect_denied_raw(relay.addr(), &outsider).await.unwrap();
            expect_denied_ws(relay.addr(), &outsider).await.unwrap();
            for p in PROTOCOLS {
                expect_denied_client(&url, p, &outsider).await.unwrap();
            }
            // The denied attempts did not disturb the listed clients.
            exchange(&mut cb, &mut ca).await.unwrap();
            // And packets to the never-registered outsider are just dropped.
            ca.send(secret(&outsider).public(), &b"x"[..])
                .await
                .unwrap();
            ca.ping(*b"still up").await.unwrap();
        }
    })
    .await
}

#[tokio::test]
async fn denylist_denies_listed_keys_and_admits_others() {
    bounded(T, async {
        let banned = wire::random_signing_key();
        let banned_b32 = wire::random_signing_key();
        let toml = format!(
            "access.denylist = [\"{}\", \"{}\"]\n",
            hex(&banned),
            base32(&wire::public(&banned_b32))
        );
        let relay = start_with_toml(2, toml);
        let url = relay.url();

        let a = wire::random_signing_key();
        let b = wire::random_signing_key();
        let mut ca = connect(&url, Protocol::Relay, &a).await;
        let mut cb = connect(&url, Protocol::Websocket, &b).await;
        exchange(&mut ca, &mut cb).await.unwrap();

        for sk in [&banned, &banned_b32] {
            expect_denied_raw(relay.addr(), sk).await.unwrap();
            expect_denied_ws(relay.addr(), sk).await.unwrap();
            for p in PROTOCOLS {
                expect_denied_client(&url, p, sk).await.unwrap();
            }
        }
        exchange(&mut cb, &mut ca).await.unwrap();
    })
    .await
}

/// Order is signature, access, version (docs/protocol-0.35.md §14.15): an unlisted key
/// with version 4 is answered with Health (access first); a listed key with
/// version 4 is closed silently; an unlisted key with a bad signature is
/// closed silently (signature first).
#[tokio::test]
async fn access_checked_after_signature_and_before_version() {
    bounded(T, async {
        let listed = wire::random_signing_key();
        let relay = start_with_toml(1, format!("access.allowlist = [\"{}\"]\n", hex(&listed)));
        let addr = relay.addr();

        let unlisted = wire::random_signing_key();
        expect_denied_raw_msg(addr, &unlisted, &[0x04])
            .await
            .unwrap();

        let mut c = RawRelay::upgrade(addr, "/relay").await.unwrap();
        c.send_frame(
            wire::ty::CLIENT_INFO,
            &wire::client_info_payload(&listed, &[0x04]),
        )
        .await
        .unwrap();
        c.expect_closed_silently(DENY_WAIT).await.unwrap();

        let mut bad_sig = wire::client_info(&unlisted);
        bad_sig[41] ^= 0x01;
        let mut c = RawRelay::upgrade(addr, "/relay").await.unwrap();
        c.send_frame(wire::ty::CLIENT_INFO, &bad_sig).await.unwrap();
        c.expect_closed_silently(DENY_WAIT).await.unwrap();

        // The listed key with version 3 is fine.
        let mut ok = RawRelay::handshake_with(addr, &listed).await.unwrap();
        ok.ping_pong(*b"listed!!").await.unwrap();
    })
    .await
}

// ---------------------------------------------------------------------------
// HTTP callout
// ---------------------------------------------------------------------------

/// How the callout server answers a node id.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// `status` with `body`.
    Reply(u16, &'static str),
    /// Reads the request and never answers (the socket stays open).
    Hang,
}

const ALLOW: Answer = Answer::Reply(200, "true");

/// One request as the callout server saw it.
#[derive(Debug, Clone)]
struct CalloutRequest {
    method: String,
    target: String,
    /// (lower-case name, value)
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl CalloutRequest {
    fn header(&self, name: &str) -> Option<&str> {
        let mut it = self
            .headers
            .iter()
            .filter(|(n, _)| n == &name.to_ascii_lowercase());
        let first = it.next().map(|(_, v)| v.as_str());
        assert!(it.next().is_none(), "header {name} sent twice: {self:?}");
        first
    }
}

#[derive(Default)]
struct CalloutState {
    answers: HashMap<String, Answer>,
    requests: Vec<CalloutRequest>,
}

/// A tiny HTTP/1.1 server standing in for the operator's access endpoint.
struct CalloutServer {
    addr: SocketAddr,
    state: Arc<Mutex<CalloutState>>,
    seen: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CalloutServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CalloutServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(CalloutState::default()));
        let seen = Arc::new(Notify::new());
        let (st, sn) = (state.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve_callout(conn, st.clone(), sn.clone()));
            }
        });
        Self {
            addr,
            state,
            seen,
            task,
        }
    }

    /// The URL for the config (a path and query, which must be kept).
    fn url(&self) -> String {
        format!("http://{}/iroh-access?relay=test", self.addr)
    }

    fn answer(&self, sk: &SigningKey, a: Answer) {
        self.state.lock().unwrap().answers.insert(hex(sk), a);
    }

    fn requests(&self) -> Vec<CalloutRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Requests carrying `X-Iroh-NodeId` of `sk`.
    fn requests_for(&self, sk: &SigningKey) -> Vec<CalloutRequest> {
        let id = hex(sk);
        self.requests()
            .into_iter()
            .filter(|r| r.header("x-iroh-nodeid") == Some(id.as_str()))
            .collect()
    }

    /// Waits until a request for `sk` has arrived.
    async fn wait_for_request(&self, sk: &SigningKey, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let notified = self.seen.notified();
            if !self.requests_for(sk).is_empty() {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "no callout for {} within {limit:?}; requests: {:?}",
                    hex(sk),
                    self.requests()
                );
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(100)), notified).await;
        }
    }

    /// Asserts the request shape docs/protocol-0.35.md §6 requires.
    fn check_request(&self, sk: &SigningKey, token: Option<&str>) {
        let reqs = self.requests_for(sk);
        assert_eq!(
            reqs.len(),
            1,
            "exactly one callout per handshake of {}: {:?}",
            hex(sk),
            self.requests()
        );
        let r = &reqs[0];
        assert_eq!(r.method, "POST", "{r:?}");
        assert_eq!(r.target, "/iroh-access?relay=test", "{r:?}");
        assert_eq!(r.header("x-iroh-nodeid"), Some(hex(sk).as_str()), "{r:?}");
        let want = token.map(|t| format!("Bearer {t}"));
        assert_eq!(r.header("authorization"), want.as_deref(), "{r:?}");
        assert!(r.body.is_empty(), "callout has no body: {r:?}");
    }
}

async fn serve_callout(mut conn: TcpStream, state: Arc<Mutex<CalloutState>>, seen: Arc<Notify>) {
    let Ok(Some(req)) = read_request(&mut conn).await else {
        return;
    };
    let answer = {
        let mut st = state.lock().unwrap();
        let answer = req
            .header("x-iroh-nodeid")
            .and_then(|id| st.answers.get(id).copied())
            .unwrap_or(Answer::Reply(404, "unknown node"));
        st.requests.push(req);
        answer
    };
    seen.notify_waiters();
    match answer {
        Answer::Reply(status, body) => {
            let reason = match status {
                200 => "OK",
                404 => "Not Found",
                500 => "Internal Server Error",
                _ => "Other",
            };
            let resp = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(resp.as_bytes()).await;
            let _ = conn.shutdown().await;
            // Let the client read before the socket is dropped.
            let mut sink = [0u8; 256];
            let _ = tokio::time::timeout(Duration::from_secs(2), conn.read(&mut sink)).await;
        }
        Answer::Hang => {
            // Keep the connection open and silent well past the relay's
            // callout timeout.
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(conn);
        }
    }
}

/// Reads one HTTP/1.1 request (head, then a Content-Length body).
async fn read_request(conn: &mut TcpStream) -> Result<Option<CalloutRequest>> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut tmp)).await??;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
        if buf.len() > 64 * 1024 {
            bail!("request head too long");
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut start = lines.next().unwrap_or_default().split(' ');
    let method = start.next().unwrap_or_default().to_owned();
    let target = start.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut tmp)).await??;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Ok(Some(CalloutRequest {
        method,
        target,
        headers,
        body,
    }))
}

fn http_access_toml(server: &CalloutServer, token: Option<&str>) -> String {
    let mut t = format!("[access.http]\nurl = \"{}\"\n", server.url());
    if let Some(tok) = token {
        t.push_str(&format!("bearer_token = \"{tok}\"\n"));
    }
    t
}

/// The environment must not already carry a token (it would override ours).
fn env_token_unset() -> bool {
    std::env::var_os("IROH_RELAY_HTTP_BEARER_TOKEN").is_none()
}

#[tokio::test]
async fn http_callout_allow_on_200_true() {
    bounded(T, async {
        assert!(
            env_token_unset(),
            "unset IROH_RELAY_HTTP_BEARER_TOKEN to run this"
        );
        let server = CalloutServer::start().await;
        let relay = start_with_toml(2, http_access_toml(&server, Some("s3cret-token")));
        let url = relay.url();
        let a = wire::random_signing_key();
        let b = wire::random_signing_key();
        server.answer(&a, ALLOW);
        server.answer(&b, ALLOW);
        let mut ca = connect(&url, Protocol::Relay, &a).await;
        let mut cb = connect(&url, Protocol::Websocket, &b).await;
        exchange(&mut ca, &mut cb).await.unwrap();
        server.check_request(&a, Some("s3cret-token"));
        server.check_request(&b, Some("s3cret-token"));
    })
    .await
}

/// Only 200 with a body of exactly `true` allows: `false`, a 500 (even with
/// body `true`), `true\n`, `TRUE`, a 204, an unknown-node 404 and an
/// unreachable endpoint all deny.
#[tokio::test]
async fn http_callout_denies_everything_but_200_true() {
    bounded(T, async {
        assert!(
            env_token_unset(),
            "unset IROH_RELAY_HTTP_BEARER_TOKEN to run this"
        );
        let server = CalloutServer::start().await;
        let relay = start_with_toml(2, http_access_toml(&server, Some("tok")));
        let url = relay.url();
        let cases = [
            ("200 false", Answer::Reply(200, "false")),
            ("500 true", Answer::Reply(500, "true")),
            ("200 true+newline", Answer::Reply(200, "true\n")),
            ("200 TRUE", Answer::Reply(200, "TRUE")),
            ("204 empty", Answer::Reply(204, "")),
        ];
        for (what, answer) in cases {
            let sk = wire::random_signing_key();
            server.answer(&sk, answer);
            if let Err(e) = expect_denied_raw(relay.addr(), &sk).await {
                panic!("{what}: {e:#}");
            }
            server.check_request(&sk, Some("tok"));
        }
        // Not in the server's table: it answers 404.
        let unknown = wire::random_signing_key();
        expect_denied_raw(relay.addr(), &unknown).await.unwrap();
        server.check_request(&unknown, Some("tok"));

        // Over WebSocket, and the real client on both protocols.
        let sk = wire::random_signing_key();
        server.answer(&sk, Answer::Reply(200, "false"));
        expect_denied_ws(relay.addr(), &sk).await.unwrap();
        server.check_request(&sk, Some("tok"));
        for p in PROTOCOLS {
            let sk = wire::random_signing_key();
            server.answer(&sk, Answer::Reply(200, "false"));
            expect_denied_client(&url, p, &sk).await.unwrap();
            server.check_request(&sk, Some("tok"));
        }

        // Positive control on the same relay.
        let ok = wire::random_signing_key();
        server.answer(&ok, ALLOW);
        let mut c = connect(&url, Protocol::Relay, &ok).await;
        c.ping(*b"allowed!").await.unwrap();
    })
    .await
}

#[tokio::test]
async fn http_callout_unreachable_denies() {
    bounded(T, async {
        // A port that was just free: nothing listens there.
        let port = tests::relay::free_port().unwrap();
        let relay = start_with_toml(
            1,
            format!("[access.http]\nurl = \"http://127.0.0.1:{port}/check\"\n"),
        );
        let sk = wire::random_signing_key();
        expect_denied_raw(relay.addr(), &sk).await.unwrap();
        expect_denied_client(&relay.url(), Protocol::Relay, &sk)
            .await
            .unwrap();
    })
    .await
}

/// A callout that never answers denies within the relay's timeout (5 s, so
/// well within 10 s), and while it is pending another client whose callout
/// answers at once connects: handshakes are not serialized behind a slow
/// callout. One shard, so both share the same accept path.
#[tokio::test]
async fn http_callout_slow_denies_without_blocking_other_handshakes() {
    if skip_on_reference("a callout timeout (0.35 waits forever)") {
        return;
    }
    bounded(T, async {
        assert!(
            env_token_unset(),
            "unset IROH_RELAY_HTTP_BEARER_TOKEN to run this"
        );
        let server = CalloutServer::start().await;
        let relay = start_with_toml(1, http_access_toml(&server, Some("t")));
        let addr = relay.addr();
        let url = relay.url();
        let slow = wire::random_signing_key();
        let fast = wire::random_signing_key();
        server.answer(&slow, Answer::Hang);
        server.answer(&fast, ALLOW);

        let started = Instant::now();
        let slow_sk = slow.clone();
        let slow_task = tokio::spawn(async move {
            let r = expect_denied_raw(addr, &slow_sk).await;
            (r, started.elapsed())
        });
        // The slow callout is in flight.
        server
            .wait_for_request(&slow, Duration::from_secs(10))
            .await;

        let mut c = connect(&url, Protocol::Relay, &fast).await;
        c.ping(*b"not held").await.unwrap();
        let fast_done = started.elapsed();
        assert!(
            !slow_task.is_finished(),
            "the slow handshake ended before the fast one ({fast_done:?}): \
             the callout did not wait for the endpoint"
        );
        server.check_request(&fast, Some("t"));

        let (res, took) = slow_task.await.unwrap();
        res.unwrap();
        assert!(took < DENY_WAIT, "slow callout denied only after {took:?}");
        assert!(
            took >= Duration::from_secs(2),
            "slow callout denied after {took:?}, before the endpoint could answer"
        );
        server.check_request(&slow, Some("t"));
        // The allowed client is still fine.
        c.ping(*b"after!!!").await.unwrap();
    })
    .await
}

/// `IROH_RELAY_HTTP_BEARER_TOKEN` overrides `bearer_token`; with neither,
/// no Authorization header is sent.
#[tokio::test]
async fn http_callout_token_from_env_overrides_config() {
    bounded(T, async {
        assert!(
            env_token_unset(),
            "unset IROH_RELAY_HTTP_BEARER_TOKEN to run this"
        );
        let server = CalloutServer::start().await;
        let relay = start(RelayOptions {
            shards: 2,
            extra_toml: http_access_toml(&server, Some("from-config")),
            env: vec![("IROH_RELAY_HTTP_BEARER_TOKEN".into(), "from-env-42".into())],
            ..Default::default()
        });
        let a = wire::random_signing_key();
        server.answer(&a, ALLOW);
        let mut c = connect(&relay.url(), Protocol::Websocket, &a).await;
        c.ping(*b"env tokn").await.unwrap();
        server.check_request(&a, Some("from-env-42"));

        let server2 = CalloutServer::start().await;
        let relay2 = start_with_toml(1, http_access_toml(&server2, None));
        let b = wire::random_signing_key();
        server2.answer(&b, ALLOW);
        let mut c = connect(&relay2.url(), Protocol::Relay, &b).await;
        c.ping(*b"no token").await.unwrap();
        server2.check_request(&b, None);
    })
    .await
}
