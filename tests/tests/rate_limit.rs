//! Receive rate limit (docs/protocol-0.35.md §5.8): `[limits.client.rx]` throttles a
//! client by pausing reads. Nothing is dropped, the connection stays up, other
//! clients are unaffected, and the `relayserver_*_rx_ratelimited_total` counters
//! move.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use iroh_relay::http::Protocol;
use tests::{
    bounded, client::TestClient, flavor, openmetrics, relay::free_port, wire, Flavor, RelayOptions,
    RelayProcess,
};

const T: Duration = Duration::from_secs(60);
const RATE: u32 = 40_000;
const BURST: u32 = 40_000;
/// Packets and their size: about 207 KB of frame cost, so at least ~4.2 s
/// at 40 kB/s after the 40 kB burst.
const PACKETS: usize = 200;
const SIZE: usize = 1000;

fn start_limited() -> (RelayProcess, SocketAddr) {
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let relay = RelayProcess::start_with(RelayOptions {
        shards: 2,
        extra_toml: format!(
            "[limits.client.rx]\nbytes_per_second = {RATE}\nmax_burst_bytes = {BURST}\n"
        ),
        metrics_addr: Some(metrics),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("starting relay: {e:#}"));
    (relay, metrics)
}

/// Packet `i`: its index, then a pattern.
fn packet(i: usize) -> Bytes {
    let mut p = (i as u32).to_be_bytes().to_vec();
    p.extend(wire::pattern(SIZE - 4, i as u8));
    Bytes::from(p)
}

/// A lower bound on how long relaying all packets must take: every frame
/// costs payload (32-byte key + packet) + 5; the bucket holds at most BURST
/// when sending starts, and the last frame may be read once the bucket is no
/// longer in debt.
fn theoretical_min() -> Duration {
    let cost = (32 + SIZE + 5) as f64;
    let total = PACKETS as f64 * cost;
    Duration::from_secs_f64((total - cost - f64::from(BURST)) / f64::from(RATE))
}

async fn throttled_transfer(sender: Protocol) {
    let (relay, metrics) = start_limited();
    let url = relay.url();
    let mut a = TestClient::connect(&url, sender).await.unwrap();
    let mut b = TestClient::connect(&url, Protocol::Relay).await.unwrap();
    let mut c = TestClient::connect(&url, Protocol::Relay).await.unwrap();
    let mut d = TestClient::connect(&url, Protocol::Websocket)
        .await
        .unwrap();
    let (a_id, b_id) = (a.node_id(), b.node_id());

    let before = openmetrics::scrape(metrics).await.unwrap();
    assert_eq!(before.value(&openmetrics::ratelimited("frames")), 0.0);

    let received = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let count = received.clone();
    let receiver = tokio::spawn(async move {
        for i in 0..PACKETS {
            let (src, data) = b.recv_packet().await.unwrap_or_else(|e| {
                panic!("packet {i} of {PACKETS} not delivered: {e:#}");
            });
            assert_eq!(src, a_id, "packet {i}: source");
            assert!(data == packet(i), "packet {i}: lost, reordered or changed");
            count.fetch_add(1, Ordering::SeqCst);
        }
        (b, start.elapsed())
    });
    let sender_task = tokio::spawn(async move {
        for i in 0..PACKETS {
            a.send(b_id, packet(i)).await.unwrap();
        }
        a
    });

    // Meanwhile another pair is not slowed down.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t0 = Instant::now();
    c.ping(*b"unthrott").await.unwrap();
    c.send(d.node_id(), &b"quick"[..]).await.unwrap();
    let (src, data) = d.recv_packet().await.unwrap();
    d.send(c.node_id(), &b"back"[..]).await.unwrap();
    let (src2, data2) = c.recv_packet().await.unwrap();
    let rtt = t0.elapsed();
    let during = received.load(Ordering::SeqCst);
    assert_eq!((src, &data[..]), (c.node_id(), &b"quick"[..]));
    assert_eq!((src2, &data2[..]), (d.node_id(), &b"back"[..]));
    assert!(
        rtt < Duration::from_secs(2),
        "an unthrottled pair took {rtt:?} while another client was throttled"
    );
    assert!(
        during < PACKETS,
        "the throttled transfer was already complete after {:?} (bound {:?})",
        start.elapsed(),
        theoretical_min()
    );

    let (mut b, took) = receiver.await.unwrap();
    let mut a = sender_task.await.unwrap();
    let min = theoretical_min();
    assert!(
        took >= min / 2,
        "{PACKETS} x {SIZE} B arrived in {took:?}; at {RATE} B/s with a {BURST} B burst \
         it takes at least {min:?}"
    );
    eprintln!("{sender:?}: throttled transfer took {took:?} (theoretical minimum {min:?})");

    // Throttled, not disconnected: both still work.
    a.ping(*b"still up").await.unwrap();
    a.send(b.node_id(), &b"after"[..]).await.unwrap();
    let (src, data) = b.recv_packet().await.unwrap();
    assert_eq!((src, &data[..]), (a.node_id(), &b"after"[..]));

    let m = openmetrics::scrape(metrics).await.unwrap();
    let frames = m.value(&openmetrics::ratelimited("frames"));
    let conns = m.value(&openmetrics::ratelimited("conns"));
    assert!(frames > 0.0, "frames_rx_ratelimited did not move");
    // Only the bulk sender exceeded its bucket, and it counts once.
    assert_eq!(conns, 1.0, "conns_rx_ratelimited");
    assert!(m.value("relayserver_send_packets_sent_total") >= (PACKETS + 1) as f64);
    assert_eq!(m.value("relayserver_send_packets_dropped_total"), 0.0);
    if flavor() == Flavor::Uring {
        assert_eq!(m.value("uring_relay_dropped_queue_full_total"), 0.0);
        assert_eq!(m.value("uring_relay_protocol_error_disconnects_total"), 0.0);
    }
}

#[tokio::test]
async fn throttled_relay_sender_delivers_everything_slowly() {
    bounded(T, throttled_transfer(Protocol::Relay)).await
}

/// The cost is payload + 5 on WebSocket too.
#[tokio::test]
async fn throttled_websocket_sender_delivers_everything_slowly() {
    bounded(T, throttled_transfer(Protocol::Websocket)).await
}

/// Small traffic within the burst is never delayed and not counted.
#[tokio::test]
async fn traffic_within_burst_is_not_limited() {
    bounded(T, async {
        let (relay, metrics) = start_limited();
        let url = relay.url();
        let mut a = TestClient::connect(&url, Protocol::Relay).await.unwrap();
        let mut b = TestClient::connect(&url, Protocol::Relay).await.unwrap();
        // 20 x 1037 B = 20.7 kB, half the burst.
        for i in 0..20 {
            a.send(b.node_id(), packet(i)).await.unwrap();
        }
        for i in 0..20 {
            let (_, data) = b.recv_packet().await.unwrap();
            assert!(data == packet(i));
        }
        let m = openmetrics::scrape(metrics).await.unwrap();
        assert_eq!(m.value(&openmetrics::ratelimited("frames")), 0.0);
        assert_eq!(m.value(&openmetrics::ratelimited("conns")), 0.0);
    })
    .await
}

/// `[limits] accept_conn_limit` (connections per second) with
/// `accept_conn_burst`: accepting pauses, so a burst of new connections is
/// served at the configured pace; none is refused. (Parsed but not
/// implemented by the 0.35 reference.)
#[tokio::test]
async fn accept_rate_limit_paces_new_connections() {
    if tests::skip_on_reference("accept_conn_limit") {
        return;
    }
    const LIMIT: f64 = 5.0;
    const BURST: usize = 5;
    const CONNS: usize = 15;
    bounded(T, async {
        let relay = RelayProcess::start_with(RelayOptions {
            shards: 1,
            extra_toml: format!(
                "[limits]\naccept_conn_limit = {LIMIT:.1}\naccept_conn_burst = {BURST}\n"
            ),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("starting relay: {e:#}"));
        let addr = relay.addr();
        // The bucket holds at most BURST tokens whatever the readiness probes
        // used, so the bound below holds from any starting point.
        let start = Instant::now();
        let requests = (0..CONNS).map(|_| async move {
            let req = tests::http::get_request("/ping", &addr.to_string(), &[]);
            tests::http::roundtrip(addr, &req).await
        });
        for resp in futures_util::future::join_all(requests).await {
            assert_eq!(resp.unwrap().status, 200);
        }
        let took = start.elapsed();
        let min = Duration::from_secs_f64((CONNS - BURST) as f64 / LIMIT);
        eprintln!("{CONNS} connections took {took:?} (minimum {min:?})");
        assert!(
            took >= min / 2,
            "{CONNS} connections served in {took:?}; at {LIMIT}/s with burst {BURST} \
             that takes at least {min:?}"
        );
        // Established clients are not affected by the accept pacing.
        let mut a = TestClient::connect(&relay.url(), Protocol::Relay)
            .await
            .unwrap();
        a.ping(*b"accepted").await.unwrap();
    })
    .await
}
