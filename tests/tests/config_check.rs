//! What a first-time operator's config mistakes produce: unknown keys are
//! an error for `check-config` and a warning at start; every error is one
//! line in the operator's words, naming the file and line; check-config
//! refuses what a start would refuse and lists what a start would open;
//! a missing file fails a start unless `--dev`; `--log-format json` makes
//! every line JSON, the fatal one included.

use std::time::{Duration, Instant};

use tests::relay::free_port;
use tests::relay_cli::{config_file, run_to_exit, Exit};
use tests::{skip_on_reference, RelayOptions, RelayProcess};

const KEY: &str = "197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61";

fn check(text: &str) -> (Exit, String) {
    let (out, path, _file) = check_keep(text, &[]);
    (out, path)
}

/// `check-config` with `flags` before it; the file is kept for more runs.
fn check_keep(text: &str, flags: &[&str]) -> (Exit, String, tempfile::NamedTempFile) {
    let f = config_file(text);
    let path = f.path().to_str().expect("utf-8 path").to_owned();
    let mut args = flags.to_vec();
    args.extend(["check-config", &path]);
    (run_to_exit(&args, &[]), path, f)
}

/// A loopback config that would start here (free port, nothing else).
fn base() -> String {
    let port = free_port().expect("free port");
    format!("http_bind_addr = \"127.0.0.1:{port}\"\nenable_stun = false\nenable_metrics = false\nshards = 1\n")
}

#[test]
fn unknown_keys_fail_check_config_with_line_and_hint() {
    if skip_on_reference("uring-relay check-config") {
        return;
    }
    let (out, path) = check(&format!(
        "{}http_bind_adr = \"[::]:80\"\nenabel_stun = false\n[access.http]\nurl = \"http://127.0.0.1:1/\"\nshards = 1\n",
        base()
    ));
    assert!(!out.ok, "check-config passed a file with typos");
    for want in [
        format!("{path}, line 5: unknown key http_bind_adr (did you mean http_bind_addr?)"),
        format!("{path}, line 6: unknown key enabel_stun (did you mean enable_stun?)"),
        format!("{path}, line 9: unknown key access.http.shards (shards is a top-level key"),
    ] {
        assert!(
            out.stderr.contains(&want),
            "{want:?} not in:\n{}",
            out.stderr
        );
    }
}

#[test]
fn errors_are_one_line_in_the_operators_words() {
    if skip_on_reference("uring-relay check-config") {
        return;
    }
    for (text, want) in [
        (
            format!("[access]\nallowlist = [\"{KEY}\"]\ndenylist = [\"{KEY}\"]\n"),
            "line 1: access has both allowlist and denylist",
        ),
        (
            "access = \"allowlist\"\n".to_owned(),
            "line 1: access = \"allowlist\" needs its list",
        ),
        (
            format!("\naccess.allowlist = [\"{}0\"]\n", &KEY[..63]),
            "line 2: access.allowlist: \"197f",
        ),
        (
            "[access.http]\nurl = \"not a url\"\n".to_owned(),
            "line 2: access.http.url \"not a url\" is not a URL",
        ),
        (
            "enable_relay = false\n".to_owned(),
            "line 1: enable_relay = false (a STUN-only server) is not supported",
        ),
        (
            "shards = 100000\n".to_owned(),
            "line 1: shards = 100000 is more than 1024",
        ),
    ] {
        let (out, path, _file) = check_keep(&text, &[]);
        assert!(!out.ok, "check-config passed {text:?}");
        let last = out.last();
        assert_eq!(out.stderr.lines().count(), 1, "{text:?}:\n{}", out.stderr);
        assert!(
            last.starts_with(&format!("uring-relay: invalid config {path}, "))
                && last.contains(want),
            "{text:?}: {last}"
        );
        for jargon in ["Edwards", "variant", "wanted exactly", "element"] {
            assert!(!last.contains(jargon), "{text:?}: {last}");
        }
        // A start says the same and ends.
        let start = run_to_exit(&["-c", &path], &[]);
        assert!(!start.ok, "a start accepted {text:?}");
        assert!(start.last().contains(want), "{text:?}: {}", start.last());
    }
}

