//! The binary's failure modes an operator sees: a bad config or a port in
//! use ends the process with a non-zero status and a one-line reason.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tests::relay::relay_binary;
use tests::relay_cli::{config_file, run_to_exit as run};

/// (success, last stderr line) of a run with `args`.
fn run_to_exit(args: &[&str]) -> (bool, String) {
    let e = run(args, &[]);
    (e.ok, e.last().to_owned())
}

#[test]
fn port_in_use_exits_with_reason() {
    if tests::skip_on_reference("uring-relay's exit messages") {
        return;
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let cfg = config_file(&format!(
        "http_bind_addr = \"{addr}\"\nenable_stun = false\nenable_metrics = false\n"
    ));
    let path = cfg.path().to_str().expect("utf-8 path");
    let (ok, last) = run_to_exit(&["-c", path]);
    assert!(!ok, "relay started on a port already in use");
    assert!(
        last.starts_with("uring-relay: cannot serve on") && last.contains(&addr.to_string()),
        "{last}"
    );
}

#[test]
fn bad_config_exits_with_reason() {
    if tests::skip_on_reference("uring-relay's exit messages") {
        return;
    }
    for (text, want) in [
        ("http_bind_addr = 5\n", "invalid config"),
        ("shards = 0\n", "shards must be at least 1"),
        (
            "access.allowlist = [\"not-a-key\"]\n",
            "\"not-a-key\" is not an endpoint id",
        ),
        (
            "[limits.client.rx]\nmax_burst_bytes = 10\n",
            "requires bytes_per_second",
        ),
    ] {
        let cfg = config_file(text);
        let path = cfg.path().to_str().expect("utf-8 path");
        let (ok, last) = run_to_exit(&["-c", path]);
        assert!(!ok, "relay accepted {text:?}");
        assert!(
            last.starts_with("uring-relay: ") && last.contains(want),
            "{text:?}: {last}"
        );
    }
    let (ok, last) = run_to_exit(&["-c", "/"]);
    assert!(!ok);
    assert!(last.contains("is not a file"), "{last}");
}

#[test]
fn check_config_accepts_the_example_and_rejects_broken_files() {
    if tests::skip_on_reference("uring-relay check-config") {
        return;
    }
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let mut examples = 0;
    // The examples, and the Debian package's default config.
    for dir in [deploy.clone(), deploy.join("debian")] {
        for entry in std::fs::read_dir(&dir).expect("deploy/") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                let (ok, last) = run_to_exit(&["check-config", path.to_str().expect("utf-8")]);
                assert!(ok, "check-config rejected {}: {last}", path.display());
                examples += 1;
            }
        }
    }
    assert!(
        examples >= 4,
        "only {examples} configs in {}",
        deploy.display()
    );
    for (text, want) in [
        ("http_bind_addr = 5\n", "invalid config"),
        ("shards = 0\n", "shards must be at least 1"),
        (
            "access.allowlist = [\"not-a-key\"]\n",
            "\"not-a-key\" is not an endpoint id",
        ),
        ("enable_relay = true\n[limits\n", "invalid config"),
    ] {
        let cfg = config_file(text);
        let path = cfg.path().to_str().expect("utf-8 path");
        let (ok, last) = run_to_exit(&["check-config", path]);
        assert!(!ok, "check-config accepted {text:?}");
        assert!(
            last.starts_with("uring-relay: ") && last.contains(want) && last.contains(path),
            "{text:?}: {last}"
        );
    }
    // As a start (without --dev): a missing file is an error.
    let (ok, last) = run_to_exit(&["check-config", "/nonexistent/iroh-relay.toml"]);
    assert!(!ok, "check-config accepted a missing file");
    assert!(last.contains("does not exist"), "{last}");
}

/// chatmail's deploy accepts port 3340 only when `ss` names its holder
/// `iroh-relay`: the binary installed under that name must run as that
/// process name, with the same command line.
#[test]
fn runs_under_the_name_iroh_relay() {
    if tests::skip_on_reference("uring-relay under another name") {
        return;
    }
    let bin = relay_binary().expect("relay binary");
    let dir = tempfile::tempdir().expect("temp dir");
    let alias = dir.path().join("iroh-relay");
    std::os::unix::fs::symlink(&bin, &alias).expect("symlink");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let cfg = config_file(&format!(
        "http_bind_addr = \"127.0.0.1:{port}\"\nenable_stun = false\nenable_metrics = false\n"
    ));
    let mut child = Command::new(&alias)
        .arg("--config-path")
        .arg(cfg.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn iroh-relay alias");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "alias not serving on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", child.id())).expect("comm");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(comm.trim(), "iroh-relay");
}
