//! Counters with the reference's `relayserver_*` names (plus `uring_relay_*`
//! on uring-relay) that move by exactly what a known exchange implies.

use bytes::Bytes;
use iroh_relay::http::Protocol;
use tests::{
    bounded,
    client::{random_key, TestClient},
    flavor,
    openmetrics::{self, Scrape},
    wire, Flavor,
};

use crate::{counter, scrape_until, start, T};

/// The reference's relay counters (exposed as `relayserver_<name>_total`;
/// the rate-limit ones are spelled by [`openmetrics::ratelimited`]).
const RELAYSERVER: [&str; 19] = [
    "bytes_sent",
    "bytes_recv",
    "send_packets_sent",
    "send_packets_recv",
    "send_packets_dropped",
    "disco_packets_sent",
    "disco_packets_recv",
    "disco_packets_dropped",
    "other_packets_sent",
    "other_packets_recv",
    "other_packets_dropped",
    "got_ping",
    "sent_pong",
    "unknown_frames",
    "accepts",
    "disconnects",
    "unique_client_keys",
    "websocket_accepts",
    "relay_accepts",
];

#[tokio::test]
async fn scrape_is_valid_openmetrics_with_reference_names() {
    bounded(T, async {
        let (_relay, metrics) = start(2);
        let m = openmetrics::scrape(metrics).await.unwrap();
        for name in RELAYSERVER {
            let family = format!("relayserver_{name}");
            let f = m
                .family(&family)
                .unwrap_or_else(|| panic!("family {family} missing"));
            assert_eq!(f.kind, "counter", "{family}");
            assert_eq!(counter(&m, name), 0.0, "{family} on a fresh relay");
        }
        // The rate-limit counters, as each relay spells them (the
        // reference doubles `_total`).
        for what in ["frames", "conns", "bytes"] {
            let name = openmetrics::ratelimited(what);
            assert_eq!(m.get(&name), Some(0.0), "{name} on a fresh relay");
        }
        if flavor() == Flavor::Uring {
            for name in [
                "uring_relay_dropped_unknown_destination_total",
                "uring_relay_dropped_queue_full_total",
                "uring_relay_write_stall_disconnects_total",
            ] {
                assert_eq!(m.value(name), 0.0, "{name}");
            }
            // Per shard; the clients gauge also per protocol family.
            for (gauge, per_shard) in [
                ("uring_relay_clients", 2),
                ("uring_relay_queued_packets", 1),
            ] {
                assert_eq!(m.family(gauge).map(|f| f.kind.as_str()), Some("gauge"));
                let mut shards: Vec<String> = m
                    .samples_named(gauge)
                    .iter()
                    .map(|s| {
                        assert_eq!(s.labels[0].0, "shard", "{s:?}");
                        assert_eq!(s.value, 0.0, "{s:?}");
                        s.labels[0].1.clone()
                    })
                    .collect();
                shards.sort();
                let want: Vec<&str> = ["0", "1"]
                    .iter()
                    .flat_map(|s| std::iter::repeat_n(*s, per_shard))
                    .collect();
                assert_eq!(shards, want, "{gauge}: samples per shard");
            }
            assert!(m.value("process_resident_memory_bytes") > 0.0);
        }
    })
    .await
}

