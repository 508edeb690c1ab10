//! `uring-relay probe https://…`: a relay behind TLS termination, as
//! chatmail runs it behind nginx (here a rustls proxy with a test CA, so
//! the test needs nothing installed; imap-meta's probe_chatmail test uses
//! nginx itself). The certificate is checked against --ca-file, or not at
//! all with --insecure, and SNI carries the URL's host.

use tests::probe_run::{assert_passes, check, probe, CHECK_NAMES};
use tests::tls_proxy::TlsProxy;
use tests::{flavor, Flavor, RelayProcess};

/// The relay, TLS in front of it, and the test CA in a PEM file.
fn setup() -> (RelayProcess, TlsProxy, tempfile::TempDir, String) {
    let relay = RelayProcess::start(1).expect("relay");
    let proxy = TlsProxy::start(relay.addr());
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &proxy.ca.ca_pem).expect("write CA");
    let ca = ca.to_str().expect("utf-8 path").to_owned();
    (relay, proxy, dir, ca)
}

#[test]
fn https_with_a_private_ca() {
    let (_relay, proxy, _dir, ca) = setup();
    let port = proxy.addr.port();
    let url = format!("https://localhost:{port}");
    // The reference 0.35 relay (RELAY_FLAVOR=reference) has no 1.x.
    let protocols: &[&str] = match flavor() {
        Flavor::Reference => &["derp"],
        Flavor::Uring => &["derp", "v2"],
    };
    for protocol in protocols {
        let o = probe(&[&url, "--json", "--ca-file", &ca, "--protocol", protocol]);
        assert_passes(&o, 5);
        let r = o.json();
        assert_eq!(r["url"], url.as_str());
        let detail = check(&r, "generate_204")["detail"]
            .as_str()
            .unwrap_or_default();
        assert!(
            detail.ends_with(&format!("TLS, certificate verified against {ca}")),
            "{detail}"
        );
    }
    // SNI is the URL's host on every connection (two HTTP checks, two
    // clients, per run).
    let sni = proxy.sni();
    assert_eq!(sni.len(), 4 * protocols.len(), "{sni:?}");
    assert!(
        sni.iter().all(|n| n.as_deref() == Some("localhost")),
        "{sni:?}"
    );

    // An address as the host: no SNI (none exists for addresses), and the
    // certificate's IP address entry is what is checked.
    let o = probe(&[
        &format!("https://127.0.0.1:{port}"),
        "--json",
        "--ca-file",
        &ca,
    ]);
    assert_passes(&o, 5);
    assert_eq!(proxy.sni().last(), Some(&None));
}

#[test]
fn untrusted_certificate_and_insecure() {
    let (_relay, proxy, _dir, _ca) = setup();
    let port = proxy.addr.port();
    let url = format!("https://localhost:{port}");
    // The test CA is not among the system's: every connection fails the
    // same way, and the reason says what to do.
    let o = probe(&[&url, "--json", "--timeout", "3"]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    let r = o.json();
    let err = r["error"].as_str().unwrap_or_default();
    assert!(
        err.starts_with(&format!("TLS handshake with 127.0.0.1:{port} failed: "))
            && err.contains("the certificate is not signed by a trusted CA")
            && err.contains("--ca-file FILE trusts a private CA, --insecure skips the check"),
        "{err}"
    );
    assert_eq!(check(&r, "generate_204")["error"], err);
    for name in &CHECK_NAMES[1..] {
        assert_eq!(
            check(&r, name)["skipped"],
            "no connection to the relay (see generate_204)"
        );
    }

    // --insecure gets through, and says so in the report and on stderr.
    let o = probe(&[&url, "--insecure"]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stdout
            .contains("\n  WARNING: --insecure: the relay's TLS certificate was NOT verified"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("certificate NOT verified (--insecure)"));
    assert!(o.stderr.contains("WARNING: --insecure"), "{}", o.stderr);
    let o = probe(&[&url, "--insecure", "--json"]);
    assert_passes(&o, 5);
    assert!(o.json()["warnings"][0]
        .as_str()
        .is_some_and(|w| w.contains("NOT verified")));
}

#[test]
fn https_to_a_plain_http_port() {
    let relay = RelayProcess::start(1).expect("relay");
    let url = format!("https://127.0.0.1:{}", relay.port());
    let o = probe(&[&url, "--json", "--insecure", "--timeout", "3"]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    let r = o.json();
    let err = check(&r, "generate_204")["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        err.starts_with(&format!("TLS handshake with {} failed: ", relay.addr()))
            && err.contains("then use an http:// URL"),
        "{err}"
    );
    assert!(check(&r, "connect_a")["skipped"].is_string(), "{r:#}");
}