#[test]
fn check_config_refuses_what_a_start_would_and_lists_the_listeners() {
    if skip_on_reference("uring-relay check-config") {
        return;
    }
    let port = free_port().expect("free port");
    let (out, _) = check(&format!(
        "http_bind_addr = \"[::]:{port}\"\nmetrics_bind_addr = \"127.0.0.1:{port}\"\nshards = 1\n"
    ));
    assert!(!out.ok);
    assert!(out.last().contains("are the same port"), "{}", out.stderr);

    let (out, path) = check(&format!(
        "http_bind_addr = \"[::]:{port}\"\nstun_bind_addr = \"127.0.0.1:3478\"\nmetrics_bind_addr = \"127.0.0.1:9092\"\nshards = 64\n"
    ));
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stderr.contains("warning: shards = 64 on"),
        "{}",
        out.stderr
    );
    assert_eq!(
        out.stdout.lines().take(4).collect::<Vec<_>>(),
        [
            format!("{path}: ok"),
            format!("  relay (iroh 0.35 and 1.x) on http://[::]:{port}"),
            "  STUN on udp 127.0.0.1:3478".to_owned(),
            "  metrics on http://127.0.0.1:9092/metrics".to_owned(),
        ]
    );
}

#[test]
fn references_files_are_understood() {
    if skip_on_reference("uring-relay check-config") {
        return;
    }
    // iroh-relay 1.4.1's README, access section.
    for access in [
        "access = \"everyone\"".to_owned(),
        format!("access.allowlist = [\"{KEY}\", \"{KEY}\"]"),
        format!("access.denylist = [\"{KEY}\"]"),
        "access.shared_token = [\"token-a\", \"token-b\"]".to_owned(),
        "access.http.url = \"https://your-auth-service.example.com/relay-auth\"\naccess.http.bearer_token = \"service-to-service-secret\"".to_owned(),
    ] {
        let (out, _) = check(&format!("{}{access}\n", base()));
        assert!(out.ok, "{access:?}: {}", out.stderr);
    }
    // iroh-relay 0.35's README, QUIC address discovery with --dev: every
    // key is known; what is refused is QUIC address discovery itself.
    let (out, _, _) = check_keep(
        "enable_quic_addr_discovery = true\n\n[tls]\ncert_mode = \"Manual\"\n\
         manual_cert_path = \"/path/to/certs/cert.pem\"\nmanual_key_path = \"/path/to/certs/cert.key.pem\"\n",
        &["--dev"],
    );
    assert!(!out.ok);
    assert!(!out.stderr.contains("unknown key"), "{}", out.stderr);
    assert!(
        out.last().contains("enable_quic_addr_discovery"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_missing_file_fails_a_start_unless_dev() {
    if skip_on_reference("refusing a missing config file") {
        return;
    }
    let out = run_to_exit(&["-c", "/nonexistent/iroh-relay.toml"], &[]);
    assert!(!out.ok, "started without its config file");
    assert_eq!(
        out.last(),
        "uring-relay: config file /nonexistent/iroh-relay.toml does not exist (--dev runs on built-in defaults without one)"
    );
    // --dev with a missing file starts (on 3340, so it cannot be run here
    // without taking that port): its check-config passes and says why.
    let out = run_to_exit(
        &["--dev", "check-config", "/nonexistent/iroh-relay.toml"],
        &[],
    );
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stderr.contains("--dev runs on built-in defaults"),
        "{}",
        out.stderr
    );
}

#[test]
fn dev_says_it_ignores_tls() {
    if skip_on_reference("uring-relay check-config") {
        return;
    }
    let f = config_file(&format!("{}[tls]\ncert_mode = \"Manual\"\n", base()));
    let path = f.path().to_str().expect("utf-8");
    let out = run_to_exit(&["--dev", "check-config", path], &[]);
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stderr.contains("warning: --dev ignores [tls]"),
        "{}",
        out.stderr
    );
}

#[test]
fn json_logs_are_json_to_the_last_line() {
    if skip_on_reference("uring-relay's log format") {
        return;
    }
    let f = config_file("shards = 0\n");
    let path = f.path().to_str().expect("utf-8");
    let out = run_to_exit(&["--log-format", "json", "-c", path], &[]);
    assert!(!out.ok);
    assert!(!out.stderr.trim().is_empty());
    for line in out.stderr.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v.get("level").is_some(), "{line}");
    }
    let last: serde_json::Value = serde_json::from_str(out.last()).expect("json");
    assert_eq!(last["level"], "ERROR");
    let msg = last["fields"]["message"].as_str().expect("message");
    assert!(
        msg.contains("shards must be at least 1") && msg.contains(path),
        "{msg}"
    );
}

