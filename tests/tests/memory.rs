//! Memory under floods: the queue budget (`[limits] max_queued_bytes`) bounds
//! what receivers that read slowly make the relay hold, without starving a
//! well-behaved pair; and after a burst the relay gives its memory back.
//!
//! Receivers here read a little every 200 ms (so they make progress and stay
//! connected); senders are real iroh-relay 0.35 clients flooding them with
//! 64 KiB packets.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use iroh_base::PublicKey;
use iroh_relay::client::ReceivedMessage;
use iroh_relay::http::Protocol;
use tests::{
    bounded, client::TestClient, http, openmetrics, raw::RawRelay, relay::free_port,
    skip_on_reference, wire, RelayOptions, RelayProcess,
};
use tokio::io::AsyncReadExt;

const MIB: u64 = 1024 * 1024;
const PACKET: usize = 65_000;

/// The relay's resident memory, from /proc.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

fn start(extra_toml: &str) -> (RelayProcess, SocketAddr) {
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let relay = RelayProcess::start_with(RelayOptions {
        shards: 2,
        metrics_addr: Some(metrics),
        extra_toml: extra_toml.to_owned(),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("starting relay: {e:#}"));
    (relay, metrics)
}

/// A receiver that reads 4 KiB every 200 ms until told to stop; panics if
/// the relay closes it.
async fn trickle_receiver(
    addr: SocketAddr,
    stop: tokio::sync::watch::Receiver<bool>,
) -> (PublicKey, tokio::task::JoinHandle<()>) {
    let sk = wire::random_signing_key();
    let stream = http::connect_small_rcvbuf(addr, 4096).await.unwrap();
    let mut r = RawRelay::upgrade_on(stream, addr, "/relay")
        .await
        .unwrap()
        .finish_handshake(&sk)
        .await
        .unwrap();
    let id = PublicKey::from_bytes(&wire::public(&sk)).unwrap();
    let task = tokio::spawn(async move {
        let mut chunk = vec![0u8; 4096];
        while !*stop.borrow() {
            match tokio::time::timeout(Duration::from_millis(200), r.stream.read(&mut chunk)).await
            {
                Ok(Ok(0)) => panic!("a trickling receiver was disconnected"),
                Ok(Ok(_)) | Err(_) => {}
                Ok(Err(e)) => panic!("a trickling receiver's read failed: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    (id, task)
}

/// `receivers` trickling receivers, flooded for `flood` by `senders` real
/// clients (each with its own share of the receivers), while a separate
/// pair exchanges packets one at a time. Returns the relay's peak RSS and
/// how many of the pair's packets were sent and how many arrived in time,
/// and with `metrics`, the most the relay held in large blocks mapped
/// outside its allocator (`uring_relay_allocator_bytes{kind="mapped"}`).
/// Everything is closed before it returns.
async fn burst(
    relay: &RelayProcess,
    receivers: usize,
    senders: usize,
    flood: Duration,
    metrics: Option<SocketAddr>,
) -> (u64, (u32, u32), f64) {
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut ids = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..receivers {
        let (id, task) = trickle_receiver(relay.addr(), stop.clone()).await;
        ids.push(id);
        readers.push(task);
    }
    let url = relay.url();
    let mut flooders = Vec::new();
    for s in 0..senders {
        let mine: Vec<PublicKey> = ids.iter().copied().skip(s).step_by(senders).collect();
        let url = url.clone();
        flooders.push(tokio::spawn(async move {
            let mut c = TestClient::connect(&url, Protocol::Relay).await.unwrap();
            let packet = Bytes::from(wire::pattern(PACKET, 0x5a));
            let start = Instant::now();
            let mut i = 0;
            while start.elapsed() < flood {
                c.send(mine[i % mine.len()], packet.clone()).await.unwrap();
                i += 1;
            }
            c.close().await;
        }));
    }
    let mut c = TestClient::connect(&url, Protocol::Relay).await.unwrap();
    let mut d = TestClient::connect(&url, Protocol::Websocket)
        .await
        .unwrap();
    let pid = relay.pid();
    let mut peak = rss(pid);
    let mut peak_mapped = 0f64;
    // The pair runs for as long as the flood: one packet every 20 ms, each
    // waited for (up to 2 s) before the next.
    let (mut sent, mut arrived) = (0u32, 0u32);
    let start = Instant::now();
    while start.elapsed() < flood {
        c.send(d.node_id(), Bytes::copy_from_slice(&sent.to_be_bytes()))
            .await
            .unwrap();
        sent += 1;
        if let Ok(Some(ReceivedMessage::ReceivedPacket { data, .. })) =
            d.next_message(Duration::from_secs(2)).await
        {
            if data[..] == (sent - 1).to_be_bytes() {
                arrived += 1;
            }
        }
        peak = peak.max(rss(pid));
        if let Some(m) = metrics {
            peak_mapped = peak_mapped.max(mapped_bytes(m).await);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for f in flooders {
        f.await.unwrap();
    }
    peak = peak.max(rss(pid));
    stop_tx.send(true).unwrap();
    for r in readers {
        r.await.unwrap();
    }
    c.close().await;
    d.close().await;
    (peak, (sent, arrived), peak_mapped)
}

async fn mapped_bytes(metrics: SocketAddr) -> f64 {
    let m = openmetrics::scrape(metrics).await.unwrap();
    m.samples_named("uring_relay_allocator_bytes")
        .into_iter()
        .find(|s| s.labels.iter().any(|(k, v)| k == "kind" && v == "mapped"))
        .map(|s| s.value)
        .expect("no uring_relay_allocator_bytes{kind=\"mapped\"}")
}

/// Waits (bounded) for the relay's RSS to stop falling and returns it.
async fn settled_rss(pid: u32) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = rss(pid);
    // The allocator returns memory in steps: one flat interval can sit
    // between two drops, so settled means flat twice in a row.
    let mut flat = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = rss(pid);
        flat = if now + MIB / 4 >= last { flat + 1 } else { 0 };
        if flat == 2 || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

/// 200 receivers that read at a trickle, flooded with 64 KiB packets, would
/// make the relay queue 800 MiB (4 MiB each); with a 32 MiB budget its RSS
/// stays under the budget plus the documented overhead, the drops are
/// counted, and a well-behaved pair still gets every packet.
#[tokio::test]
async fn queue_budget_bounds_memory_and_spares_other_pairs() {
    if skip_on_reference("a queue budget") {
        return;
    }
    bounded(Duration::from_secs(180), async {
        let budget = 32 * MIB;
        let (relay, metrics) = start(&format!("[limits]\nmax_queued_bytes = {budget}\n"));
        let idle = rss(relay.pid());
        let (peak, (sent, arrived), _) = burst(&relay, 200, 20, Duration::from_secs(5), None).await;
        let m = openmetrics::scrape(metrics).await.unwrap();
        let dropped = m.value("uring_relay_dropped_memory_budget_total");
        eprintln!(
            "idle {} MiB, peak {} MiB, budget drops {dropped}, pair got {arrived}/{sent}",
            idle / MIB,
            peak / MIB
        );
        assert!(dropped > 0.0, "the budget was never reached");
        // README: RSS stays under max_queued_bytes plus read buffers and the
        // idle footprint; 48 MiB covers both for this test's connections.
        assert!(
            peak < idle + budget + 48 * MIB,
            "peak RSS {} MiB over budget {} MiB + idle {} MiB + 48 MiB",
            peak / MIB,
            budget / MIB,
            idle / MIB
        );
        assert!(sent >= 20, "the pair hardly ran");
        assert_eq!(arrived, sent, "the well-behaved pair lost packets");
        assert_eq!(m.value("uring_relay_write_stall_disconnects_total"), 0.0);
    })
    .await
}

/// A burst that makes the relay hold hundreds of MiB, twice: the queues
/// live in blocks mapped outside the allocator, so after each burst they
/// are gone and RSS is back within 10% of its idle size, plus a little
/// allocator bookkeeping sized by the clients, not by the burst.
#[tokio::test]
async fn memory_goes_back_after_a_burst() {
    if skip_on_reference("memory returned after bursts") {
        return;
    }
    bounded(Duration::from_secs(240), async {
        let (relay, metrics) = start("");
        let pid = relay.pid();
        let idle = rss(pid);
        let (peak1, _, mapped1) = burst(&relay, 100, 20, Duration::from_secs(4), Some(metrics)).await;
        let after1 = settled_rss(pid).await;
        let mapped_after = mapped_bytes(metrics).await;
        let (peak2, _, _) = burst(&relay, 100, 20, Duration::from_secs(4), None).await;
        let after2 = settled_rss(pid).await;
        eprintln!(
            "RSS MiB: idle {}, burst 1 peak {} (mapped {}) -> {} (mapped {}), burst 2 peak {} -> {}",
            idle / MIB,
            peak1 / MIB,
            mapped1 as u64 / MIB,
            after1 / MIB,
            mapped_after as u64 / MIB,
            peak2 / MIB,
            after2 / MIB
        );
        assert!(
            peak1 > idle + 200 * MIB,
            "the burst did not make the relay hold memory"
        );
        assert!(
            peak2 > after1 + 200 * MIB,
            "the second burst did not either"
        );
        assert!(
            mapped1 as u64 * 2 > peak1 - idle,
            "only {} MiB of the {} MiB the burst held was in mapped blocks",
            mapped1 as u64 / MIB,
            (peak1 - idle) / MIB
        );
        assert!(
            (mapped_after as u64) < 2 * MIB,
            "{} MiB stayed mapped after the burst",
            mapped_after as u64 / MIB
        );
        // The 4 MiB: allocator metadata and the in-flight operations table
        // grown for this test's connections (docs/operating.md, Memory).
        assert!(
            after1 <= idle + idle / 10 + 4 * MIB,
            "after the first burst RSS stayed at {} MiB (idle {} MiB)",
            after1 / MIB,
            idle / MIB
        );
        assert!(
            after2 * 10 <= after1 * 11,
            "after the second burst RSS stayed at {} MiB, more than 10% over {} MiB",
            after2 / MIB,
            after1 / MIB
        );
    })
    .await
}
