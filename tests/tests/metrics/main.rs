//! The metrics port (docs/protocol-0.35.md §10, docs/operating.md
//! "Metrics"): counters move by exactly what a known exchange implies
//! (`counters`); the page is served on `/metrics` only, in Prometheus text
//! format or OpenMetrics by `Accept`, and `promtool` finds nothing to
//! report (`page`); docs/operating.md lists exactly the metrics on it, with
//! their kinds and labels (`docs`).

mod counters;
mod docs;
mod page;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use bytes::Bytes;
use iroh_relay::http::Protocol;
use relay_proto::v1x::handshake::client_auth;
use tests::{
    client::TestClient,
    http,
    openmetrics::{self, Scrape},
    relay::free_port,
    ws::{op, RawWs},
    RelayOptions, RelayProcess,
};
use tokio::io::AsyncWriteExt;

pub const T: Duration = Duration::from_secs(60);

pub fn start(shards: usize) -> (RelayProcess, SocketAddr) {
    start_with(shards, None)
}

fn start_with(shards: usize, stun_addr: Option<SocketAddr>) -> (RelayProcess, SocketAddr) {
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let relay = RelayProcess::start_with(RelayOptions {
        shards,
        metrics_addr: Some(metrics),
        stun_addr,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("starting relay: {e:#}"));
    (relay, metrics)
}

pub fn counter(m: &Scrape, name: &str) -> f64 {
    m.value(&format!("relayserver_{name}_total"))
}

/// Scrapes until `done` holds (bounded), returning that scrape.
pub async fn scrape_until(addr: SocketAddr, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = openmetrics::scrape(addr).await.unwrap();
        if done(&m) {
            return m;
        }
        if Instant::now() > deadline {
            panic!("metrics never showed {what}; last scrape: {m:#?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A relay in use: metrics and STUN on, two iroh 0.35 clients (one per
/// transport) that exchanged packets, an iroh 1.x (v2) client, and a STUN
/// request answered. Everything is held open until dropped.
pub struct Busy {
    pub metrics: SocketAddr,
    _relay: RelayProcess,
    _clients: (TestClient, TestClient, RawWs),
}

pub async fn busy_relay() -> Busy {
    let stun = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let (relay, metrics) = start_with(2, Some(stun));
    let url = relay.url();
    let mut a = TestClient::connect(&url, Protocol::Relay).await.unwrap();
    let mut b = TestClient::connect(&url, Protocol::Websocket)
        .await
        .unwrap();
    for i in 0..5u8 {
        a.send(b.node_id(), Bytes::from(vec![i; 100]))
            .await
            .unwrap();
        b.recv_packet().await.unwrap();
    }
    let c = connect_1x(relay.addr()).await;
    stun_request(stun).await;
    scrape_until(metrics, "both families and STUN", |m| {
        let of = |name: &str, family: &str| {
            m.samples_named(name)
                .iter()
                .filter(|s| s.labels.iter().any(|(k, v)| k == "family" && v == family))
                .map(|s| s.value)
                .sum::<f64>()
        };
        of("uring_relay_clients", "0.35") == 2.0
            && of("uring_relay_clients", "1.x") == 1.0
            && m.value("stun_requests_total") >= 1.0
    })
    .await;
    Busy {
        metrics,
        _relay: relay,
        _clients: (a, b, c),
    }
}

/// An iroh 1.x client by hand: the websocket upgrade offering
/// `iroh-relay-v2`, then the challenge handshake.
async fn connect_1x(addr: SocketAddr) -> RawWs {
    let req = format!(
        "GET /relay HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: iroh-relay-v2\r\n\r\n",
        http::WS_EXAMPLE_KEY
    );
    let mut stream = http::connect(addr).await.unwrap();
    stream.write_all(req.as_bytes()).await.unwrap();
    let resp = http::read_response(&mut stream).await.unwrap();
    assert_eq!(resp.status, 101, "1.x upgrade: {resp:?}");
    let mut ws = RawWs::from_upgraded(stream);
    // ServerChallenge: type 0, 16 bytes.
    let (_, m) = ws
        .read_message(T)
        .await
        .unwrap()
        .expect("a ServerChallenge");
    let challenge: [u8; 16] = m
        .get(1..)
        .and_then(|c| c.try_into().ok())
        .unwrap_or_else(|| panic!("not a ServerChallenge: {m:02x?}"));
    let key = ed25519_dalek::SigningKey::from_bytes(&rand::random());
    let auth = client_auth(&key, &challenge);
    ws.send_frame(true, op::BINARY, &auth).await.unwrap();
    // ServerConfirmsAuth: type 2.
    let (_, m) = ws
        .read_message(T)
        .await
        .unwrap()
        .expect("ServerConfirmsAuth");
    assert_eq!(m, [2], "1.x handshake");
    ws
}

/// One STUN Binding request, waiting for the answer.
async fn stun_request(stun: SocketAddr) {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    req.extend_from_slice(&rand::random::<[u8; 12]>());
    let mut buf = [0u8; 512];
    // The listener may not be bound the instant the relay is up: retry.
    for _ in 0..50 {
        sock.send_to(&req, stun).await.unwrap();
        let reply = tokio::time::timeout(Duration::from_millis(100), sock.recv_from(&mut buf));
        if let Ok(Ok(_)) = reply.await {
            return;
        }
    }
    panic!("no STUN answer from {stun}");
}
