//! Misbehaving clients beside a well-behaved pair of real iroh-relay 0.35
//! clients: churn, slowloris, receivers that never read, garbage after the
//! handshake, and clients that vanish without a FIN. In every case the
//! pair gets every packet while the fault lasts, the offenders the relay
//! should close are closed, and once the offenders are gone the relay holds
//! no more descriptors than before.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use iroh_base::PublicKey;
use iroh_relay::http::Protocol;
use tests::{
    bounded,
    client::TestClient,
    fault::{self, fd_count, fds_back_to},
    http, start_relay, wire, RelayProcess,
};
use tokio::sync::watch;

/// Time the relay gets to close the sockets of offenders that left.
const FD_SETTLE: Duration = Duration::from_secs(10);

/// A relay with a well-behaved pair connected (one per transport) and its
/// descriptor count at that point.
async fn relay_with_pair() -> (RelayProcess, TestClient, TestClient, usize) {
    let relay = start_relay(2);
    let url = relay.url();
    let a = TestClient::connect(&url, Protocol::Relay).await.unwrap();
    let b = TestClient::connect(&url, Protocol::Websocket)
        .await
        .unwrap();
    let fds = fd_count(relay.pid()).unwrap();
    (relay, a, b, fds)
}

/// Runs `fault` while the pair exchanges packets every 10 ms (for at least
/// a second); the pair must get every one of them. Returns the fault's result.
async fn beside_pair<T>(
    a: &mut TestClient,
    b: &mut TestClient,
    fault: impl Future<Output = T>,
) -> T {
    let (stop, stopped) = watch::channel(false);
    let traffic = fault::pair_traffic(a, b, Duration::from_millis(10), stopped);
    let fault = async {
        let until = tokio::time::Instant::now() + Duration::from_secs(1);
        let r = fault.await;
        tokio::time::sleep_until(until).await;
        stop.send_replace(true);
        r
    };
    let (delivered, r) = tokio::join!(traffic, fault);
    let delivered = delivered.unwrap_or_else(|e| panic!("well-behaved pair: {e:#}"));
    assert!(delivered > 0, "the pair exchanged nothing during the fault");
    eprintln!("well-behaved pair: {delivered} packets, all delivered");
    r
}

/// After the fault: descriptors back to the count before it, and the pair
/// and a newcomer still served.
async fn recovered(relay: &RelayProcess, a: &mut TestClient, b: &mut TestClient, fds: usize) {
    let now = fds_back_to(relay.pid(), fds, FD_SETTLE).await.unwrap();
    eprintln!("relay descriptors: {fds} before the fault, {now} after");
    a.send(b.node_id(), &b"after the fault"[..]).await.unwrap();
    let (src, data) = b.recv_packet().await.unwrap();
    assert_eq!((src, &data[..]), (a.node_id(), &b"after the fault"[..]));
    let mut c = TestClient::connect(&relay.url(), Protocol::Relay)
        .await
        .unwrap();
    c.ping(*b"newcomer").await.unwrap();
}

#[tokio::test]
async fn churn_leaves_no_descriptors_behind() {
    bounded(Duration::from_secs(60), async {
        let (relay, mut a, mut b, fds) = relay_with_pair().await;
        let addr = relay.addr();
        beside_pair(&mut a, &mut b, fault::churn(addr, 20, 10))
            .await
            .unwrap_or_else(|e| panic!("churn: {e:#}"));
        recovered(&relay, &mut a, &mut b, fds).await;
    })
    .await
}

#[tokio::test]
async fn slowloris_does_not_block_others_and_leaves_nothing_behind() {
    bounded(Duration::from_secs(60), async {
        let (relay, mut a, mut b, fds) = relay_with_pair().await;
        let addr = relay.addr();
        let url = relay.url();
        let held = beside_pair(&mut a, &mut b, async {
            let (stop, stopped) = watch::channel(false);
            let silent = futures_util::future::join_all((0..20).map(|_| fault::silent(addr)));
            let trickle =
                futures_util::future::join_all((0..20).map(|_| {
                    fault::byte_at_a_time(addr, Duration::from_millis(100), stopped.clone())
                }));
            let probe = async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let during = fd_count(relay.pid()).unwrap();
                assert!(during > fds, "the offenders never reached the relay");
                let ping = http::roundtrip(addr, &http::get_request("/ping", "localhost", &[]))
                    .await
                    .unwrap();
                assert_eq!(ping.status, 200);
                let mut c = TestClient::connect(&url, Protocol::Relay).await.unwrap();
                c.ping(*b"slowlor!").await.unwrap();
                stop.send_replace(true);
            };
            let (silent, trickle, ()) = tokio::join!(silent, trickle, probe);
            silent
                .into_iter()
                .chain(trickle)
                .map(|s| s.unwrap())
                .collect::<Vec<_>>()
        })
        .await;
        drop(held);
        recovered(&relay, &mut a, &mut b, fds).await;
    })
    .await
}

