//! `imap-meta serve` read by Python's imaplib the way chatmail's discovery
//! test (test-15) reads it: CAPABILITY after LOGIN must mention METADATA,
//! the single-entry GETMETADATA must answer OK with the URL as a quoted
//! string on the METADATA line (imaplib turns literals into tuples).

mod common;

use common::*;

async fn discover(addr: std::net::SocketAddr, key: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/imaplib/discover.py");
    let out = bounded(
        "python imaplib",
        tokio::process::Command::new("python3")
            .arg(script)
            .arg(addr.ip().to_string())
            .arg(addr.port().to_string())
            .arg(key)
            .output(),
    )
    .await
    .expect("python3 must be installed (scripts/test installs it)");
    assert!(
        out.status.success(),
        "imaplib discovery failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test]
async fn imaplib_finds_the_relay_url() {
    let server = start(&["serve", "--listen", "127.0.0.1:0", "--relay-url", RELAY]).await;
    assert_eq!(discover(server.addr, IROH).await, RELAY);
}

#[tokio::test]
async fn imaplib_reads_nil_for_an_unknown_key() {
    let server = start(&["serve", "--listen", "127.0.0.1:0", "--relay-url", RELAY]).await;
    assert_eq!(
        discover(server.addr, "/shared/vendor/deltachat/turn").await,
        "NIL"
    );
}
