//! `imap-meta proxy` in front of a scripted upstream: checks exactly which
//! bytes are passed through, rewritten or answered by the proxy.

mod common;

use std::net::SocketAddr;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The upstream side of one proxied connection, driven by the test.
struct Upstream {
    stream: TcpStream,
}

impl Upstream {
    async fn send(&mut self, bytes: &[u8]) {
        bounded("upstream send", self.stream.write_all(bytes))
            .await
            .expect("upstream write");
    }

    /// Asserts that the proxy forwarded exactly `want` next.
    async fn expect(&mut self, want: &[u8]) {
        let mut got = vec![0; want.len()];
        bounded("upstream read", self.stream.read_exact(&mut got))
            .await
            .expect("upstream read");
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want),
            "bytes forwarded upstream"
        );
    }
}

async fn setup(extra: &[&str]) -> (Running, TcpListener) {
    let fake = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind fake upstream");
    let upstream = fake.local_addr().expect("addr").to_string();
    let proxy = start_proxy(&upstream, RELAY, extra).await;
    (proxy, fake)
}

async fn connect(proxy: SocketAddr, fake: &TcpListener) -> (Raw<TcpStream>, Upstream) {
    let client = Raw::connect(proxy).await;
    let (stream, _) = bounded("accept", fake.accept()).await.expect("accept");
    (client, Upstream { stream })
}