/// Packets each flooding sender sends its receiver: far more than a
/// receiver's queue and socket buffers hold.
const FLOOD: u32 = 600;
const FLOOD_SIZE: usize = 65_000;

#[tokio::test]
async fn receivers_that_stop_reading_are_closed() {
    bounded(Duration::from_secs(90), async {
        let (relay, mut a, mut b, fds) = relay_with_pair().await;
        let addr = relay.addr();
        let url = relay.url();
        beside_pair(&mut a, &mut b, async {
            let mut receivers = Vec::new();
            for _ in 0..2 {
                let sk = wire::random_signing_key();
                let stream = http::connect_small_rcvbuf(addr, 4096).await.unwrap();
                let r = tests::raw::RawRelay::upgrade_on(stream, addr, "/relay")
                    .await
                    .unwrap()
                    .finish_handshake(&sk)
                    .await
                    .unwrap();
                receivers.push((r, PublicKey::from_bytes(&wire::public(&sk)).unwrap()));
            }
            let floods = receivers.iter().map(|(_, id)| {
                let (url, id) = (url.clone(), *id);
                async move {
                    let mut s = TestClient::connect(&url, Protocol::Relay).await.unwrap();
                    let packet = Bytes::from(wire::pattern(FLOOD_SIZE, 0x5a));
                    for i in 0..FLOOD {
                        // Bounded: a relay that back-pressures the sender fails here.
                        s.send(id, packet.clone())
                            .await
                            .unwrap_or_else(|e| panic!("flood packet {i}: {e:#}"));
                    }
                    s.ping(*b"floodend").await.unwrap();
                    s
                }
            });
            let senders = futures_util::future::join_all(floods).await;
            for (mut r, _) in receivers {
                r.read_until_closed(Duration::from_secs(30))
                    .await
                    .unwrap_or_else(|e| panic!("a receiver that never reads was kept: {e:#}"));
            }
            drop(senders);
        })
        .await;
        recovered(&relay, &mut a, &mut b, fds).await;
    })
    .await
}

#[tokio::test]
async fn garbage_after_the_handshake_is_closed() {
    bounded(Duration::from_secs(60), async {
        let (relay, mut a, mut b, fds) = relay_with_pair().await;
        let addr = relay.addr();
        let closed = beside_pair(
            &mut a,
            &mut b,
            futures_util::future::join_all(
                (0..10).map(|_| fault::garbage(addr, Duration::from_secs(10))),
            ),
        )
        .await;
        for (i, c) in closed.into_iter().enumerate() {
            let after = c.unwrap_or_else(|e| panic!("garbage client {i} was kept: {e:#}"));
            eprintln!("garbage client {i} closed after {after:?}");
        }
        recovered(&relay, &mut a, &mut b, fds).await;
    })
    .await
}

/// Half of the clients reset their socket right after the handshake, the
/// other half go silent with the socket open and reset it later: the
/// relay lets go of all of them.
#[tokio::test]
async fn clients_that_vanish_without_fin_leave_nothing_behind() {
    bounded(Duration::from_secs(60), async {
        let (relay, mut a, mut b, fds) = relay_with_pair().await;
        let addr = relay.addr();
        beside_pair(&mut a, &mut b, async {
            for _ in 0..3 {
                let reset =
                    futures_util::future::join_all((0..5).map(|_| fault::gone_silent(addr)));
                for c in reset.await {
                    fault::reset(c.unwrap().stream).unwrap();
                }
            }
            let silent: Vec<_> =
                futures_util::future::join_all((0..5).map(|_| fault::gone_silent(addr)))
                    .await
                    .into_iter()
                    .map(|c| c.unwrap())
                    .collect();
            tokio::time::sleep(Duration::from_secs(2)).await;
            for c in silent {
                fault::reset(c.stream).unwrap();
            }
        })
        .await;
        recovered(&relay, &mut a, &mut b, fds).await;
    })
    .await
}
