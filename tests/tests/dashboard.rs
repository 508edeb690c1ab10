//! The Grafana dashboard in deploy/ reads only names the relay exports:
//! every metric its queries name appears in a real scrape, after traffic
//! has moved the write histograms.

use std::{collections::BTreeSet, net::SocketAddr, time::Duration};

use bytes::Bytes;
use iroh_relay::http::Protocol;
use tests::{
    bounded,
    client::TestClient,
    openmetrics::{self, Scrape},
    relay::free_port,
    skip_on_reference, RelayOptions, RelayProcess,
};

const T: Duration = Duration::from_secs(60);
const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../deploy/grafana-dashboard.json"
);
const ALERTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../deploy/uring-relay-alerts.yml"
);

/// Names a query reads: the relay's own prefixes (PromQL functions and
/// label names never carry them).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut word = String::new();
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
            continue;
        }
        let w = std::mem::take(&mut word);
        if ["relayserver_", "uring_relay_", "process_", "stun_"]
            .iter()
            .any(|p| w.starts_with(p))
        {
            names.push(w);
        }
    }
    names
}

/// Every `expr` string anywhere in the dashboard.
fn exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

/// A relay with metrics and STUN on (the dashboard has STUN panels).
fn start_with_metrics_and_stun() -> (RelayProcess, SocketAddr) {
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let stun = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let relay = RelayProcess::start_with(RelayOptions {
        metrics_addr: Some(metrics),
        stun_addr: Some(stun),
        ..Default::default()
    })
    .unwrap();
    (relay, metrics)
}

fn histogram_is_consistent(m: &Scrape, name: &str) -> f64 {
    let buckets = m.samples_named(&format!("{name}_bucket"));
    assert!(buckets.len() > 2, "{name}: buckets {buckets:?}");
    let mut last = 0.0;
    for b in &buckets {
        assert!(
            b.value >= last,
            "{name}: buckets not cumulative: {buckets:?}"
        );
        last = b.value;
    }
    let inf = buckets.last().map(|b| (b.labels[0].1.as_str(), b.value));
    let count = m.value(&format!("{name}_count"));
    assert_eq!(inf, Some(("+Inf", count)), "{name}");
    count
}

#[tokio::test]
async fn dashboard_queries_only_exported_names() {
    if skip_on_reference("uring-relay's dashboard") {
        return;
    }
    bounded(T, async {
        let text = std::fs::read_to_string(DASHBOARD).unwrap();
        let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut all = Vec::new();
        exprs(&dashboard, &mut all);
        let alerts = std::fs::read_to_string(ALERTS).unwrap();
        for line in alerts.lines() {
            if let Some(e) = line.trim().strip_prefix("expr:") {
                all.push(e.to_string());
            }
        }
        let wanted: BTreeSet<String> = all.iter().flat_map(|e| metric_names(e)).collect();
        assert!(wanted.len() > 30, "dashboard names only {wanted:?}");

        let (relay, metrics) = start_with_metrics_and_stun();
        let url = relay.url();
        let mut a = TestClient::connect(&url, Protocol::Relay).await.unwrap();
        let mut b = TestClient::connect(&url, Protocol::Websocket)
            .await
            .unwrap();
        const N: usize = 20;
        for i in 0..N {
            a.send(b.node_id(), Bytes::from(vec![i as u8; 100]))
                .await
                .unwrap();
        }
        for _ in 0..N {
            b.recv_packet().await.unwrap();
        }
        // Let the last writes finish so both histograms have seen them.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let m = openmetrics::scrape(metrics).await.unwrap();
        // Every frame went out in some write, and each write was timed.
        let writes = histogram_is_consistent(&m, "uring_relay_write_frames");
        assert!(writes >= 1.0 && writes <= N as f64 + 8.0, "{writes} writes");
        assert!(m.value("uring_relay_write_frames_sum") >= N as f64);
        assert_eq!(
            histogram_is_consistent(&m, "uring_relay_queue_wait_seconds"),
            writes
        );
        assert!(m.value("process_max_fds") >= m.value("process_open_fds"));

        let exported: BTreeSet<&str> = m.samples.iter().map(|s| s.name.as_str()).collect();
        let missing: Vec<&String> = wanted
            .iter()
            .filter(|n| !exported.contains(n.as_str()) && !n.starts_with("uring_relay_probe_"))
            .collect();
        assert!(missing.is_empty(), "queried but not exported: {missing:?}");
    })
    .await;
}

