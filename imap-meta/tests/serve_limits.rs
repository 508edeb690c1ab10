//! Input limits of `imap-meta serve`: offenders are closed, others unaffected.

mod common;

use std::time::{Duration, Instant};

use common::*;

async fn serve(extra: &[&str]) -> Running {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--relay-url", RELAY];
    args.extend_from_slice(extra);
    start(&args).await
}

/// A second, well-behaved session that must keep working.
async fn bystander(addr: std::net::SocketAddr) -> Raw<tokio::net::TcpStream> {
    let mut raw = Raw::connect(addr).await;
    assert!(raw.line().await.starts_with("* OK [CAPABILITY "));
    let lines = raw.command("b1", "LOGIN bob pw").await;
    assert!(lines[0].starts_with("b1 OK"));
    raw
}

async fn still_answers(raw: &mut Raw<tokio::net::TcpStream>) {
    let lines = raw.command("b2", &format!("GETMETADATA \"\" {IROH}")).await;
    assert_eq!(
        lines[0],
        format!("* METADATA \"\" ({IROH} \"{RELAY}\")\r\n")
    );
    assert_eq!(lines[1], "b2 OK GETMETADATA completed\r\n");
}

#[tokio::test]
async fn overlong_line_gets_bye_and_close() {
    let server = serve(&["--max-line", "1024"]).await;
    let mut other = bystander(server.addr).await;
    let mut raw = Raw::connect(server.addr).await;
    raw.line().await;
    let mut line = b"t1 NOOP ".to_vec();
    line.extend_from_slice(&[b'x'; 4096]);
    raw.send(&line).await;
    assert_eq!(
        raw.line().await,
        "t1 BAD line too long (limit 1024 bytes)\r\n"
    );
    assert_eq!(
        raw.line().await,
        "* BYE line too long (limit 1024 bytes), closing connection\r\n"
    );
    assert!(raw.closed().await);
    still_answers(&mut other).await;
}

#[tokio::test]
async fn oversized_literal_is_refused_before_the_data() {
    let server = serve(&["--max-literal", "100"]).await;
    let mut other = bystander(server.addr).await;
    let mut raw = Raw::connect(server.addr).await;
    raw.line().await;
    raw.send(b"t1 LOGIN {101}\r\n").await;
    assert_eq!(
        raw.line().await,
        "t1 BAD [TOOBIG] literal of 101 bytes is too large (limit 100 bytes)\r\n"
    );
    assert!(raw.line().await.starts_with("* BYE "));
    assert!(raw.closed().await);

    // Non-synchronizing literals are limited the same way.
    let mut raw = Raw::connect(server.addr).await;
    raw.line().await;
    raw.send(b"t2 LOGIN {99999999999999+}\r\n").await;
    assert!(raw.line().await.starts_with("t2 BAD [TOOBIG] "));
    assert!(raw.line().await.starts_with("* BYE "));
    assert!(raw.closed().await);

    // ...also when the data follows at once; the reply still arrives.
    let mut raw = Raw::connect(server.addr).await;
    raw.line().await;
    let mut flood = b"t3 LOGIN {50000+}\r\n".to_vec();
    flood.extend_from_slice(&vec![b'p'; 50000]);
    raw.send(&flood).await;
    assert!(raw.line().await.starts_with("t3 BAD [TOOBIG] "));
    assert!(raw.line().await.starts_with("* BYE "));
    assert!(raw.closed().await);
    still_answers(&mut other).await;
}

#[tokio::test]
async fn too_many_entries_and_bad_input_keep_the_session() {
    let server = serve(&["--max-entries", "3"]).await;
    let mut raw = bystander(server.addr).await;
    let lines = raw
        .command(
            "t1",
            "GETMETADATA \"\" (/shared/a /shared/b /shared/c /shared/d)",
        )
        .await;
    assert_eq!(
        lines,
        vec!["t1 NO [METADATA TOOMANY] too many entries (limit 3)\r\n".to_owned()]
    );
    let cases = [
        ("GETMETADATA \"\" /shared/foo/", "t2 BAD invalid entry name"),
        ("GETMETADATA \"\" notanentry", "t2 BAD invalid entry name"),
        (
            "GETMETADATA (BOGUS 1) \"\" /shared/comment",
            "t2 BAD unknown GETMETADATA option",
        ),
        (
            "GETMETADATA \"\"  (MAXSIZE 1024)/shared/comment",
            "t2 BAD syntax error",
        ),
        (
            "GETMETADATA \"\" (/shared/comment",
            "t2 BAD missing argument",
        ),
        ("GETMETADATA \"\" \"/shared/\\x\"", "t2 BAD invalid escape"),
        ("GETMETADATA", "t2 BAD missing argument"),
        (
            "SETMETADATA \"\" (/private/x \"1\")",
            "t2 NO [METADATA NOPRIVATE]",
        ),
    ];
    for (command, want) in cases {
        let lines = raw.command("t2", command).await;
        assert_eq!(lines.len(), 1, "{command}: {lines:?}");
        assert!(lines[0].starts_with(want), "{command}: {lines:?}");
    }
    raw.send(b"\r\n").await;
    assert_eq!(raw.line().await, "* BAD missing or invalid tag\r\n");
    still_answers(&mut raw).await;
}

#[tokio::test]
async fn setmetadata_value_over_limit() {
    let server = serve(&[]).await;
    // Values over 4 KiB are refused with the RFC 5464 code.
    let mut raw = bystander(server.addr).await;
    let value = vec![b'v'; 5000];
    raw.send(
        format!(
            "t1 SETMETADATA \"\" (/shared/comment ~{{{}}}\r\n",
            value.len()
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(raw.line().await, "+ Ready for literal data\r\n");
    raw.send(&value).await;
    raw.send(b")\r\n").await;
    assert_eq!(
        raw.line().await,
        "t1 NO [METADATA MAXSIZE 4096] Value too long\r\n"
    );
    let lines = raw
        .command("t2", "SETMETADATA \"\" (/shared/comment \"short\")")
        .await;
    assert_eq!(
        lines,
        vec!["t2 NO [NOPERM] Server entries are read-only\r\n".to_owned()]
    );
    still_answers(&mut raw).await;
}

#[tokio::test]
async fn idle_clients_are_closed() {
    let server = serve(&["--idle-timeout", "1"]).await;
    let mut raw = Raw::connect(server.addr).await;
    let started = Instant::now();
    raw.line().await;
    assert_eq!(
        raw.line().await,
        "* BYE Idle timeout, closing connection\r\n"
    );
    assert!(raw.closed().await);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
}

#[tokio::test]
async fn connection_limit() {
    let server = serve(&["--max-connections", "1"]).await;
    let mut first = bystander(server.addr).await;
    let mut second = Raw::connect(server.addr).await;
    assert_eq!(second.line().await, "* BYE Too many connections\r\n");
    assert!(second.closed().await);
    still_answers(&mut first).await;
}
