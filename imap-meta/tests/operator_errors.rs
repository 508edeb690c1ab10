//! What an operator sees when `imap-meta serve`/`proxy` cannot start or
//! cannot reach its upstream: one line naming the address, no backtrace,
//! no colour codes in a log that is not a terminal.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::process::{Output, Stdio};

use common::*;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// Runs `imap-meta <args>` to its exit with stderr piped and
/// `RUST_BACKTRACE=1`, so a backtrace would show if one were printed.
async fn run(args: &[&str]) -> (Output, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_imap-meta"))
        .args(args)
        .env("RUST_LOG", "info")
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        // Colours must be off because stderr is a pipe, not because of this.
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start imap-meta binary");
    let output = bounded("imap-meta exit", child.wait_with_output())
        .await
        .expect("wait for imap-meta");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stderr)
}

/// A loopback address some other socket is listening on.
fn busy_port() -> (TcpListener, SocketAddr) {
    let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = holder.local_addr().expect("local address");
    (holder, addr)
}

#[tokio::test]
async fn listen_address_in_use_is_named() {
    let (_holder, addr) = busy_port();
    let listen = addr.to_string();
    for mode in [
        &["serve", "--listen", &listen, "--relay-url", RELAY][..],
        &[
            "proxy",
            "--listen",
            &listen,
            "--upstream",
            "127.0.0.1:143",
            "--relay-url",
            RELAY,
        ][..],
    ] {
        let (output, stderr) = run(mode).await;
        assert_eq!(output.status.code(), Some(1), "{mode:?}: {stderr}");
        assert_eq!(
            stderr.lines().last(),
            Some(format!("imap-meta: cannot listen on {addr}: address already in use").as_str()),
            "{mode:?}"
        );
    }
}

#[tokio::test]
async fn usage_errors_are_one_line_without_backtrace() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad_config = dir.path().join("bad.toml");
    std::fs::write(
        &bad_config,
        "[entries]\nirohrelay = \"https://x.org\"\nbogus = 1\n",
    )
    .expect("write config");
    let bad_config = bad_config.to_str().expect("utf-8 temp path");
    let missing = "/nonexistent/imap-meta-test/file";
    let cases: [(&[&str], &str); 5] = [
        (
            &["--config", missing, "serve", "--relay-url", RELAY],
            "imap-meta: reading config file /nonexistent/imap-meta-test/file: ",
        ),
        (
            &["--config", bad_config, "serve"],
            "imap-meta: parsing config file ",
        ),
        (&["serve"], "imap-meta: "),
        (
            &["serve", "--relay-url", RELAY, "--users", missing],
            "imap-meta: reading users file /nonexistent/imap-meta-test/file: ",
        ),
        (
            &[
                "proxy",
                "--upstream",
                "127.0.0.1:143",
                "--relay-url",
                RELAY,
                "--tls-cert",
                missing,
                "--tls-key",
                missing,
            ],
            "imap-meta: reading certificates from /nonexistent/imap-meta-test/file",
        ),
    ];
    for (args, start) in cases {
        let (output, stderr) = run(args).await;
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with(start), "{args:?}: {stderr}");
        assert!(!stderr.contains("acktrace"), "{args:?}: {stderr}");
    }
    let (_, stderr) = run(&["--config", bad_config, "serve"]).await;
    assert!(stderr.contains("line 3: unknown field `bogus`"), "{stderr}");

    // Flags clap rejects: its own message and status 2, no backtrace either.
    let (output, stderr) = run(&["serve", "--no-such-flag"]).await;
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("acktrace"), "{stderr}");
}

#[tokio::test]
async fn log_to_a_pipe_has_no_colour_codes() {
    let (_holder, addr) = busy_port();
    let listen = addr.to_string();
    let (_, stderr) = run(&["serve", "--listen", &listen, "--relay-url", RELAY]).await;
    // The warning `serve` logs before it binds.
    assert!(stderr.contains("development mode"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
}

#[tokio::test]
async fn unreachable_upstream_is_named() {
    // A port nobody listens on (free a moment ago).
    let (holder, upstream) = busy_port();
    drop(holder);
    let upstream = upstream.to_string();
    let mut proxy = start_with_stderr(
        &[
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &upstream,
            "--relay-url",
            RELAY,
        ],
        Stdio::piped(),
    )
    .await;
    let mut raw = Raw::connect(proxy.addr).await;
    assert_eq!(
        raw.line().await,
        "* BYE Upstream server unavailable, try again later\r\n"
    );
    // The warning is written before the BYE, so it is in the log by now.
    proxy.child.start_kill().expect("kill proxy");
    let mut log = String::new();
    let mut stderr = proxy.child.stderr.take().expect("piped stderr");
    bounded("read proxy log", stderr.read_to_string(&mut log))
        .await
        .expect("read proxy log");
    assert!(
        log.contains(&format!(
            "cannot connect to upstream {upstream}: connection refused"
        )),
        "{log}"
    );
}
