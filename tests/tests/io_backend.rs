//! The I/O backend choice: where io_uring is blocked (here by a seccomp
//! filter, as Docker's default profile does), `auto` serves on epoll and
//! says so, and an explicit `uring` refuses to start with one line saying
//! why. The rest of the suite runs on epoll with `RELAY_IO_BACKEND=epoll`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tests::{
    bounded,
    client::{TestClient, PROTOCOLS},
    openmetrics,
    relay::{free_port, relay_binary},
    skip_on_reference, RelayOptions, RelayProcess,
};

const T: Duration = Duration::from_secs(60);

fn without_io_uring() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_without-io-uring"))
}

/// These tests choose the backend themselves.
fn skip() -> bool {
    std::env::var_os("RELAY_IO_BACKEND").is_some() || skip_on_reference("an io_uring backend")
}

fn metrics_addr() -> std::net::SocketAddr {
    let port = free_port().expect("free port");
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

/// Which backend the metrics say every shard runs on.
async fn backend_of(relay: &RelayProcess) -> &'static str {
    let addr = relay.metrics_addr().expect("metrics enabled");
    let scrape = openmetrics::scrape(addr).await.expect("scrape");
    let on = |b: &str| {
        scrape
            .samples_named("uring_relay_io_backend")
            .iter()
            .filter(|s| s.labels.iter().any(|(k, v)| k == "backend" && v == b))
            .all(|s| s.value == 1.0)
    };
    match (on("io_uring"), on("epoll")) {
        (true, false) => "io_uring",
        (false, true) => "epoll",
        other => panic!("shards disagree on the backend: {other:?}"),
    }
}

/// Two real clients of each upgrade forward to each other.
async fn forwards(relay: &RelayProcess) {
    let url = relay.url();
    for p in PROTOCOLS {
        let mut a = TestClient::connect(&url, p).await.unwrap();
        let mut b = TestClient::connect(&url, p).await.unwrap();
        a.send(b.node_id(), Bytes::from_static(b"over epoll"))
            .await
            .unwrap();
        let (src, data) = b.recv_packet().await.unwrap();
        assert_eq!(src, a.node_id());
        assert_eq!(&data[..], b"over epoll");
    }
}

#[tokio::test]
async fn auto_falls_back_to_epoll_where_io_uring_is_blocked() {
    if skip() {
        return;
    }
    bounded(T, async {
        let relay = RelayProcess::start_with(RelayOptions {
            wrapper: Some(without_io_uring()),
            metrics_addr: Some(metrics_addr()),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("starting relay: {e:#}"));
        forwards(&relay).await;
        assert_eq!(backend_of(&relay).await, "epoll");
        let log = relay.log_text();
        assert!(
            log.contains("io_uring is unavailable") && log.contains("serving on epoll"),
            "{log}"
        );
    })
    .await
}

#[tokio::test]
async fn auto_uses_io_uring_where_it_is_allowed() {
    if skip() {
        return;
    }
    bounded(T, async {
        let relay = RelayProcess::start_with(RelayOptions {
            metrics_addr: Some(metrics_addr()),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("starting relay: {e:#}"));
        assert_eq!(backend_of(&relay).await, "io_uring");
        forwards(&relay).await;
    })
    .await
}

/// `--io-backend uring` where io_uring is blocked: exit non-zero at once
/// with one line naming the cause, and serve nothing.
#[test]
fn uring_refuses_to_start_without_io_uring() {
    if skip() {
        return;
    }
    let port = free_port().expect("free port");
    let config = std::env::temp_dir().join(format!("io-backend-{port}.toml"));
    std::fs::write(
        &config,
        format!(
            "http_bind_addr = \"127.0.0.1:{port}\"\nenable_stun = false\nenable_metrics = false\n"
        ),
    )
    .expect("config");
    let mut child = Command::new(without_io_uring())
        .arg(relay_binary().expect("relay binary"))
        .arg("-c")
        .arg(&config)
        .args(["--io-backend", "uring"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + T;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("relay kept running without io_uring");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = std::fs::remove_file(&config);
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    assert!(!status.success(), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("uring-relay: ") && last.contains("io_uring setup failed"),
        "{err}"
    );
}

/// Whether every shard serves its clients from its own ring.
async fn shard_ring_of(relay: &RelayProcess) -> bool {
    let addr = relay.metrics_addr().expect("metrics enabled");
    let scrape = openmetrics::scrape(addr).await.expect("scrape");
    let gauges = scrape.samples_named("uring_relay_shard_ring");
    assert!(!gauges.is_empty(), "no uring_relay_shard_ring on the page");
    gauges.iter().all(|s| s.value == 1.0)
}

/// `URING_RELAY_RING=on`: the io_uring backend serves relaying clients
/// from the shard ring (both families forward through it); on epoll, or
/// where the kernel refuses the ring (here: io_uring blocked, so `auto`
/// is epoll), the request is not honoured and clients are still served.
#[tokio::test]
async fn shard_ring_when_asked_and_possible() {
    if skip() {
        return;
    }
    bounded(T, async {
        let ring_on = vec![("URING_RELAY_RING".to_owned(), "on".to_owned())];
        let relay = RelayProcess::start_with(RelayOptions {
            metrics_addr: Some(metrics_addr()),
            env: ring_on.clone(),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("starting relay: {e:#}"));
        assert_eq!(backend_of(&relay).await, "io_uring");
        assert!(shard_ring_of(&relay).await, "the shard ring is not serving");
        forwards(&relay).await;
        let scrape = openmetrics::scrape(relay.metrics_addr().expect("metrics"))
            .await
            .expect("scrape");
        assert!(scrape.value("uring_relay_ring_receive_arms_total") >= 4.0);
        drop(relay);

        let relay = RelayProcess::start_with(RelayOptions {
            wrapper: Some(without_io_uring()),
            metrics_addr: Some(metrics_addr()),
            env: ring_on,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("starting relay: {e:#}"));
        assert_eq!(backend_of(&relay).await, "epoll");
        assert!(!shard_ring_of(&relay).await);
        forwards(&relay).await;

        // Not asked for (empty, as if unset; this suite may itself run
        // with the variable on).
        let relay = RelayProcess::start_with(RelayOptions {
            metrics_addr: Some(metrics_addr()),
            env: vec![("URING_RELAY_RING".to_owned(), String::new())],
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("starting relay: {e:#}"));
        assert!(
            !shard_ring_of(&relay).await,
            "the ring is off unless asked for"
        );
    })
    .await
}
