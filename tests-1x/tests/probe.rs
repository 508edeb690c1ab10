//! `uring-relay probe --protocol v2|v1` against the real iroh-relay 1.4.1
//! server, run in this process: over plain HTTP, and over HTTPS with a
//! certificate from a test CA (so the TLS client meets a server's own TLS,
//! not only a proxy's); and what the default 0.35 probe says about a
//! 1.x-only relay.

use std::net::Ipv4Addr;

use iroh_relay::server::{CertConfig, RelayConfig, Server, ServerConfig, TlsConfig};
use tests::probe_run::{assert_passes, check, probe, CHECK_NAMES};
use tests::tls_proxy::TestCa;

/// A runtime whose workers serve the relay while the test runs the probe.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The 1.4.1 server on loopback ports, with TLS from `ca` when given.
fn spawn(rt: &tokio::runtime::Runtime, ca: Option<&TestCa>) -> Server {
    let mut relay = RelayConfig::new((Ipv4Addr::LOCALHOST, 0));
    relay.tls = ca.map(|ca| {
        TlsConfig::new(
            (Ipv4Addr::LOCALHOST, 0),
            CertConfig::Manual {
                server_config: ca.server_config(),
            },
        )
    });
    let mut config = ServerConfig::default();
    config.relay = Some(relay);
    rt.block_on(Server::spawn(config))
        .expect("iroh-relay 1.4.1 server")
}

#[test]
fn v2_and_v1_pass_against_iroh_relay_1_4_1() {
    let rt = runtime();
    let server = spawn(&rt, None);
    let url = format!("http://{}", server.http_addr().expect("http address"));
    for protocol in ["v2", "v1"] {
        let o = probe(&[&url, "--json", "--protocol", protocol]);
        assert_passes(&o, 5);
        let detail = check(&o.json(), "connect_a")["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            detail.starts_with(&format!("upgrade (iroh-relay-{protocol}), challenge")),
            "{detail}"
        );
    }
    // It serves no 0.35 client, and the default probe says which.
    let o = probe(&[&url, "--json", "--timeout", "3"]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    let r = o.json();
    let err = check(&r, "connect_a")["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("does not serve iroh 0.35 clients: /relay answered 400")
            && err.ends_with("to `Upgrade: iroh derp http`"),
        "{err}"
    );
    rt.block_on(server.shutdown()).expect("shutdown");
}

#[test]
fn https_against_iroh_relay_1_4_1() {
    let ca = TestCa::new(&["localhost", "127.0.0.1"]);
    let rt = runtime();
    let server = spawn(&rt, Some(&ca));
    let port = server.https_addr().expect("https address").port();
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).expect("write CA");
    let ca_file = ca_file.to_str().expect("utf-8 path");
    let url = format!("https://localhost:{port}");
    for protocol in ["v2", "v1"] {
        let o = probe(&[&url, "--json", "--protocol", protocol, "--ca-file", ca_file]);
        assert_eq!(o.code, 1, "{}", o.stdout);
        let r = o.json();
        // With its own TLS, 1.4.1 answers /generate_204 only on its plain
        // port; everything a client needs on the https port works.
        let err = check(&r, "generate_204")["error"]
            .as_str()
            .unwrap_or_default();
        assert!(
            err.starts_with(&format!(
                "/generate_204 at localhost:{port} answered 404 Not Found over https: \
                 an iroh-relay serving its own TLS"
            )),
            "{err}"
        );
        for name in &CHECK_NAMES[1..] {
            assert_eq!(check(&r, name)["ok"], true, "{r:#}");
        }
        assert_eq!(r["packets"]["b_to_a"]["returned"], 5);
    }
    // Its own certificate is not the one a fresh CA signed.
    let other = TestCa::new(&["localhost"]);
    let other_file = dir.path().join("other.pem");
    std::fs::write(&other_file, &other.ca_pem).expect("write CA");
    let o = probe(&[
        &url,
        "--json",
        "--protocol",
        "v2",
        "--timeout",
        "3",
        "--ca-file",
        other_file.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    let err = o.json()["error"].as_str().unwrap_or_default().to_owned();
    // (A CA of the same name: the signature is what fails.)
    assert!(
        err.starts_with("TLS handshake with 127.0.0.1:")
            && err.contains("signature does not verify with the trusted CA")
            && err.contains("--ca-file"),
        "{err}"
    );
    rt.block_on(server.shutdown()).expect("shutdown");
}