#[tokio::test]
async fn passes_bytes_through_and_answers_server_metadata() {
    let (proxy, fake) = setup(&[]).await;
    let (mut client, mut up) = connect(proxy.addr, &fake).await;

    up.send(b"* OK [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE METADATA-SERVER STARTTLS LITERAL+] fake ready\r\n")
        .await;
    assert_eq!(
        client.line().await,
        "* OK [CAPABILITY IMAP4rev1 LITERAL+ METADATA] fake ready\r\n"
    );

    // Before login GETMETADATA goes to the upstream, which refuses it.
    client
        .send(b"a0 GETMETADATA \"\" /shared/comment\r\n")
        .await;
    up.expect(b"a0 GETMETADATA \"\" /shared/comment\r\n").await;
    up.send(b"a0 BAD Not authenticated\r\n").await;
    assert_eq!(client.line().await, "a0 BAD Not authenticated\r\n");

    client.send(b"a1 LOGIN user {4}\r\n").await;
    up.expect(b"a1 LOGIN user {4}\r\n").await;
    up.send(b"+ OK\r\n").await;
    assert_eq!(client.line().await, "+ OK\r\n");
    client.send(b"pass\r\n").await;
    up.expect(b"pass\r\n").await;
    up.send(b"a1 OK [CAPABILITY IMAP4rev1 IDLE COMPRESS=DEFLATE METADATA] Logged in\r\n")
        .await;
    assert_eq!(
        client.line().await,
        "a1 OK [CAPABILITY IMAP4rev1 IDLE METADATA] Logged in\r\n"
    );

    // Literal data that looks like commands is forwarded, not acted on.
    let body = b"x GETMETADATA \"\" /shared/comment\r\ny STARTTLS\r\n{3}\r\nabc\r\n";
    let header = format!("a2 APPEND INBOX {{{}}}\r\n", body.len());
    client.send(header.as_bytes()).await;
    up.expect(header.as_bytes()).await;
    up.send(b"+ go ahead\r\n").await;
    assert_eq!(client.line().await, "+ go ahead\r\n");
    client.send(body).await;
    client.send(b" {2+}\r\nhi\r\n").await;
    up.expect(body).await;
    up.expect(b" {2+}\r\nhi\r\n").await;
    up.send(b"a2 OK APPEND completed\r\n").await;
    assert_eq!(client.line().await, "a2 OK APPEND completed\r\n");

    // Server entries are answered by the proxy; the upstream never sees it.
    client
        .send(b"a3 GETMETADATA \"\" (/shared/comment /shared/vendor/deltachat/irohrelay)\r\n")
        .await;
    assert_eq!(
        client.line().await,
        format!("* METADATA \"\" (/shared/comment NIL {IROH} \"{RELAY}\")\r\n")
    );
    assert_eq!(client.line().await, "a3 OK GETMETADATA completed\r\n");
    // ...also when the command carries a synchronizing literal.
    client
        .send(format!("a4 GETMETADATA \"\" {{{}}}\r\n", IROH.len()).as_bytes())
        .await;
    assert_eq!(client.line().await, "+ Ready for literal data\r\n");
    client.send(format!("{IROH}\r\n").as_bytes()).await;
    assert_eq!(
        client.line().await,
        format!("* METADATA \"\" ({IROH} \"{RELAY}\")\r\n")
    );
    assert_eq!(client.line().await, "a4 OK GETMETADATA completed\r\n");
    // A mailbox entry goes to the upstream, which advertised METADATA.
    client
        .send(b"a5 GETMETADATA \"INBOX\" /private/comment\r\n")
        .await;
    up.expect(b"a5 GETMETADATA \"INBOX\" /private/comment\r\n")
        .await;
    up.send(b"a5 OK Getmetadata completed\r\n").await;
    assert_eq!(client.line().await, "a5 OK Getmetadata completed\r\n");

    // Capability-looking bytes inside an upstream literal stay unchanged.
    client.send(b"a6 FETCH 1 BODY[]\r\n").await;
    up.expect(b"a6 FETCH 1 BODY[]\r\n").await;
    let data = b"* CAPABILITY IMAP4rev1 COMPRESS=DEFLATE\r\n";
    let fetch = [
        format!("* 1 FETCH (BODY[] {{{}}}\r\n", data.len()).into_bytes(),
        data.to_vec(),
        b")\r\n* CAPABILITY IMAP4rev1 COMPRESS=DEFLATE\r\na6 OK FETCH completed\r\n".to_vec(),
    ]
    .concat();
    up.send(&fetch).await;
    assert_eq!(
        client.line().await,
        format!("* 1 FETCH (BODY[] {{{}}}\r\n", data.len())
    );
    assert_eq!(client.bytes(data.len()).await, data);
    assert_eq!(client.line().await, ")\r\n");
    assert_eq!(client.line().await, "* CAPABILITY IMAP4rev1 METADATA\r\n");
    assert_eq!(client.line().await, "a6 OK FETCH completed\r\n");

    // IDLE and DONE pass through.
    client.send(b"a7 IDLE\r\n").await;
    up.expect(b"a7 IDLE\r\n").await;
    up.send(b"+ idling\r\n* 2 EXISTS\r\n").await;
    assert_eq!(client.line().await, "+ idling\r\n");
    assert_eq!(client.line().await, "* 2 EXISTS\r\n");
    client.send(b"DONE\r\n").await;
    up.expect(b"DONE\r\n").await;
    up.send(b"a7 OK Idle completed\r\n").await;
    assert_eq!(client.line().await, "a7 OK Idle completed\r\n");

    // What cannot pass through a reading proxy is answered here.
    client.send(b"a8 COMPRESS DEFLATE\r\n").await;
    assert_eq!(
        client.line().await,
        "a8 NO Not available through this proxy\r\n"
    );
    client.send(b"a9 STARTTLS\r\n").await;
    assert_eq!(client.line().await, "a9 BAD STARTTLS is not available\r\n");
    client
        .send(b"b1 SETMETADATA \"\" (/shared/comment \"x\")\r\n")
        .await;
    assert_eq!(
        client.line().await,
        "b1 NO [NOPERM] Server entries are read-only\r\n"
    );

    // The upstream saw none of the answered commands: NOOP comes next.
    client.send(b"b2 NOOP\r\n").await;
    up.expect(b"b2 NOOP\r\n").await;
    up.send(b"* BYE shutting down\r\n").await;
    assert_eq!(client.line().await, "* BYE shutting down\r\n");
    drop(up);
    assert!(client.closed().await);
}

