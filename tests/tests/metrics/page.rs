//! The page over real HTTP: Prometheus text format by default, OpenMetrics
//! when `Accept` asks for it, both with the same samples; `/metrics` only,
//! `GET` and `HEAD` only; and `promtool check metrics` finds no problem on a
//! page from a relay in use.

use std::{collections::BTreeSet, net::SocketAddr, process::Stdio, time::Duration};

use tests::{
    bounded, http,
    openmetrics::{self, Scrape, PROMETHEUS_ACCEPT},
    skip_on_reference,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{busy_relay, start, T};

const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `method path` with extra header lines, over real HTTP.
async fn get(addr: SocketAddr, method: &str, path: &str, extra: &[&str]) -> http::Response {
    let req = http::request(method, path, &addr.to_string(), extra);
    http::roundtrip(addr, &req).await.unwrap()
}

/// Every series as `name{labels}`.
fn series(m: &Scrape) -> BTreeSet<String> {
    m.samples
        .iter()
        .map(|s| format!("{}{:?}", s.name, s.labels))
        .collect()
}

#[tokio::test]
async fn formats_by_accept() {
    if skip_on_reference("the Prometheus text format") {
        return;
    }
    bounded(T, async {
        let busy = busy_relay().await;
        let addr = busy.metrics;
        let text = get(addr, "GET", "/metrics", &[]).await;
        assert_eq!(text.status, 200);
        assert_eq!(text.header("content-type"), Some(TEXT));
        let body = text.body_text();
        assert!(!body.contains("# EOF"), "{body}");
        assert!(body.contains("\n# TYPE relayserver_accepts_total counter\n"));
        let text = openmetrics::parse_text(&body).unwrap();

        for accept in [
            PROMETHEUS_ACCEPT,
            "Accept: application/openmetrics-text",
            "accept: text/plain;q=0.5, Application/OpenMetrics-Text; version=1.0.0",
        ] {
            let om = get(addr, "GET", "/metrics", &[accept]).await;
            assert_eq!(om.status, 200, "{accept}");
            assert_eq!(om.header("content-type"), Some(OPENMETRICS), "{accept}");
            let body = om.body_text();
            assert!(body.ends_with("\n# EOF\n"), "{accept}");
            assert!(body.contains("\n# TYPE relayserver_accepts counter\n"));
            let om = openmetrics::parse(&body).unwrap();
            assert_eq!(om.text_names(), text.text_names(), "{accept}");
            assert_eq!(series(&om), series(&text), "{accept}");
        }
        // Asking for something else, or for OpenMetrics at q=0, is text.
        for accept in [
            "Accept: text/plain;version=0.0.4",
            "Accept: */*",
            "Accept: application/openmetrics-text;q=0",
        ] {
            let r = get(addr, "GET", "/metrics?x=1", &[accept]).await;
            assert_eq!(r.header("content-type"), Some(TEXT), "{accept}");
        }
    })
    .await
}

#[tokio::test]
async fn metrics_path_only_get_and_head_only() {
    if skip_on_reference("404 and 405 on the metrics port") {
        return;
    }
    bounded(T, async {
        let (_relay, addr) = start(1);
        for path in [
            "/",
            "/metric",
            "/metrics/",
            "/metrics/x",
            "/favicon.ico",
            "/healthz",
        ] {
            for method in ["GET", "HEAD", "POST"] {
                let r = if method == "HEAD" {
                    let (r, rest) = head(addr, path).await;
                    assert!(rest.is_empty(), "HEAD {path} sent a body: {rest:?}");
                    r
                } else {
                    get(addr, method, path, &[]).await
                };
                assert_eq!(r.status, 404, "{method} {path}");
            }
        }
        for method in ["POST", "PUT", "DELETE", "OPTIONS", "get"] {
            let r = get(addr, method, "/metrics", &[]).await;
            assert_eq!(r.status, 405, "{method}");
            assert_eq!(r.header("allow"), Some("GET, HEAD"), "{method}");
        }
        for accept in ["", PROMETHEUS_ACCEPT] {
            let extra: &[&str] = if accept.is_empty() { &[] } else { &[accept] };
            let (r, rest) = head_with(addr, "/metrics", extra).await;
            assert_eq!(r.status, 200);
            let want = if accept.is_empty() { TEXT } else { OPENMETRICS };
            assert_eq!(r.header("content-type"), Some(want));
            let len: usize = r
                .header("content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            assert!(len > 1000, "HEAD content-length {len}");
            assert!(rest.is_empty(), "HEAD sent a body: {rest:?}");
        }
        // The listener still serves after all that.
        openmetrics::scrape_text(addr).await.unwrap();
    })
    .await
}

async fn head(addr: SocketAddr, path: &str) -> (http::Response, Vec<u8>) {
    head_with(addr, path, &[]).await
}

/// A `HEAD` request: the response head, then whatever else the relay sent
/// before closing (nothing, for a HEAD).
async fn head_with(addr: SocketAddr, path: &str, extra: &[&str]) -> (http::Response, Vec<u8>) {
    let mut s = http::connect(addr).await.unwrap();
    let req = http::request("HEAD", path, &addr.to_string(), extra);
    s.write_all(&req).await.unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut all))
        .await
        .expect("the relay closes after a HEAD")
        .unwrap();
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {all:?}"));
    let text = String::from_utf8_lossy(&all[..end]);
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let resp = http::Response {
        status,
        headers,
        body: Vec::new(),
    };
    (resp, all[end + 4..].to_vec())
}

/// `promtool check metrics` (Debian's `prometheus` package) finds no problem
/// on the page of a relay in use: both families connected, STUN on, every
/// kind of metric present. `REQUIRE_PROMETHEUS=1` (set by scripts/test)
/// turns a missing promtool into a failure.
#[tokio::test]
async fn promtool_finds_no_problem() {
    if skip_on_reference("uring-relay's metrics page") {
        return;
    }
    let bin = std::path::Path::new("/usr/bin/promtool");
    if !bin.exists() {
        assert!(
            std::env::var_os("REQUIRE_PROMETHEUS").is_none(),
            "REQUIRE_PROMETHEUS is set but /usr/bin/promtool is missing"
        );
        eprintln!("promtool_finds_no_problem: SKIP (apt-get install prometheus)");
        return;
    }
    bounded(T, async {
        let busy = busy_relay().await;
        let body = get(busy.metrics, "GET", "/metrics", &[]).await.body_text();
        let m = openmetrics::parse_text(&body).unwrap();
        for kind in ["counter", "gauge", "histogram"] {
            assert!(m.families.iter().any(|f| f.kind == kind), "no {kind}");
        }
        let mut child = std::process::Command::new(bin)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(mut stdin) = child.stdin.take() {
            std::io::Write::write_all(&mut stdin, body.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && report.trim().is_empty(),
            "promtool check metrics ({}):\n{report}",
            out.status
        );
    })
    .await
}
