//! Liveness, limits and metrics for 1.x clients (docs/protocol-1x.md §7, items
//! 30, 32 and 37).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tests::relay::free_port;
use tests::{bounded, openmetrics, RelayOptions, RelayProcess};
use tests_1x::raw::{frame, public, signing_key, ty, Raw};

fn datagram(dst: &[u8; 32], contents: &[u8]) -> Vec<u8> {
    let mut m = vec![ty::DATAGRAM];
    m.extend_from_slice(dst);
    m.push(0);
    m.extend_from_slice(contents);
    m
}

fn start(toml: &str) -> (RelayProcess, SocketAddr) {
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let relay = RelayProcess::start_with(RelayOptions {
        metrics_addr: Some(metrics),
        extra_toml: toml.into(),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("starting relay: {e:#}"));
    (relay, metrics)
}

/// A silent client is pinged after 16-20 s and closed 5 s later if it does
/// not answer.
#[tokio::test]
async fn silent_client_is_pinged_then_dropped() {
    bounded(Duration::from_secs(60), async {
        let (relay, _) = start("");
        let mut c = Raw::handshake(relay.addr(), "iroh-relay-v2", &signing_key())
            .await
            .unwrap();
        let start = Instant::now();
        let m = c.msg(Duration::from_secs(30)).await.unwrap().unwrap();
        let pinged = start.elapsed();
        assert_eq!((m[0], m.len()), (ty::PING, 9), "{m:02x?}");
        assert!(pinged >= Duration::from_secs(15), "pinged after {pinged:?}");
        c.until_closed(Duration::from_secs(15)).await.unwrap();
        eprintln!(
            "pinged after {pinged:?}, closed {:?} later",
            start.elapsed() - pinged
        );
    })
    .await
}

/// Over the receive limit, reads pause (nothing is dropped); a v2 client
/// is told once with Status(RateLimited), a v1 client is not.
#[tokio::test]
async fn rate_limit_status_once_for_v2_only() {
    bounded(Duration::from_secs(90), async {
        let (relay, metrics) =
            start("[limits.client.rx]\nbytes_per_second = 2000\nmax_burst_bytes = 200\n");
        let addr = relay.addr();
        let kr = signing_key();
        let mut rx = Raw::handshake(addr, "iroh-relay-v2", &kr).await.unwrap();
        for (version, told) in [("iroh-relay-v2", true), ("iroh-relay-v1", false)] {
            let mut tx = Raw::handshake(addr, version, &signing_key()).await.unwrap();
            for i in 0..12u8 {
                tx.send(&datagram(&public(&kr), &[i; 400])).await.unwrap();
            }
            let mut i = 0u8;
            while i < 12 {
                let m = rx.expect_data().await.unwrap();
                if m[0] == ty::ENDPOINT_GONE {
                    continue; // the previous sender left
                }
                assert_eq!(&m[34..], &[i; 400][..], "{version}: datagram {i}");
                i += 1;
            }
            let other = tx.ping_pong(*b"limited?").await.unwrap();
            let statuses: Vec<_> = other.iter().filter(|m| m[0] == ty::STATUS).collect();
            if told {
                assert_eq!(statuses, vec![&vec![ty::STATUS, 2]], "{version}");
            } else {
                assert!(
                    statuses.is_empty() && other.is_empty(),
                    "{version}: {other:02x?}"
                );
            }
        }
        let m = openmetrics::scrape(metrics).await.unwrap();
        let conns = m
            // 1.4.1's name, which uring-relay uses for both families.
            .samples_named("relayserver_conns_rx_ratelimited_total")
            .into_iter()
            .find(|s| s.labels.iter().any(|(k, v)| k == "family" && v == "1.x"))
            .map(|s| s.value);
        assert_eq!(conns, Some(2.0));
    })
    .await
}

/// The 1.x counters exist under the family label and move.
#[tokio::test]
async fn metrics_per_family() {
    bounded(Duration::from_secs(60), async {
        let (relay, metrics) = start("");
        let addr = relay.addr();
        let k = signing_key();
        let first = Raw::handshake(addr, "iroh-relay-v2", &k).await.unwrap();
        let second = Raw::handshake(addr, "iroh-relay-v2", &k).await.unwrap();
        let mut c = Raw::handshake(addr, "iroh-relay-v2", &signing_key())
            .await
            .unwrap();
        c.send(&datagram(&public(&k), b"counted")).await.unwrap();
        c.send(&frame(ty::PING, &[1; 8])).await.unwrap();
        drop(second);
        drop(first);
        let of = |m: &openmetrics::Scrape, name: &str, family: &str| {
            m.samples_named(name)
                .into_iter()
                .filter(|s| s.labels.iter().any(|(k, v)| k == "family" && v == family))
                .map(|s| s.value)
                .sum::<f64>()
        };
        let one = |m: &openmetrics::Scrape, name: &str| of(m, name, "1.x");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let m = openmetrics::scrape(metrics).await.unwrap();
            let done = one(&m, "relayserver_clients_inactive_removed_total") >= 1.0
                && one(&m, "relayserver_disconnects_total") >= 2.0;
            if done {
                assert_eq!(one(&m, "relayserver_accepts_total"), 3.0);
                assert_eq!(one(&m, "relayserver_clients_inactive_added_total"), 1.0);
                assert!(one(&m, "relayserver_send_packets_recv_total") >= 1.0);
                assert!(one(&m, "relayserver_got_ping_total") >= 1.0);
                assert_eq!(one(&m, "relayserver_websocket_accepts_total"), 3.0);
                // Nothing of this reached the 0.35 counters.
                assert_eq!(of(&m, "relayserver_accepts_total", "0.35"), 0.0);
                assert_eq!(of(&m, "relayserver_send_packets_recv_total", "0.35"), 0.0);
                break;
            }
            assert!(Instant::now() < deadline, "counters did not move: {m:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
}
