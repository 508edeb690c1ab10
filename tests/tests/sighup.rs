//! SIGHUP re-reads the config file: access lists apply to new handshakes
//! and to connected keys (a key the new list refuses is disconnected),
//! rate limits to new and existing connections, without dropping anyone
//! else. A bad file keeps the running config. (The 0.35 reference has no
//! reload.)

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use bytes::Bytes;
use ed25519_dalek::SigningKey;
use iroh_base::SecretKey;
use iroh_relay::http::Protocol;
use tests::{
    bounded,
    client::TestClient,
    openmetrics,
    raw::RawRelay,
    relay::free_port,
    skip_on_reference,
    wire::{self, ty},
    RelayOptions, RelayProcess,
};

const T: Duration = Duration::from_secs(60);
const HEALTH_NOT_AUTHENTICATED: &[u8] = b"\x0e\x00\x00\x00\x11not authenticated";
/// How long a reload may take to show.
const RELOAD_WAIT: Duration = Duration::from_secs(10);

fn start(shards: usize, metrics: Option<SocketAddr>) -> RelayProcess {
    RelayProcess::start_with(RelayOptions {
        shards,
        // An empty denylist is a valid config.
        extra_toml: "[access]\ndenylist = []\n".into(),
        metrics_addr: metrics,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("starting relay: {e:#}"))
}

fn hex(sk: &SigningKey) -> String {
    wire::public(sk)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn secret(sk: &SigningKey) -> SecretKey {
    SecretKey::from_bytes(&sk.to_bytes())
}

fn denylist(keys: &[&SigningKey]) -> String {
    let ids: Vec<String> = keys.iter().map(|k| format!("\"{}\"", hex(k))).collect();
    format!("[access]\ndenylist = [{}]\n", ids.join(", "))
}

/// One handshake attempt for `sk`: `true` when it was refused (Health or a
/// close), `false` when a Ping got its Pong (registered).
async fn refused(addr: SocketAddr, sk: &SigningKey) -> bool {
    let mut c = RawRelay::upgrade(addr, "/relay").await.unwrap();
    let mut bytes = wire::frame(ty::CLIENT_INFO, &wire::client_info(sk));
    bytes.extend(wire::frame(ty::PING, b"probe!!!"));
    c.send_raw_lenient(&bytes).await.unwrap();
    match c.read_frame(Duration::from_secs(5)).await {
        Ok(Some((ty::PONG, _))) => false,
        Ok(Some((ty::HEALTH, p))) => {
            assert_eq!(p, b"not authenticated", "Health text");
            true
        }
        Ok(Some((t, p))) => panic!("unexpected frame {t} {p:02x?} after a handshake"),
        Ok(None) | Err(_) => true,
    }
}

/// Polls until handshakes of `sk` are refused (`want = true`) or accepted.
async fn wait_until_refused(addr: SocketAddr, sk: &SigningKey, want: bool) {
    let deadline = Instant::now() + RELOAD_WAIT;
    while refused(addr, sk).await != want {
        assert!(
            Instant::now() < deadline,
            "reload not applied within {RELOAD_WAIT:?} (want refused = {want})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A clean denied handshake: exactly the Health frame, then a close.
async fn expect_denied(addr: SocketAddr, sk: &SigningKey) {
    let mut c = RawRelay::upgrade(addr, "/relay").await.unwrap();
    c.send_frame(ty::CLIENT_INFO, &wire::client_info(sk))
        .await
        .unwrap();
    let got = c.read_until_closed(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        got,
        HEALTH_NOT_AUTHENTICATED,
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}

async fn exchange(a: &mut TestClient, b: &mut TestClient, tag: &str) {
    let data = Bytes::from(format!("{tag}: a->b"));
    a.send(b.node_id(), data.clone()).await.unwrap();
    let (src, got) = b.recv_packet().await.unwrap();
    assert_eq!((src, &got), (a.node_id(), &data), "{tag}");
    let data = Bytes::from(format!("{tag}: b->a"));
    b.send(a.node_id(), data.clone()).await.unwrap();
    let (src, got) = a.recv_packet().await.unwrap();
    assert_eq!((src, &got), (b.node_id(), &data), "{tag}");
}

#[tokio::test]
async fn sighup_denylist_applies_to_new_handshakes_and_drops_only_banned_keys() {
    if skip_on_reference("SIGHUP reload") {
        return;
    }
    bounded(T, async {
        let relay = start(2, None);
        let addr = relay.addr();
        let url = relay.url();
        let c_key = wire::random_signing_key();
        let d_key = wire::random_signing_key();

        let mut a = TestClient::connect(&url, Protocol::Relay).await.unwrap();
        let mut b = TestClient::connect(&url, Protocol::Websocket)
            .await
            .unwrap();
        // D is connected when the reload bans it.
        let mut d = TestClient::connect_with_key(&url, Protocol::Relay, secret(&d_key))
            .await
            .unwrap();
        exchange(&mut a, &mut b, "before").await;
        // C is allowed before the reload.
        assert!(!refused(addr, &c_key).await, "C refused before the reload");

        relay.rewrite_access(&denylist(&[&c_key, &d_key])).unwrap();
        relay.sighup().unwrap();
        wait_until_refused(addr, &c_key, true).await;
        expect_denied(addr, &c_key).await;
        expect_denied(addr, &d_key).await;

        // The same connection objects keep forwarding.
        exchange(&mut a, &mut b, "after").await;
        exchange(&mut b, &mut a, "after, reversed").await;
        // The banned key's connection is closed (docs/operating.md, access).
        d.expect_closed(Duration::from_secs(10))
            .await
            .expect("a connected key the new denylist names is disconnected");
        // A key not on the list still connects.
        let mut e = TestClient::connect(&url, Protocol::Websocket)
            .await
            .unwrap();
        exchange(&mut e, &mut a, "new client").await;

        // A broken file keeps the running config.
        let good = std::fs::read_to_string(relay.config_path()).unwrap();
        std::fs::write(relay.config_path(), "this is [[ not toml\n").unwrap();
        relay.sighup().unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        expect_denied(addr, &c_key).await;
        exchange(&mut a, &mut b, "after a bad reload").await;
        let mut f = TestClient::connect(&url, Protocol::Relay).await.unwrap();
        exchange(&mut f, &mut b, "new client after a bad reload").await;

        // And back: an empty list admits C again.
        std::fs::write(relay.config_path(), good).unwrap();
        relay.rewrite_access("[access]\ndenylist = []\n").unwrap();
        relay.sighup().unwrap();
        wait_until_refused(addr, &c_key, false).await;
        let mut c = TestClient::connect_with_key(&url, Protocol::Relay, secret(&c_key))
            .await
            .unwrap();
        exchange(&mut c, &mut a, "C readmitted").await;
        exchange(&mut a, &mut b, "end").await;
    })
    .await
}

/// `a` sends `n` packets of `size` bytes to `b` while `b` reads them all;
/// returns how long it took.
async fn transfer(
    a: &mut TestClient,
    b: &mut TestClient,
    n: usize,
    size: usize,
    round: u8,
) -> Duration {
    let (a_id, b_id) = (a.node_id(), b.node_id());
    let packets: Vec<Bytes> = (0..n)
        .map(|i| Bytes::from(wire::pattern(size, round.wrapping_add(i as u8))))
        .collect();
    let start = Instant::now();
    let recv = async {
        for (i, p) in packets.iter().enumerate() {
            let (src, data) = b.recv_packet().await.unwrap();
            assert_eq!(src, a_id);
            assert!(data == *p, "round {round} packet {i} differs");
        }
    };
    let send = async {
        for p in &packets {
            a.send(b_id, p.clone()).await.unwrap();
        }
    };
    tokio::join!(recv, send);
    start.elapsed()
}

#[tokio::test]
async fn sighup_applies_rate_limit_to_existing_connections() {
    if skip_on_reference("SIGHUP reload") {
        return;
    }
    const RATE: u32 = 20_000;
    const PACKETS: usize = 60;
    const SIZE: usize = 1000;
    bounded(T, async {
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
        // One shard: once the marker key is refused, every client on it has
        // the new limit too (both are applied in one step per shard).
        let relay = start(1, Some(metrics));
        let url = relay.url();
        let mut a = TestClient::connect(&url, Protocol::Relay).await.unwrap();
        let mut b = TestClient::connect(&url, Protocol::Relay).await.unwrap();

        let unlimited = transfer(&mut a, &mut b, PACKETS, SIZE, 0).await;
        let m = openmetrics::scrape(metrics).await.unwrap();
        assert_eq!(m.value("relayserver_frames_rx_ratelimited_total"), 0.0);

        let marker = wire::random_signing_key();
        relay
            .rewrite_access(&format!(
                "{}[limits.client.rx]\nbytes_per_second = {RATE}\nmax_burst_bytes = {RATE}\n",
                denylist(&[&marker])
            ))
            .unwrap();
        relay.sighup().unwrap();
        wait_until_refused(relay.addr(), &marker, true).await;

        let limited = transfer(&mut a, &mut b, PACKETS, SIZE, 100).await;
        let cost = (32 + SIZE + 5) as f64;
        let min = Duration::from_secs_f64(
            (PACKETS as f64 * cost - cost - f64::from(RATE)) / f64::from(RATE),
        );
        eprintln!("before reload {unlimited:?}, after {limited:?} (minimum {min:?})");
        assert!(
            limited >= min / 2,
            "after the reload {PACKETS} x {SIZE} B took {limited:?}; the new limit needs {min:?}"
        );
        a.ping(*b"same con").await.unwrap();
        b.ping(*b"same con").await.unwrap();

        let m = openmetrics::scrape(metrics).await.unwrap();
        assert!(m.value("relayserver_frames_rx_ratelimited_total") > 0.0);
        assert_eq!(m.value("relayserver_conns_rx_ratelimited_total"), 1.0);
        // A and B are the original connections: nobody was replaced and both
        // are still registered.
        assert_eq!(m.value("uring_relay_replaced_connections_total"), 0.0);
        assert_eq!(
            m.value("relayserver_accepts_total") - m.value("relayserver_disconnects_total"),
            2.0
        );
        assert_eq!(m.value("uring_relay_clients"), 2.0);
    })
    .await
}