#[tokio::test]
async fn mailbox_metadata_is_answered_when_upstream_lacks_it() {
    let (proxy, fake) = setup(&[]).await;
    let (mut client, mut up) = connect(proxy.addr, &fake).await;
    up.send(b"* PREAUTH [CAPABILITY IMAP4rev1] fake\r\n").await;
    assert_eq!(
        client.line().await,
        "* PREAUTH [CAPABILITY IMAP4rev1 METADATA] fake\r\n"
    );
    client
        .send(b"a1 GETMETADATA \"INBOX\" /private/comment\r\n")
        .await;
    assert_eq!(
        client.line().await,
        "* METADATA \"INBOX\" (/private/comment NIL)\r\n"
    );
    assert_eq!(client.line().await, "a1 OK GETMETADATA completed\r\n");
    client
        .send(b"a2 SETMETADATA \"INBOX\" (/private/devicetoken \"openpgp:abc\")\r\n")
        .await;
    assert_eq!(
        client.line().await,
        "a2 NO [METADATA NOPRIVATE] Private entries are not supported\r\n"
    );
    client
        .send(b"a3 GETMETADATA \"\" (/shared/a /shared/b\r\n")
        .await;
    assert!(client.line().await.starts_with("a3 BAD "));
    client.send(b"a4 LOGOUT\r\n").await;
    up.expect(b"a4 LOGOUT\r\n").await;
}

#[tokio::test]
async fn limits_close_only_the_offender() {
    let (proxy, fake) = setup(&["--max-line", "1024", "--max-literal", "4096"]).await;
    let (mut good, mut good_up) = connect(proxy.addr, &fake).await;
    good_up.send(b"* OK [CAPABILITY IMAP4rev1] ready\r\n").await;
    good.line().await;

    let (mut bad, mut bad_up) = connect(proxy.addr, &fake).await;
    bad_up.send(b"* OK [CAPABILITY IMAP4rev1] ready\r\n").await;
    bad.line().await;
    bad.send(&vec![b'x'; 2000]).await;
    assert_eq!(
        bad.line().await,
        "* BYE line too long (limit 1024 bytes), closing connection\r\n"
    );
    assert!(bad.closed().await);

    let (mut big, mut big_up) = connect(proxy.addr, &fake).await;
    big_up.send(b"* OK [CAPABILITY IMAP4rev1] ready\r\n").await;
    big.line().await;
    big.send(b"c1 APPEND INBOX {5000}\r\n").await;
    assert!(big
        .line()
        .await
        .starts_with("c1 BAD [TOOBIG] literal of 5000 bytes"));
    assert!(big.line().await.starts_with("* BYE "));
    assert!(big.closed().await);

    good.send(b"g1 NOOP\r\n").await;
    good_up.expect(b"g1 NOOP\r\n").await;
    good_up.send(b"g1 OK NOOP completed\r\n").await;
    assert_eq!(good.line().await, "g1 OK NOOP completed\r\n");
}

#[tokio::test]
async fn idle_timeout_and_unreachable_upstream() {
    let (proxy, fake) = setup(&["--idle-timeout", "1"]).await;
    let (mut client, mut up) = connect(proxy.addr, &fake).await;
    up.send(b"* OK [CAPABILITY IMAP4rev1] ready\r\n").await;
    client.line().await;
    assert_eq!(
        client.line().await,
        "* BYE Idle timeout, closing connection\r\n"
    );
    assert!(client.closed().await);

    // Nothing listens on the upstream port any more.
    drop(fake);
    let mut client = Raw::connect(proxy.addr).await;
    assert_eq!(
        client.line().await,
        "* BYE Upstream server unavailable, try again later\r\n"
    );
    assert!(client.closed().await);
}