/// A sends N packets of S bytes to B, B pings twice, A sends one packet to an
/// unknown key: every counter moves by exactly that.
#[tokio::test]
async fn counters_match_a_known_exchange() {
    const N: usize = 10;
    const S: usize = 100;
    const U: usize = 7;
    bounded(T, async {
        let (relay, metrics) = start(2);
        let url = relay.url();
        // Each connect sends one Ping and waits for its Pong.
        let mut a = TestClient::connect(&url, Protocol::Relay).await.unwrap();
        let mut b = TestClient::connect(&url, Protocol::Websocket)
            .await
            .unwrap();

        for i in 0..N {
            a.send(b.node_id(), Bytes::from(wire::pattern(S, i as u8)))
                .await
                .unwrap();
        }
        for i in 0..N {
            let (src, data) = b.recv_packet().await.unwrap();
            assert_eq!(src, a.node_id());
            assert_eq!(&data[..], &wire::pattern(S, i as u8)[..]);
        }
        b.ping(*b"b-ping-1").await.unwrap();
        b.ping(*b"b-ping-2").await.unwrap();
        a.send(random_key().public(), Bytes::from(wire::pattern(U, 99)))
            .await
            .unwrap();
        a.ping(*b"a-ping-1").await.unwrap();

        // The drop may be counted on the unknown key's owner shard, after a
        // cross-shard hand-off: wait for it, then check everything.
        let m = scrape_until(metrics, "the dropped packet", |m| {
            counter(m, "send_packets_dropped") >= 1.0
        })
        .await;
        let pings = 2 + 2 + 1;
        // Both relays count packet bytes only, not the 32-byte key, so
        // dashboards built for 0.35 read the same numbers.
        let (sent, recv) = (S * N, S * N + U);
        let expect: [(&str, usize); 17] = [
            ("send_packets_recv", N + 1),
            ("send_packets_sent", N),
            ("send_packets_dropped", 1),
            ("bytes_recv", recv),
            ("bytes_sent", sent),
            ("got_ping", pings),
            ("sent_pong", pings),
            ("relay_accepts", 1),
            ("websocket_accepts", 1),
            ("accepts", 2),
            ("unique_client_keys", 2),
            ("disconnects", 0),
            ("disco_packets_recv", 0),
            ("disco_packets_sent", 0),
            ("disco_packets_dropped", 0),
            ("other_packets_recv", 0),
            ("unknown_frames", 0),
        ];
        let check = |m: &Scrape| {
            for (name, want) in expect {
                assert_eq!(counter(m, name), want as f64, "relayserver_{name}_total");
            }
            for what in ["frames", "conns", "bytes"] {
                assert_eq!(m.value(&openmetrics::ratelimited(what)), 0.0, "{what}");
            }
        };
        check(&m);
        if flavor() == Flavor::Uring {
            assert_eq!(
                m.value("uring_relay_dropped_unknown_destination_total"),
                1.0
            );
            assert_eq!(m.value("uring_relay_dropped_queue_full_total"), 0.0);
            assert_eq!(m.value("uring_relay_clients"), 2.0, "clients gauge (sum)");
            assert_eq!(m.value("uring_relay_queued_packets"), 0.0);
            assert_eq!(m.value("uring_relay_handshake_failures_total"), 0.0);
            assert_eq!(m.value("uring_relay_protocol_error_disconnects_total"), 0.0);
        }
        // Scraping again changes nothing (the counters are stable).
        check(&openmetrics::scrape(metrics).await.unwrap());

        a.close().await;
        b.close().await;
        let m = scrape_until(metrics, "two disconnects", |m| {
            counter(m, "disconnects") >= 2.0
        })
        .await;
        assert_eq!(counter(&m, "disconnects"), 2.0);
        assert_eq!(counter(&m, "accepts"), 2.0);
        if flavor() == Flavor::Uring {
            assert_eq!(
                m.value("uring_relay_clients"),
                0.0,
                "clients gauge after close"
            );
            assert_eq!(m.value("uring_relay_queued_packets"), 0.0);
        }
    })
    .await
}

/// With one shard, the clients gauge is exactly the connected count, moving
/// up and down per connection.
#[tokio::test]
async fn clients_gauge_follows_connections() {
    if tests::skip_on_reference("uring_relay_clients") {
        return;
    }
    bounded(T, async {
        let (relay, metrics) = start(1);
        let url = relay.url();
        let mut clients = Vec::new();
        for i in 0..3 {
            clients.push(TestClient::connect(&url, Protocol::Relay).await.unwrap());
            let m = openmetrics::scrape(metrics).await.unwrap();
            let g = m.samples_named("uring_relay_clients");
            assert_eq!(g.len(), 2, "one per family");
            assert_eq!(
                g[0].labels,
                [
                    ("shard".to_owned(), "0".to_owned()),
                    ("family".to_owned(), "0.35".to_owned())
                ]
            );
            assert_eq!(g[0].value, (i + 1) as f64);
            assert_eq!(g[1].value, 0.0);
        }
        clients.pop().unwrap().close().await;
        scrape_until(metrics, "2 clients", |m| {
            m.value("uring_relay_clients") == 2.0
        })
        .await;
        drop(clients);
        // A scrape is not an atomic snapshot: a disconnect may land between
        // reading one counter and the next, so wait for both.
        let m = scrape_until(metrics, "0 clients and 3 disconnects", |m| {
            m.value("uring_relay_clients") == 0.0 && counter(m, "disconnects") >= 3.0
        })
        .await;
        assert_eq!(counter(&m, "disconnects"), 3.0);
    })
    .await
}

/// Disco packets (the `TS💬` wrapper iroh sends for hole punching) are
/// counted under the disco counters on both sides, as the reference does.
#[tokio::test]
async fn disco_packets_are_counted_apart() {
    bounded(T, async {
        let (relay, metrics) = start(2);
        let url = relay.url();
        let mut a = TestClient::connect(&url, Protocol::Relay).await.unwrap();
        let mut b = TestClient::connect(&url, Protocol::Websocket)
            .await
            .unwrap();
        let mut disco = b"TS\xf0\x9f\x92\xac".to_vec();
        disco.extend_from_slice(&[7u8; 40]);
        for _ in 0..3 {
            a.send(b.node_id(), Bytes::from(disco.clone()))
                .await
                .unwrap();
        }
        for _ in 0..3 {
            let (src, data) = b.recv_packet().await.unwrap();
            assert_eq!(src, a.node_id());
            assert_eq!(&data[..], &disco[..]);
        }
        a.send(random_key().public(), Bytes::from(disco.clone()))
            .await
            .unwrap();
        let m = scrape_until(metrics, "the dropped disco packet", |m| {
            counter(m, "disco_packets_dropped") >= 1.0
        })
        .await;
        for (name, want) in [
            ("disco_packets_recv", 4.0),
            ("disco_packets_sent", 3.0),
            ("disco_packets_dropped", 1.0),
            ("send_packets_recv", 0.0),
            ("send_packets_sent", 0.0),
            ("send_packets_dropped", 0.0),
        ] {
            assert_eq!(counter(&m, name), want, "relayserver_{name}_total");
        }
    })
    .await
}
