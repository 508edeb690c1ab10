//! `imap-meta probe`: discovery through `imap-meta serve` (plain) and
//! `imap-meta proxy` (IMAPS and STARTTLS), then the relay probe against a
//! running uring-relay; and the reasons it gives when the advertised relay
//! is down, the login is wrong or the certificate is not trusted.

mod common;
mod relay;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use relay::{free_port, start_relay};
use serde_json::Value;

struct Files {
    _dir: tempfile::TempDir,
    cert: String,
    key: String,
    users: String,
    password: String,
}

fn files() -> Files {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_owned();
    let (cert, key, users, password) = (
        path("cert.pem"),
        path("key.pem"),
        path("users"),
        path("password"),
    );
    std::fs::write(&cert, ck.cert.pem()).expect("write cert");
    std::fs::write(&key, ck.key_pair.serialize_pem()).expect("write key");
    std::fs::write(&users, "alice:s3cret\n").expect("write users");
    std::fs::write(&password, "s3cret\n").expect("write password");
    Files {
        _dir: dir,
        cert,
        key,
        users,
        password,
    }
}

struct Probed {
    code: i32,
    json: Value,
    stderr: String,
}

/// `imap-meta probe` over plain IMAP to 127.0.0.1:`port` as alice.
async fn probe_plain(port: &str, password: &str, extra: &[&str]) -> Probed {
    let mut args = vec![
        "--host",
        "127.0.0.1",
        "--port",
        port,
        "--tls",
        "plain",
        "--user",
        "alice",
        "--password",
        password,
    ];
    args.extend_from_slice(extra);
    probe(&args).await
}

async fn probe(args: &[&str]) -> Probed {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_imap-meta"));
    cmd.arg("probe")
        .args(args)
        .args(["--json", "--timeout", "3"])
        .env("RUST_LOG", "warn")
        .env("PROBE_TEST_PASSWORD", "s3cret")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("imap-meta probe finished within 60 s")
        .expect("run imap-meta probe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("no JSON ({e}): {stdout}\n{stderr}"));
    Probed {
        code: out.status.code().unwrap_or(-1),
        json,
        stderr,
    }
}

async fn serve(relay_url: &str, users: &str) -> Running {
    start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--relay-url",
        relay_url,
        "--users",
        users,
    ])
    .await
}

fn assert_all_pass(p: &Probed, relay_url: &str) {
    let j = &p.json;
    assert_eq!(p.code, 0, "{j:#}\n{}", p.stderr);
    assert_eq!(j["ok"], true, "{j:#}");
    assert!(j["error"].is_null());
    assert_eq!(j["relay_url"], relay_url);
    assert_eq!(j["imap"]["entries"][IROH], relay_url);
    assert_eq!(j["relay"]["ok"], true, "{j:#}");
    assert_eq!(j["relay"]["url"], relay_url);
    assert_eq!(j["relay"]["packets"]["a_to_b"]["returned"], 5);
}

#[tokio::test]
async fn plain_imaps_and_starttls_discover_a_working_relay() {
    let relay = start_relay();
    let f = files();
    let upstream = serve(&relay.url, &f.users).await;
    let port = upstream.addr.port().to_string();
    let p = probe_plain(&port, "s3cret", &[]).await;
    assert_all_pass(&p, &relay.url);
    assert!(p.json["imap"]["capabilities"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c == "METADATA")));

    let upstream_addr = upstream.addr.to_string();
    for mode in ["implicit", "starttls"] {
        let proxy = start_proxy(
            &upstream_addr,
            &relay.url,
            &[
                "--tls-cert",
                &f.cert,
                "--tls-key",
                &f.key,
                "--tls-mode",
                mode,
            ],
        )
        .await;
        let port = proxy.addr.port().to_string();
        let tls = if mode == "implicit" {
            "imaps"
        } else {
            "starttls"
        };
        let mut args = vec![
            "--host",
            "localhost",
            "--port",
            &port,
            "--tls",
            tls,
            "--user",
            "alice",
        ];
        // IMAPS verifies against the test's CA; STARTTLS skips the check.
        if mode == "implicit" {
            args.extend(["--password-file", &f.password, "--ca-file", &f.cert]);
        } else {
            args.extend(["--password-env", "PROBE_TEST_PASSWORD", "--insecure"]);
        }
        let p = probe(&args).await;
        assert_all_pass(&p, &relay.url);
        assert_eq!(p.json["imap"]["tls"], tls);
        let connect = &p.json["imap"]["checks"][0];
        assert!(
            connect["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with(if mode == "implicit" {
                    "IMAPS"
                } else {
                    "STARTTLS"
                })),
            "{connect}"
        );

        if mode == "implicit" {
            // Without the CA the self-signed certificate is refused, and the
            // reason says how to trust it.
            let p = probe(&[
                "--host",
                "localhost",
                "--port",
                &port,
                "--user",
                "alice",
                "--password",
                "s3cret",
            ])
            .await;
            assert_eq!(p.code, 1);
            let err = p.json["error"].as_str().unwrap_or_default();
            assert!(
                err.starts_with(&format!("TLS handshake with localhost:{port} failed"))
                    && err.contains("--ca-file"),
                "{err}"
            );
            assert!(p.json["relay"].is_null());
        }
    }
}

#[tokio::test]
async fn advertised_relay_down_is_reported() {
    let f = files();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let upstream = serve(&dead, &f.users).await;
    let port = upstream.addr.port().to_string();
    let p = probe_plain(&port, "s3cret", &[]).await;
    assert_eq!(p.code, 1, "{:#}", p.json);
    assert_eq!(p.json["imap"]["ok"], true);
    assert_eq!(p.json["relay_url"], dead.as_str());
    assert_eq!(p.json["relay"]["ok"], false);
    let addr = dead.trim_start_matches("http://");
    assert_eq!(
        p.json["error"],
        format!("relay {dead}: connection refused at {addr} (nothing listens on that port)")
            .as_str()
    );

    // --no-relay-probe checks discovery only.
    let p = probe_plain(&port, "s3cret", &["--no-relay-probe"]).await;
    assert_eq!(p.code, 0, "{:#}", p.json);
    assert!(p.json["relay"].is_null());
}

#[tokio::test]
async fn wrong_login_is_reported() {
    let f = files();
    let upstream = serve(RELAY, &f.users).await;
    let port = upstream.addr.port().to_string();
    let p = probe_plain(&port, "wrong", &[]).await;
    assert_eq!(p.code, 1, "{:#}", p.json);
    assert_eq!(
        p.json["error"],
        "login as alice refused: NO [AUTHENTICATIONFAILED] Invalid credentials"
    );
    assert_eq!(
        p.json["imap"]["checks"][2]["skipped"],
        "an earlier IMAP step failed"
    );
    assert!(p.json["relay"].is_null());
    assert!(p.json["relay_url"].is_null());
}

#[test]
fn usage_errors_exit_2() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_imap-meta"))
            .arg("probe")
            .args(args)
            .env_remove("PROBE_TEST_UNSET")
            .output()
            .expect("run imap-meta probe")
    };
    // No password source at all.
    let out = run(&["--host", "h", "--user", "u"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&[
        "--host",
        "h",
        "--user",
        "u",
        "--password-env",
        "PROBE_TEST_UNSET",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PROBE_TEST_UNSET is not set"));
    let out = run(&[
        "--host",
        "h",
        "--user",
        "u",
        "--password-file",
        "/nonexistent/pw",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the password file"));
}