/// The start line names the config, the families, the access mode and
/// every listener; unknown keys are warned about and the relay serves;
/// shared_token warns that 0.35 clients cannot get in.
#[tokio::test]
async fn start_line_and_warnings() {
    if skip_on_reference("uring-relay's log lines") {
        return;
    }
    let relay = RelayProcess::start_with(RelayOptions {
        shards: 1,
        extra_toml: "enabel_stun = true\naccess.shared_token = [\"tok\"]\n".into(),
        ..Default::default()
    })
    .expect("relay starts with an unknown key");
    let config = relay.config_path().display().to_string();
    let log = relay.log_text();
    let start = log
        .lines()
        .find(|l| l.contains("serving iroh 0.35 and 1.x"))
        .unwrap_or_else(|| panic!("no start line:\n{log}"));
    for want in [
        format!("config={config}"),
        "access=shared_token (1 token)".to_owned(),
        format!("relay (iroh 0.35 and 1.x) on http://{}", relay.addr()),
    ] {
        assert!(start.contains(&want), "{want:?} not in {start}");
    }
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("unknown key enabel_stun")),
        "{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("WARN")
            && l.contains("iroh 0.35 clients")
            && l.contains("cannot send")),
        "{log}"
    );
}

/// Debug lines carry names, not Rust values: `dialect=0.35 derp`,
/// `reason=disconnected`, in text and in JSON.
#[tokio::test]
async fn log_fields_are_words() {
    if skip_on_reference("uring-relay's log lines") {
        return;
    }
    for json in [false, true] {
        let args = if json {
            vec!["--log-format".to_owned(), "json".to_owned()]
        } else {
            Vec::new()
        };
        let relay = RelayProcess::start_with(RelayOptions {
            shards: 1,
            env: vec![("RUST_LOG".to_owned(), "debug".to_owned())],
            args,
            ..Default::default()
        })
        .expect("relay starts");
        let url = relay.url();
        let c = tests::client::TestClient::connect(&url, iroh_relay::http::Protocol::Relay)
            .await
            .expect("client connects");
        c.close().await;
        let deadline = Instant::now() + Duration::from_secs(10);
        let log = loop {
            let log = relay.log_text();
            if log.contains("unregistered") || Instant::now() > deadline {
                break log;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let (dialect, reason) = if json {
            ("\"dialect\":\"0.35 derp\"", "\"reason\":\"disconnected\"")
        } else {
            ("dialect=0.35 derp", "reason=disconnected")
        };
        assert!(log.contains(dialect), "{dialect} not in:\n{log}");
        assert!(log.contains(reason), "{reason} not in:\n{log}");
        for rust in ["Some(", "V035(", "Derp)"] {
            assert!(!log.contains(rust), "{rust:?} in the log:\n{log}");
        }
    }
}