/// Percent-encodes a query parameter value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET /api/v1/<path>` on a Prometheus server, as JSON.
async fn api(addr: SocketAddr, path: &str) -> serde_json::Value {
    let req = tests::http::get_request(&format!("/api/v1/{path}"), &addr.to_string(), &[]);
    let resp = tests::http::roundtrip(addr, &req).await.unwrap();
    serde_json::from_str(&resp.body_text())
        .unwrap_or_else(|e| panic!("{path}: {e}: {}", resp.body_text()))
}

/// A Prometheus server (Debian's `prometheus`) scraping the relay every
/// second, with the alert rules loaded; killed on drop.
struct Prometheus {
    child: std::process::Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_prometheus(bin: &std::path::Path, target: SocketAddr) -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(ALERTS, dir.path().join("alerts.yml")).unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files: [alerts.yml]\n\
             scrape_configs:\n  - job_name: uring-relay\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let child = std::process::Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    Prometheus {
        child,
        addr,
        _dir: dir,
    }
}

/// Every dashboard query evaluated by a real Prometheus scraping the relay
/// returns data, and every alert rule evaluates without error.
/// `REQUIRE_PROMETHEUS=1` (set by scripts/test) turns a missing
/// `prometheus` binary into a failure.
#[tokio::test]
async fn dashboard_queries_evaluate_in_prometheus() {
    if skip_on_reference("uring-relay's dashboard") {
        return;
    }
    let bin = std::path::PathBuf::from("/usr/bin/prometheus");
    if !bin.exists() {
        assert!(
            std::env::var_os("REQUIRE_PROMETHEUS").is_none(),
            "REQUIRE_PROMETHEUS is set but /usr/bin/prometheus is missing"
        );
        eprintln!("dashboard_queries_evaluate_in_prometheus: SKIP (apt-get install prometheus)");
        return;
    }
    bounded(Duration::from_secs(120), async {
        let (relay, metrics) = start_with_metrics_and_stun();
        let url = relay.url();
        let mut a = TestClient::connect(&url, Protocol::Relay).await.unwrap();
        let b = TestClient::connect(&url, Protocol::Websocket)
            .await
            .unwrap();
        let prom = start_prometheus(&bin, metrics);
        // rate() needs two scrapes in its window: send while they happen.
        let mut scrapes = 0.0;
        for _ in 0..600 {
            a.send(b.node_id(), Bytes::from_static(b"x")).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            let q = encode("count_over_time(up{job=\"uring-relay\"}[5m])");
            if let Ok(resp) = tests::http::roundtrip(
                prom.addr,
                &tests::http::get_request(
                    &format!("/api/v1/query?query={q}"),
                    &prom.addr.to_string(),
                    &[],
                ),
            )
            .await
            {
                let v: serde_json::Value =
                    serde_json::from_str(&resp.body_text()).unwrap_or_default();
                scrapes = v["data"]["result"][0]["value"][1]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0.0);
                if scrapes >= 3.0 {
                    break;
                }
            }
        }
        assert!(scrapes >= 3.0, "prometheus never scraped the relay 3 times");

        let text = std::fs::read_to_string(DASHBOARD).unwrap();
        let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut all = Vec::new();
        exprs(&dashboard, &mut all);
        for expr in &all {
            let q = expr.replace("$instance", ".*");
            let v = api(prom.addr, &format!("query?query={}", encode(&q))).await;
            assert_eq!(v["status"], "success", "{q}: {v}");
            let n = v["data"]["result"].as_array().map_or(0, Vec::len);
            assert!(n > 0, "{q} returned no series: {v}");
        }
        // Rules are evaluated every second; wait for one evaluation.
        for _ in 0..100 {
            let v = api(prom.addr, "rules").await;
            let rules: Vec<&serde_json::Value> = v["data"]["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["rules"].as_array().into_iter().flatten())
                .collect();
            assert!(!rules.is_empty(), "no rules loaded: {v}");
            if rules.iter().all(|r| r["health"] == "ok") {
                return;
            }
            assert!(
                rules.iter().all(|r| r["health"] != "err"),
                "a rule failed: {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("alert rules never evaluated");
    })
    .await;
}
