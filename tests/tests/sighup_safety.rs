//! What a reload must never do, and what it must say: a config file that
//! is gone, unreadable or broken keeps the running access control (an
//! allowlisted relay stays closed to strangers); a reload names what it
//! applied and what waits for a restart; clients a new list no longer
//! admits are disconnected, and a reconnect is refused. (The 0.35
//! reference has no reload.)

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use iroh_base::SecretKey;
use iroh_relay::http::Protocol;
use tests::{
    bounded, client::TestClient, openmetrics, probe_run::probe, relay::free_port,
    skip_on_reference, wire, RelayOptions, RelayProcess,
};

const T: Duration = Duration::from_secs(90);
/// How long a reload may take to show in the log.
const RELOAD_WAIT: Duration = Duration::from_secs(10);

fn hex(sk: &SigningKey) -> String {
    wire::public(sk)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn allowlist(keys: &[&SigningKey]) -> String {
    let ids: Vec<String> = keys.iter().map(|k| format!("\"{}\"", hex(k))).collect();
    format!("[access]\nallowlist = [{}]\n", ids.join(", "))
}

fn start(access: &str, metrics: Option<SocketAddr>) -> RelayProcess {
    RelayProcess::start_with(RelayOptions {
        shards: 2,
        extra_toml: access.into(),
        metrics_addr: metrics,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("starting relay: {e:#}"))
}

/// `uring_relay_config_reloads_total{result}`.
fn reloads(m: &openmetrics::Scrape, result: &str) -> f64 {
    m.samples_named("uring_relay_config_reloads_total")
        .iter()
        .filter(|s| s.labels.iter().any(|(k, v)| k == "result" && v == result))
        .map(|s| s.value)
        .sum()
}

/// Waits until the relay's log has `n` lines containing `needle`.
async fn wait_for_log(relay: &RelayProcess, needle: &str, n: usize) {
    let deadline = Instant::now() + RELOAD_WAIT;
    while relay.log_text().matches(needle).count() < n {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} (x{n}) in the log:\n{}",
            relay.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The probe's fresh keys are not on the list: it must fail to connect.
fn probe_refused(relay: &RelayProcess, when: &str) {
    let url = format!("http://{}", relay.addr());
    let out = probe(&[&url, "--timeout", "5", "--count", "1"]);
    assert_eq!(
        out.code, 1,
        "{when}: the probe must fail against an allowlist it is not on\n{}{}",
        out.stdout, out.stderr
    );
}

#[tokio::test]
async fn sighup_with_the_file_gone_keeps_the_allowlist() {
    if skip_on_reference("SIGHUP reload") {
        return;
    }
    bounded(T, async {
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
        let member = wire::random_signing_key();
        let relay = start(&allowlist(&[&member]), Some(metrics));
        probe_refused(&relay, "before the reload");

        let config = relay.config_path().to_owned();
        let moved = config.with_extension("toml.moved");
        std::fs::rename(&config, &moved).unwrap();
        relay.sighup().unwrap();
        wait_for_log(&relay, "keeping the running config", 1).await;
        assert!(
            relay.log_text().contains("does not exist"),
            "{}",
            relay.log_text()
        );
        probe_refused(&relay, "after a reload with the file gone");

        // A file that cannot be read, then one that is not TOML: the same.
        std::fs::create_dir(&config).unwrap();
        relay.sighup().unwrap();
        wait_for_log(&relay, "keeping the running config", 2).await;
        std::fs::remove_dir(&config).unwrap();
        std::fs::write(&config, "[access\nallowlist = [").unwrap();
        relay.sighup().unwrap();
        wait_for_log(&relay, "keeping the running config", 3).await;
        probe_refused(&relay, "after reloads of a directory and of broken TOML");
        let log = relay.log_text();
        let warned = log
            .lines()
            .filter(|l| l.contains("keeping the running config"))
            .all(|l| l.contains("WARN"));
        assert!(warned, "reload refusals must be warnings:\n{log}");

        // The member still gets in: the running list is the old one.
        let url = relay.url();
        let secret = SecretKey::from_bytes(&member.to_bytes());
        TestClient::connect_with_key(&url, Protocol::Relay, secret)
            .await
            .expect("a key on the running allowlist connects");

        let m = openmetrics::scrape(metrics).await.unwrap();
        assert_eq!(reloads(&m, "rejected"), 3.0);
        assert_eq!(reloads(&m, "applied"), 0.0);
        assert_eq!(m.value("uring_relay_config_last_reload_successful"), 0.0);
    })
    .await
}

#[tokio::test]
async fn reload_disconnects_keys_the_new_list_refuses_and_says_what_changed() {
    if skip_on_reference("SIGHUP reload") {
        return;
    }
    bounded(T, async {
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
        let (stay, go) = (wire::random_signing_key(), wire::random_signing_key());
        let relay = start(&allowlist(&[&stay, &go]), Some(metrics));
        let url = relay.url();
        let secret = |k: &SigningKey| SecretKey::from_bytes(&k.to_bytes());
        let mut a = TestClient::connect_with_key(&url, Protocol::Relay, secret(&stay))
            .await
            .unwrap();
        let mut b = TestClient::connect_with_key(&url, Protocol::Websocket, secret(&go))
            .await
            .unwrap();
        a.ping(*b"before!!").await.unwrap();
        b.ping(*b"before!!").await.unwrap();

        // The new list drops B; the file also moves the relay's port, which
        // only a restart can apply.
        let text = std::fs::read_to_string(relay.config_path()).unwrap();
        let moved = text.replace(
            &format!("127.0.0.1:{}", relay.port()),
            &format!("127.0.0.1:{}", relay.port().wrapping_add(1)),
        );
        assert_ne!(moved, text, "generated config names its port");
        std::fs::write(relay.config_path(), moved).unwrap();
        relay.rewrite_access(&allowlist(&[&stay])).unwrap();
        relay.sighup().unwrap();
        wait_for_log(
            &relay,
            "applied: access: allowlist of 2 keys -> allowlist of 1 key",
            1,
        )
        .await;
        let log = relay.log_text();
        assert!(
            log.lines().any(|l| l.contains("WARN")
                && l.contains("http_bind_addr")
                && l.contains("needs a restart")),
            "{log}"
        );

        // B's connection is closed; A's is the same one and still answers.
        b.expect_closed(Duration::from_secs(10))
            .await
            .expect("the revoked client is disconnected");
        a.ping(*b"after!!!").await.unwrap();
        assert!(
            TestClient::connect_with_key(&url, Protocol::Relay, secret(&go))
                .await
                .is_err(),
            "the revoked key reconnected"
        );
        let m = openmetrics::scrape(metrics).await.unwrap();
        assert_eq!(m.value("uring_relay_access_revoked_disconnects_total"), 1.0);
        assert_eq!(reloads(&m, "applied"), 1.0);
        assert_eq!(m.value("uring_relay_config_last_reload_successful"), 1.0);
    })
    .await
}
