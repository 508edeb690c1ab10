//! `imap-meta proxy` with TLS towards clients (implicit and STARTTLS), in
//! front of `imap-meta serve` as the upstream.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use async_imap::Client;
use common::*;
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

const PROXY_RELAY: &str = "https://relay.example.org";

struct Tls {
    _dir: tempfile::TempDir,
    cert: String,
    key: String,
    connector: TlsConnector,
}

fn tls() -> Tls {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let dir = tempfile::tempdir().expect("temp dir");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).expect("write cert");
    std::fs::write(&key, ck.key_pair.serialize_pem()).expect("write key");
    let mut roots = RootCertStore::empty();
    roots.add(ck.cert.der().clone()).expect("add root");
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Tls {
        cert: cert.to_str().expect("utf-8").to_owned(),
        key: key.to_str().expect("utf-8").to_owned(),
        _dir: dir,
        connector: TlsConnector::from(Arc::new(config)),
    }
}

async fn stack(tls: &Tls, mode: &str) -> (Running, Running) {
    let upstream = start(&["serve", "--listen", "127.0.0.1:0", "--relay-url", RELAY]).await;
    let upstream_addr = upstream.addr.to_string();
    let proxy = start_proxy(
        &upstream_addr,
        PROXY_RELAY,
        &[
            "--tls-cert",
            &tls.cert,
            "--tls-key",
            &tls.key,
            "--tls-mode",
            mode,
        ],
    )
    .await;
    (upstream, proxy)
}

fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("server name")
}

async fn check_metadata<S>(client: Client<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let (mut session, caps) = bounded("login", client.login_with_capabilities("alice", "pw"))
        .await
        .map_err(|(e, _)| e)
        .expect("login");
    let caps = caps.expect("capabilities with LOGIN");
    assert!(caps.has_str("METADATA"));
    assert!(!caps.has_str("STARTTLS"));
    assert!(!caps.has_str("LOGINDISABLED"));
    let md = bounded("getmetadata", session.get_metadata("", "", CORE_KEYS_6))
        .await
        .expect("GETMETADATA");
    let got = pairs(&md);
    assert_eq!(got.len(), 6);
    // The proxy answers with its own entries, not the upstream's.
    assert_eq!(got[2], (IROH.into(), Some(PROXY_RELAY.into())));
    bounded("logout", session.logout()).await.expect("LOGOUT");
}

async fn tcp(addr: SocketAddr) -> TcpStream {
    bounded("connect", TcpStream::connect(addr))
        .await
        .expect("connect")
}

#[tokio::test]
async fn implicit_tls() {
    let tls = tls();
    let (_upstream, proxy) = stack(&tls, "implicit").await;
    let stream = bounded(
        "handshake",
        tls.connector.connect(localhost(), tcp(proxy.addr).await),
    )
    .await
    .expect("TLS handshake");
    let client = greeted(stream).await;
    check_metadata(client).await;
}

#[tokio::test]
async fn starttls() {
    let tls = tls();
    let (_upstream, proxy) = stack(&tls, "starttls").await;
    let mut raw = Raw::new(tcp(proxy.addr).await);
    let greeting = raw.line().await;
    assert!(
        greeting.contains(" METADATA STARTTLS LOGINDISABLED]"),
        "{greeting}"
    );
    let lines = raw.command("a1", "LOGIN alice pw").await;
    assert_eq!(
        lines,
        vec!["a1 NO [PRIVACYREQUIRED] Run STARTTLS first\r\n".to_owned()]
    );
    // The LOGIN sent in the same packet as STARTTLS must not survive the
    // switch to TLS.
    raw.send(b"a2 STARTTLS\r\na3 LOGIN alice pw\r\n").await;
    assert_eq!(raw.line().await, "a2 OK Begin TLS negotiation now\r\n");
    assert!(raw.stream.buffer().is_empty());
    let plain = raw.stream.into_inner();
    let stream = bounded("handshake", tls.connector.connect(localhost(), plain))
        .await
        .expect("TLS handshake after STARTTLS");
    let mut raw = Raw::new(stream);
    let lines = raw.command("a4", "NOOP").await;
    assert_eq!(lines, vec!["a4 OK NOOP completed\r\n".to_owned()]);
    let lines = raw.command("a5", "STARTTLS").await;
    assert_eq!(
        lines,
        vec!["a5 BAD STARTTLS is not available\r\n".to_owned()]
    );
    let stream = raw.stream.into_inner();
    check_metadata(Client::new(stream)).await;
}

#[tokio::test]
async fn tls_to_the_upstream() {
    let tls = tls();
    // serve <- proxy with implicit TLS <- proxy with --upstream-tls <- client
    let (_serve, tls_proxy) = stack(&tls, "implicit").await;
    let upstream = tls_proxy.addr.to_string();
    let outer = |extra: &'static [&'static str]| {
        let mut args = vec!["--upstream-tls"];
        args.extend_from_slice(extra);
        let upstream = upstream.clone();
        async move { start_proxy(&upstream, PROXY_RELAY, &args).await }
    };
    let verified = start_proxy(
        &upstream,
        PROXY_RELAY,
        &[
            "--upstream-tls",
            "--upstream-server-name",
            "localhost",
            "--upstream-ca",
            &tls.cert,
        ],
    )
    .await;
    let client = greeted(tcp(verified.addr).await).await;
    check_metadata(client).await;

    // Without the CA the self-signed certificate is rejected.
    let unverified = outer(&["--upstream-server-name", "localhost"]).await;
    let mut raw = Raw::new(tcp(unverified.addr).await);
    assert_eq!(
        raw.line().await,
        "* BYE Upstream server unavailable, try again later\r\n"
    );

    // --upstream-tls-insecure skips verification.
    let insecure = outer(&["--upstream-tls-insecure"]).await;
    let client = greeted(tcp(insecure.addr).await).await;
    check_metadata(client).await;
}
