//! Under a `Type=notify` unit: the relay says READY only once it accepts
//! connections, RELOADING then READY around a SIGHUP, STOPPING on SIGTERM,
//! and pings the watchdog while its shards answer. systemd's side of the
//! protocol (a datagram socket named by NOTIFY_SOCKET, WATCHDOG_USEC) is
//! played by the test.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use tests::{skip_on_reference, RelayOptions, RelayProcess};

/// Receives notifications until one starts with `prefix`; returns it and
/// everything seen before it.
fn wait_for(sock: &UnixDatagram, prefix: &str, limit: Duration) -> (String, Vec<String>) {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no {prefix:?} within {limit:?}; got {seen:?}"
        );
        sock.set_read_timeout(Some(left)).expect("timeout");
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if msg.starts_with(prefix) {
                return (msg, seen);
            }
            seen.push(msg);
        }
    }
}

#[test]
fn ready_reloading_watchdog_stopping() {
    if skip_on_reference("sd_notify") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind notify socket");
    let mut relay = RelayProcess::start_with(RelayOptions {
        shards: 2,
        env: vec![
            ("NOTIFY_SOCKET".into(), path.display().to_string()),
            // 400 ms: a ping every 200 ms.
            ("WATCHDOG_USEC".into(), "400000".into()),
        ],
        ..Default::default()
    })
    .expect("relay starts");

    let (ready, before) = wait_for(&sock, "READY=1", Duration::from_secs(10));
    assert!(before.is_empty(), "sent before READY: {before:?}");
    assert!(
        ready.contains(&format!(
            "STATUS=relay (iroh 0.35 and 1.x) on http://{}",
            relay.addr()
        )),
        "{ready}"
    );
    // READY came after the listeners were bound: the port answers.
    std::net::TcpStream::connect(relay.addr()).expect("listening when READY was sent");

    // Pings keep coming while the shards turn.
    for _ in 0..3 {
        wait_for(&sock, "WATCHDOG=1", Duration::from_secs(10));
    }

    relay.sighup().expect("SIGHUP");
    let (reloading, _) = wait_for(&sock, "RELOADING=1", Duration::from_secs(10));
    let usec: u64 = reloading
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC in {reloading:?}"));
    assert!(usec > 0);
    wait_for(&sock, "READY=1", Duration::from_secs(10));

    relay.sigterm().expect("SIGTERM");
    wait_for(&sock, "STOPPING=1", Duration::from_secs(10));
    assert!(
        relay.wait_exit(Duration::from_secs(10)),
        "relay did not exit"
    );
}
