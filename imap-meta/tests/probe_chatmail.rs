//! `imap-meta probe` and `uring-relay probe` on a chatmail-shaped setup:
//! uring-relay on a plain loopback port, nginx in front of it terminating
//! TLS and proxying `/relay`, `/ping` and `/generate_204` as chatmail's
//! nginx.conf does, and discovery advertising `https://localhost:<nginx
//! port>` as chatmail's Dovecot advertises `https://<mail domain>`. Skips
//! without nginx unless `REQUIRE_NGINX=1`.

mod common;
mod nginx;
mod relay;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use relay::{free_port, start_relay, uring_relay};
use serde_json::Value;

/// `imap-meta probe --json` over plain IMAP to 127.0.0.1:`port` as alice.
async fn imap_probe(port: u16, extra: &[&str]) -> (i32, Value) {
    let port = port.to_string();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_imap-meta"));
    cmd.args([
        "probe",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--tls",
        "plain",
    ])
    .args(["--user", "alice", "--password", "s3cret", "--json"])
    .args(extra)
    .env("RUST_LOG", "warn")
    .stdin(Stdio::null())
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("imap-meta probe finished within 60 s")
        .expect("run imap-meta probe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

/// `uring-relay probe URL --json ARGS`.
fn relay_probe(url: &str, args: &[&str]) -> (i32, Value) {
    let out = Command::new(uring_relay())
        .args(["probe", url, "--json"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run uring-relay probe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

#[tokio::test]
async fn discovery_and_relay_through_nginx_like_chatmail() {
    let Some(bin) = nginx::binary("discovery_and_relay_through_nginx_like_chatmail") else {
        return;
    };
    let relay = start_relay();
    let dir = tempfile::tempdir().expect("temp dir");
    let certs = nginx::certs(dir.path());
    let nginx = nginx::start(&bin, free_port(), &certs, relay.addr);
    let url = format!("https://localhost:{}", nginx.port);
    let users = dir.path().join("users");
    std::fs::write(&users, "alice:s3cret\n").expect("users file");
    let users = users.to_str().expect("utf-8 path");
    let server = start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--relay-url",
        &url,
        "--users",
        users,
    ])
    .await;
    let ca = certs.ca.to_str().expect("utf-8 path");

    // Discovery finds the https URL and the relay passes behind nginx, for
    // Delta Chat's 0.35 clients (the default) and for 1.x clients.
    for protocol in ["derp", "v2"] {
        let (code, j) = imap_probe(
            server.addr.port(),
            &["--ca-file", ca, "--relay-protocol", protocol],
        )
        .await;
        assert_eq!(code, 0, "{j:#}\nnginx log:\n{}", nginx.log());
        assert_eq!(j["ok"], true);
        assert_eq!(j["relay_url"], url.as_str());
        assert_eq!(j["imap"]["entries"][IROH], url.as_str());
        assert_eq!(j["relay"]["ok"], true, "{j:#}");
        assert_eq!(j["relay"]["protocol"], protocol);
        assert_eq!(j["relay"]["packets"]["b_to_a"]["returned"], 5);
        let detail = j["relay"]["checks"][0]["detail"]
            .as_str()
            .unwrap_or_default();
        assert!(detail.contains("certificate verified"), "{detail}");
    }

    // Without the test CA the relay's certificate is not trusted, and the
    // reason says how to trust it.
    let (code, j) = imap_probe(server.addr.port(), &[]).await;
    assert_eq!(code, 1, "{j:#}");
    assert_eq!(j["imap"]["ok"], true);
    let err = j["error"].as_str().unwrap_or_default();
    assert!(
        err.starts_with(&format!(
            "relay {url}: TLS handshake with 127.0.0.1:{}",
            nginx.port
        )) && err.contains("not signed by a trusted CA")
            && err.contains("--ca-file"),
        "{err}"
    );

    // The relay probe itself on the same URL, every protocol.
    for protocol in ["derp", "ws", "v2", "v1"] {
        let (code, r) = relay_probe(&url, &["--ca-file", ca, "--protocol", protocol]);
        assert_eq!(code, 0, "{protocol}: {r:#}\nnginx log:\n{}", nginx.log());
        assert_eq!(r["packets"]["a_to_b"]["returned"], 5, "{r:#}");
    }
    // --insecure passes too, and says so.
    let (code, r) = relay_probe(&url, &["--insecure"]);
    assert_eq!(code, 0, "{r:#}");
    assert!(
        r["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("NOT verified")),
        "{r:#}"
    );
}
