//! The relay as chatmail and Madmail run it: a low open-file soft limit
//! under a higher hard limit, stderr piped and never read, too few
//! descriptors for a burst, and restarts by SIGKILL.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use iroh_base::{NodeId, RelayUrl};
use tests::{
    bounded, client::TestClient, http, openmetrics, raw::RawRelay, relay::free_port,
    skip_on_reference, RelayOptions, RelayProcess,
};

/// Connects `n` real clients, `batch` at a time.
async fn connect(url: &RelayUrl, n: usize, batch: usize) -> Vec<TestClient> {
    tests::client::connect_many(url, n, batch)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// Client 2k sends to 2k+1 and back; every packet arrives.
async fn pairs_forward(clients: &mut [TestClient]) {
    let ids: Vec<NodeId> = clients.iter().map(TestClient::node_id).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(ids[i ^ 1], Bytes::from(format!("{i}->{}", i ^ 1)))
            .await
            .unwrap();
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let (src, data) = c
            .recv_packet()
            .await
            .unwrap_or_else(|e| panic!("client {i}: {e:#}"));
        assert_eq!(src, ids[i ^ 1], "client {i}");
        assert_eq!(&data[..], format!("{}->{i}", i ^ 1).as_bytes());
    }
}

/// chatmail's unit sets no LimitNOFILE: the relay starts with a soft limit
/// far below what it may have, and raises it itself.
#[tokio::test]
async fn low_soft_fd_limit_is_raised_and_1000_clients_forward() {
    if skip_on_reference("raising its own open-files limit") {
        return;
    }
    tests::raise_fd_limit();
    bounded(Duration::from_secs(240), async {
        let relay = RelayProcess::start_with(RelayOptions {
            nofile: Some((512, 4096)),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("starting relay: {e:#}"));
        let mut clients = connect(&relay.url(), 1000, 50).await;
        pairs_forward(&mut clients).await;
        assert!(
            relay.log_text().contains("open files limit 4096 (was 512)"),
            "{}",
            relay.log_text()
        );
    })
    .await
}

/// Madmail pipes stderr and never reads it; with few descriptors a burst
/// of connections makes the relay log and fail accepts. Logging must never
/// block a shard: once the burst is gone the relay answers at once.
#[tokio::test]
async fn unread_stderr_and_fd_exhaustion_do_not_wedge_the_relay() {
    if skip_on_reference("non-blocking logs and accept back-off") {
        return;
    }
    tests::raise_fd_limit();
    bounded(Duration::from_secs(180), async {
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
        let relay = RelayProcess::start_with(RelayOptions {
            metrics_addr: Some(metrics),
            nofile: Some((256, 256)),
            stderr_unread: true,
            // Every connection logs, so the pipe fills at once.
            env: vec![("RUST_LOG".into(), "debug".into())],
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("starting relay: {e:#}"));
        let addr = relay.addr();

        // Fill the pipe and the relay's log queue: every plain request
        // logs a line at debug level.
        let ping = http::get_request("/ping", "localhost", &[]);
        for _ in 0..60 {
            let reqs = (0..100).map(|_| http::roundtrip(addr, &ping));
            for r in futures_util::future::join_all(reqs).await {
                assert_eq!(r.unwrap().status, 200);
            }
        }

        // 400 connections at once, each trying the relay handshake.
        let burst: Vec<_> = (0..400)
            .map(|_| {
                tokio::spawn(async move {
                    tokio::time::timeout(Duration::from_secs(5), RawRelay::handshake(addr))
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .map(|(r, _)| r)
                })
            })
            .collect();
        let mut held = Vec::new();
        for b in burst {
            if let Some(r) = b.await.unwrap() {
                held.push(r);
            }
        }
        eprintln!("{} of 400 burst connections got through", held.len());
        assert!(held.len() < 400, "the burst never ran out of descriptors");
        drop(held);

        // Within 5 s of the burst going away: /ping, then 50 new clients.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let ping = http::roundtrip(addr, &http::get_request("/ping", "localhost", &[])).await;
            if matches!(ping, Ok(ref r) if r.status == 200) {
                break;
            }
            assert!(Instant::now() < deadline, "/ping did not answer: {ping:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut clients = connect(&relay.url(), 50, 50).await;
        pairs_forward(&mut clients).await;

        let m = openmetrics::scrape(metrics).await.unwrap();
        assert!(m.value("uring_relay_log_lines_dropped_total") > 0.0);
        assert!(m.value("uring_relay_accept_errors_total") > 0.0);
    })
    .await
}

/// Madmail restarts the relay with SIGKILL: the new process binds the same
/// port at once (old sockets in TIME_WAIT), and iroh endpoints, which
/// reconnect by themselves, carry data through it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_and_restart_on_the_same_port() {
    bounded(Duration::from_secs(180), async {
        let mut relay = RelayProcess::start_with(RelayOptions::default())
            .unwrap_or_else(|e| panic!("starting relay: {e:#}"));
        let url = relay.url();
        let mut clients = connect(&url, 100, 50).await;
        pairs_forward(&mut clients).await;
        let (a, b) = (
            tests::endpoint::relay_only(&url).await,
            tests::endpoint::relay_only(&url).await,
        );
        tests::endpoint::exchange(&a, &b, &url, 64 * 1024).await;

        // Load while it dies: clients keep sending.
        let load = tokio::spawn(async move {
            let ids: Vec<NodeId> = clients.iter().map(TestClient::node_id).collect();
            for round in 0..50 {
                for (i, c) in clients.iter_mut().enumerate() {
                    let _ = c
                        .send(ids[i ^ 1], Bytes::from(vec![round as u8; 1000]))
                        .await;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let killed = Instant::now();
        tokio::task::block_in_place(|| relay.kill_and_restart())
            .unwrap_or_else(|e| panic!("restart on the same port: {e:#}"));
        eprintln!(
            "restarted and listening {:?} after SIGKILL",
            killed.elapsed()
        );
        let _ = load.await;

        // The endpoints find their relay again and data flows.
        tests::endpoint::exchange(&a, &b, &url, 64 * 1024).await;
        eprintln!(
            "endpoints exchanged data {:?} after SIGKILL",
            killed.elapsed()
        );
        let mut fresh = connect(&url, 10, 10).await;
        pairs_forward(&mut fresh).await;
        a.close().await;
        b.close().await;
    })
    .await
}
