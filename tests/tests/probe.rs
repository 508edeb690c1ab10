//! `uring-relay probe`, run as the operator runs it (a subprocess): it
//! passes against uring-relay and the reference iroh-relay 0.35, and says
//! in words what is wrong with a port where nothing listens, a web server
//! that is not a relay, and a relay that loses packets.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tests::fake_server::{packet_eating_proxy, web_server};
use tests::probe_run::{
    assert_passes, check, probe, probe_command, reference_binary, url, wait, ChildGuard,
    CHECK_NAMES, RUN_LIMIT,
};
use tests::relay::free_port;
use tests::{RelayOptions, RelayProcess};

#[test]
fn probe_passes_against_uring_relay() {
    let relay = RelayProcess::start(2).expect("relay");
    let o = probe(&[&url(relay.addr()), "--json", "--count", "7"]);
    assert_passes(&o, 7);
    assert_eq!(o.json()["address"], relay.addr().to_string());
    let o = probe(&[&url(relay.addr())]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(
        o.stdout.contains("OK: all 6 checks passed") && o.stdout.contains("rtt min"),
        "{}",
        o.stdout
    );
}

#[test]
fn probe_passes_against_reference() {
    let Some(bin) = reference_binary() else {
        let _ = writeln!(
            std::io::stderr(),
            "probe_against_reference: SKIP (reference not installed: run scripts/install-reference-relay.sh)"
        );
        return;
    };
    let relay = RelayProcess::start_with(RelayOptions {
        bin: Some(bin),
        ..Default::default()
    })
    .expect("reference relay");
    assert_passes(&probe(&[&url(relay.addr()), "--json"]), 5);
    let o = probe(&[&url(relay.addr()), "--json", "--protocol", "ws"]);
    assert_passes(&o, 5);
    assert_eq!(o.json()["protocol"], "ws");
}

#[test]
fn nothing_listening_is_connection_refused() {
    let port = free_port().expect("port");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let o = probe(&[&url(addr), "--json"]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    let r = o.json();
    let want = format!("connection refused at {addr} (nothing listens on that port)");
    assert_eq!(r["ok"], false);
    assert_eq!(r["error"], want.as_str());
    assert_eq!(check(&r, "generate_204")["error"], want.as_str());
    for name in &CHECK_NAMES[1..] {
        assert!(check(&r, name)["skipped"].is_string(), "{r:#}");
    }
    let o = probe(&[&url(addr)]);
    assert!(
        o.stdout
            .contains(&format!("FAILED (1 of 6 checks): {want}")),
        "{}",
        o.stdout
    );
}

#[test]
fn usage_errors_exit_2() {
    let o = probe(&["ftp://relay.example.org"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("the probe speaks http:// and https://"),
        "{}",
        o.stderr
    );
    // https:// is probed, but an unreadable CA file is a usage error.
    let o = probe(&[
        "https://relay.example.org",
        "--ca-file",
        "/nonexistent/ca.pem",
    ]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert!(
        o.stderr
            .contains("cannot read the CA file /nonexistent/ca.pem"),
        "{}",
        o.stderr
    );
    let o = probe(&["https://h", "--ca-file", "/x.pem", "--insecure"]);
    assert_eq!(o.code, 2, "--ca-file and --insecure: {}", o.stderr);
    let o = probe(&["http://127.0.0.1:1", "--protocol", "v3"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    let o = probe(&["relay.example.org:3340"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("is not a URL"), "{}", o.stderr);
    let o = probe(&["http://127.0.0.1:1", "--count", "0"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    let o = probe(&["http://127.0.0.1:1", "--exit-on-failure"]);
    assert_eq!(
        o.code, 2,
        "--exit-on-failure needs --interval: {}",
        o.stderr
    );
}

#[test]
fn web_server_is_not_a_relay() {
    let addr = web_server("404 Not Found");
    let o = probe(&[&url(addr), "--json", "--timeout", "3"]);
    assert_eq!(o.code, 1);
    let r = o.json();
    assert_eq!(
        check(&r, "generate_204")["error"],
        format!("HTTP server at {addr} is not an iroh relay: /generate_204 answered 404 Not Found (expected 204)")
            .as_str()
    );
    assert_eq!(
        check(&r, "connect_a")["error"],
        format!("HTTP server at {addr} is not an iroh relay: /relay answered 404 Not Found")
            .as_str()
    );
    assert_eq!(
        check(&r, "forward_a_to_b")["skipped"],
        "needs both clients connected"
    );

    // One that says 200 to everything passes /ping, but nothing else.
    let addr = web_server("200 OK");
    let r = probe(&[&url(addr), "--json", "--timeout", "3"]).json();
    assert_eq!(check(&r, "ping")["ok"], true);
    assert!(
        check(&r, "generate_204")["error"]
            .as_str()
            .is_some_and(|e| e.ends_with("/generate_204 answered 200 OK (expected 204)")),
        "{r:#}"
    );
    assert_eq!(
        check(&r, "connect_b")["error"],
        format!(
            "HTTP server at {addr} does not serve iroh 0.35 clients: /relay answered 200 OK \
             to `Upgrade: iroh derp http`"
        )
        .as_str()
    );
}

#[test]
fn relay_that_drops_packets_is_reported() {
    let relay = RelayProcess::start(2).expect("relay");
    let proxy = packet_eating_proxy(relay.addr());
    let started = Instant::now();
    let o = probe(&[&url(proxy), "--json", "--timeout", "2"]);
    let took = started.elapsed();
    assert_eq!(o.code, 1, "{}", o.stdout);
    let r = o.json();
    for name in ["generate_204", "ping", "connect_a", "connect_b"] {
        assert_eq!(check(&r, name)["ok"], true, "{r:#}");
    }
    assert_eq!(
        check(&r, "forward_a_to_b")["error"],
        "relay accepted both clients but forwarded 0 of 5 packets from A to B within 2s"
    );
    assert_eq!(
        check(&r, "forward_b_to_a")["error"],
        "relay accepted both clients but forwarded 0 of 5 packets from B to A within 2s"
    );
    assert_eq!(r["packets"]["a_to_b"]["sent"], 5);
    assert_eq!(r["packets"]["a_to_b"]["delivered"], 0);
    assert!(r["rtt"].is_null());
    // One wait per direction, not one per packet.
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

/// The metrics file's samples as (name with labels, value).
fn samples(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad line {l:?}"));
            let value = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {l:?}"));
            (name.to_owned(), value)
        })
        .collect()
}

fn value(samples: &[(String, f64)], name: &str) -> f64 {
    samples
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no sample {name} in {samples:?}"))
}

/// Waits until `path` holds a run that started after `after` (seconds
/// since the epoch).
fn wait_for_run(path: &std::path::Path, after: f64, child: &mut Child) -> Vec<(String, f64)> {
    let deadline = Instant::now() + RUN_LIMIT;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            assert!(text.ends_with("# EOF\n"), "half a file: {text}");
            let s = samples(&text);
            let last = s
                .iter()
                .find(|(n, _)| n.starts_with("uring_relay_probe_last_run_timestamp_seconds"))
                .map(|(_, v)| *v);
            if last.is_some_and(|t| t > after) {
                return s;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("probe monitor exited ({status})");
        }
        assert!(
            Instant::now() < deadline,
            "no run written to {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Runs `probe URL --metrics-file PATH ARGS` as a monitor until it has
/// written two runs, then stops it: the first run's timestamp and the
/// second run's samples.
fn two_monitor_runs(url: &str, path: &Path, args: &[&str]) -> (f64, Vec<(String, f64)>) {
    let file = path.to_str().expect("utf-8 path");
    let mut all = vec![url, "--metrics-file", file];
    all.extend_from_slice(args);
    let mut child = ChildGuard(
        probe_command(&all)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn probe monitor"),
    );
    let first = wait_for_run(path, now() - 1.0, &mut child.0);
    let first_ts = value(
        &first,
        &format!("uring_relay_probe_last_run_timestamp_seconds{{url=\"{url}\",protocol=\"derp\"}}"),
    );
    // A second run replaces the first.
    let second = wait_for_run(path, first_ts, &mut child.0);
    (first_ts, second)
}

#[test]
fn interval_writes_the_metrics_file() {
    let relay = RelayProcess::start(2).expect("relay");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("uring_relay_probe.prom");
    let u = url(relay.addr());
    let (first_ts, s) = two_monitor_runs(&u, &path, &["--interval", "0.3", "--count", "2"]);
    let l = |extra: &str| format!("{{url=\"{u}\",protocol=\"derp\"{extra}}}");
    assert_eq!(
        value(&s, &format!("uring_relay_probe_success{}", l(""))),
        1.0
    );
    for c in CHECK_NAMES {
        let name = format!(
            "uring_relay_probe_check_success{}",
            l(&format!(",check=\"{c}\""))
        );
        assert_eq!(value(&s, &name), 1.0, "{name}");
    }
    for stat in ["min", "median", "max"] {
        let v = value(
            &s,
            &format!(
                "uring_relay_probe_rtt_seconds{}",
                l(&format!(",stat=\"{stat}\""))
            ),
        );
        assert!(v > 0.0, "{stat} {v}");
    }
    for dir in ["a_to_b", "b_to_a"] {
        let d = l(&format!(",direction=\"{dir}\""));
        assert_eq!(
            value(&s, &format!("uring_relay_probe_packets_sent{d}")),
            2.0
        );
        assert_eq!(
            value(&s, &format!("uring_relay_probe_packets_returned{d}")),
            2.0
        );
    }
    let ts = value(
        &s,
        &format!("uring_relay_probe_last_run_timestamp_seconds{}", l("")),
    );
    assert!(ts > first_ts && ts <= now(), "{ts}");
    // Written through a rename: nothing else is left in the directory.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");

    // Against a dead relay the monitor keeps running and reports 0 …
    let port = free_port().expect("port");
    let dead = format!("http://127.0.0.1:{port}");
    let path = dir.path().join("dead.prom");
    let (_, s) = two_monitor_runs(&dead, &path, &["--interval", "0.2"]);
    let l = |extra: &str| format!("{{url=\"{dead}\",protocol=\"derp\"{extra}}}");
    assert_eq!(
        value(&s, &format!("uring_relay_probe_success{}", l(""))),
        0.0
    );
    assert_eq!(
        value(
            &s,
            &format!(
                "uring_relay_probe_check_success{}",
                l(",check=\"generate_204\"")
            )
        ),
        0.0
    );
    assert!(!s
        .iter()
        .any(|(n, _)| n.starts_with("uring_relay_probe_rtt_seconds")));

    // … unless told to stop at the first failure.
    let mut child = ChildGuard(
        probe_command(&[&dead, "--interval", "0.2", "--exit-on-failure"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn probe monitor"),
    );
    let status = wait(&mut child.0, RUN_LIMIT).expect("--exit-on-failure exits");
    assert_eq!(status.code(), Some(1));
}

#[test]
fn access_control_denial_is_reported() {
    // The allowlist holds one key (docs/protocol-0.35.md §4.1), not the
    // probe's fresh ones.
    let relay = RelayProcess::start_with(RelayOptions {
        extra_toml: "access.allowlist = [\"197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61\"]"
            .to_owned(),
        ..Default::default()
    })
    .expect("relay");
    let o = probe(&[&url(relay.addr()), "--json", "--timeout", "3"]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    let r = o.json();
    assert_eq!(check(&r, "generate_204")["ok"], true);
    assert_eq!(
        check(&r, "connect_a")["error"],
        "relay refused client A: Health(\"not authenticated\") (its access control does not \
         admit unknown keys, or the relay requires an access token (access.shared_token), \
         which iroh 0.35 clients cannot send)"
    );
    assert_eq!(
        check(&r, "forward_b_to_a")["skipped"],
        "needs both clients connected"
    );
}
