//! `imap-meta serve` against async-imap, the client crate Delta Chat core
//! uses, driven the way core drives it.

mod common;

use async_imap::Session;
use common::*;
use tokio::net::TcpStream;

const COMMENT: &str = "Chatmail server\n\"ümlaut\" line";

/// Config file with a comment that needs a literal, so both value forms
/// are parsed by the client.
fn config_file() -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let toml = format!(
        "[entries]\nirohrelay = \"{RELAY}\"\ncomment = {comment:?}\nadmin = \"mailto:root@example.org\"\nmaxsmtprecipients = 1000\n",
        comment = COMMENT
    );
    std::fs::write(file.path(), toml).expect("write config");
    file
}

async fn serve() -> (Running, tempfile::NamedTempFile) {
    let cfg = config_file();
    let path = cfg.path().to_str().expect("utf-8 path").to_owned();
    let running = start(&["--config", &path, "serve", "--listen", "127.0.0.1:0"]).await;
    (running, cfg)
}

/// Connect, read the greeting, LOGIN: what core does before GETMETADATA.
async fn login(addr: std::net::SocketAddr) -> Session<TcpStream> {
    let client = greeted_tcp(addr).await;
    let (mut session, caps) = bounded(
        "login",
        client.login_with_capabilities("alice@example.org", "pw"),
    )
    .await
    .map_err(|(e, _)| e)
    .expect("login");
    let caps = caps.expect("LOGIN reply carries capabilities");
    assert!(
        caps.has_str("METADATA"),
        "post-login capabilities lack METADATA"
    );
    assert!(caps.has_str("IMAP4rev1"));
    let caps = bounded("capabilities", session.capabilities())
        .await
        .expect("CAPABILITY");
    assert!(caps.has_str("METADATA"));
    session
}

#[tokio::test]
async fn six_key_list_like_core() {
    let (server, _cfg) = serve().await;
    let mut session = login(server.addr).await;
    let md = bounded("getmetadata", session.get_metadata("", "", CORE_KEYS_6))
        .await
        .expect("GETMETADATA");
    assert_eq!(
        pairs(&md),
        vec![
            ("/shared/comment".into(), Some(COMMENT.into())),
            (
                "/shared/admin".into(),
                Some("mailto:root@example.org".into())
            ),
            (IROH.into(), Some(RELAY.into())),
            ("/shared/vendor/deltachat/turn".into(), None),
            (
                "/shared/vendor/deltachat/maxsmtprecipients".into(),
                Some("1000".into())
            ),
            ("/shared/vendor/deltachat/appversions".into(), None),
        ]
    );
    // The session stays usable afterwards.
    bounded("noop", session.noop()).await.expect("NOOP");
    bounded("logout", session.logout()).await.expect("LOGOUT");
}

#[tokio::test]
async fn four_key_list_of_older_releases() {
    let (server, _cfg) = serve().await;
    let mut session = login(server.addr).await;
    let md = bounded("getmetadata", session.get_metadata("", "", CORE_KEYS_4))
        .await
        .expect("GETMETADATA");
    let got = pairs(&md);
    assert_eq!(got.len(), 4);
    assert_eq!(got[2], (IROH.into(), Some(RELAY.into())));
    assert_eq!(got[3], ("/shared/vendor/deltachat/turn".into(), None));
}

#[tokio::test]
async fn single_key_and_unknown_key() {
    let (server, _cfg) = serve().await;
    let mut session = login(server.addr).await;
    let md = bounded("single", session.get_metadata("", "", IROH))
        .await
        .expect("GETMETADATA single");
    assert_eq!(pairs(&md), vec![(IROH.into(), Some(RELAY.into()))]);
    // The relay URL is usable as core uses it.
    let url = md[0].value.as_deref().expect("value");
    assert!(url.starts_with("http://127.0.0.1:"));

    let md = bounded(
        "unknown",
        session.get_metadata("", "", "(/shared/vendor/deltachat/nosuchkey /shared/admin)"),
    )
    .await
    .expect("GETMETADATA unknown");
    assert_eq!(
        pairs(&md),
        vec![
            ("/shared/vendor/deltachat/nosuchkey".into(), None),
            (
                "/shared/admin".into(),
                Some("mailto:root@example.org".into())
            ),
        ]
    );
}

#[tokio::test]
async fn maxsize_leaves_out_long_values() {
    let (server, _cfg) = serve().await;
    let mut session = login(server.addr).await;
    // async-imap puts whatever is passed as entries after the mailbox, so
    // this sends the RFC 5464 example form `GETMETADATA "" (MAXSIZE 25) (...)`.
    let md = bounded(
        "maxsize",
        session.get_metadata(
            "",
            "",
            "(MAXSIZE 25) (/shared/comment /shared/vendor/deltachat/irohrelay)",
        ),
    )
    .await
    .expect("GETMETADATA MAXSIZE");
    assert_eq!(pairs(&md), vec![(IROH.into(), Some(RELAY.into()))]);

    // The tagged OK reports the size of the longest value left out.
    let mut raw = Raw::connect(server.addr).await;
    raw.line().await;
    raw.command("a1", "LOGIN a b").await;
    let lines = raw
        .command(
            "a2",
            "GETMETADATA (MAXSIZE 5) \"\" (/shared/comment /shared/vendor/deltachat/turn)",
        )
        .await;
    assert_eq!(
        lines,
        vec![
            "* METADATA \"\" (/shared/vendor/deltachat/turn NIL)\r\n".to_owned(),
            format!(
                "a2 OK [METADATA LONGENTRIES {}] GETMETADATA completed\r\n",
                COMMENT.len()
            ),
        ]
    );
}

#[tokio::test]
async fn getmetadata_before_login_is_refused() {
    let (server, _cfg) = serve().await;
    let mut client = greeted_tcp(server.addr).await;
    let result = bounded(
        "pre-login getmetadata",
        client.run_command_and_check_ok(&format!("GETMETADATA \"\" {IROH}"), None),
    )
    .await;
    match result {
        Err(async_imap::error::Error::Bad(text)) => {
            assert!(text.contains("before authentication"), "{text}")
        }
        other => panic!("expected BAD, got {other:?}"),
    }

    let mut raw = Raw::connect(server.addr).await;
    raw.line().await;
    let lines = raw
        .command("x1", &format!("GETMETADATA \"\" {CORE_KEYS_6}"))
        .await;
    assert_eq!(lines.len(), 1, "no METADATA data before login: {lines:?}");
    assert!(lines[0].starts_with("x1 BAD "));
}

#[tokio::test]
async fn users_file_login_and_authenticate_plain() {
    let users = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(users.path(), "# test users\nalice@example.org:s3cret:x\n")
        .expect("write users");
    let users_path = users.path().to_str().expect("utf-8 path");
    let server = start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--relay-url",
        RELAY,
        "--users",
        users_path,
    ])
    .await;

    // Wrong password.
    let client = greeted_tcp(server.addr).await;
    let err = bounded("bad login", client.login("alice@example.org", "wrong"))
        .await
        .expect_err("wrong password refused");
    assert!(
        matches!(err.0, async_imap::error::Error::No(_)),
        "{:?}",
        err.0
    );

    // AUTHENTICATE PLAIN, continuation form (async-imap sends no SASL-IR).
    struct Plain;
    impl async_imap::Authenticator for Plain {
        type Response = Vec<u8>;
        fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
            b"\0alice@example.org\0s3cret:x".to_vec()
        }
    }
    let client = greeted_tcp(server.addr).await;
    let mut session = bounded("authenticate", client.authenticate("PLAIN", Plain))
        .await
        .map_err(|(e, _)| e)
        .expect("AUTHENTICATE PLAIN");
    let md = bounded("getmetadata", session.get_metadata("", "", IROH))
        .await
        .expect("GETMETADATA");
    assert_eq!(pairs(&md), vec![(IROH.into(), Some(RELAY.into()))]);
    let id = bounded("id", session.id([("name", Some("Delta Chat"))]))
        .await
        .expect("ID")
        .expect("server ID");
    assert_eq!(id.get("name").map(String::as_str), Some("imap-meta"));

    // SASL-IR and LOGIN with a literal, raw.
    let mut raw = Raw::connect(server.addr).await;
    raw.line().await;
    // base64("\0alice@example.org\0s3cret:x")
    let lines = raw
        .command(
            "s1",
            "AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHMzY3JldDp4",
        )
        .await;
    assert!(lines[0].starts_with("s1 OK [CAPABILITY "), "{lines:?}");
    let mut raw = Raw::connect(server.addr).await;
    raw.line().await;
    raw.send(b"l1 LOGIN alice@example.org {8}\r\n").await;
    assert_eq!(raw.line().await, "+ Ready for literal data\r\n");
    raw.send(b"s3cret:x\r\n").await;
    let lines = raw.until_tagged("l1").await;
    assert!(lines[0].starts_with("l1 OK "), "{lines:?}");
    let lines = raw.command("l2", "AUTHENTICATE PLAIN").await;
    assert_eq!(lines, vec!["l2 BAD Already authenticated\r\n".to_owned()]);
    let lines = raw.command("l3", "SELECT INBOX").await;
    assert!(
        lines[0].starts_with("l3 NO SELECT is not supported"),
        "{lines:?}"
    );
    let lines = raw
        .command(
            "l4",
            "SETMETADATA \"\" (/shared/vendor/deltachat/irohrelay \"http://evil\")",
        )
        .await;
    assert_eq!(
        lines,
        vec!["l4 NO [NOPERM] Server entries are read-only\r\n".to_owned()]
    );
    let lines = raw
        .command("l5", "GETMETADATA \"INBOX\" /private/comment")
        .await;
    assert!(lines[0].starts_with("l5 NO [NONEXISTENT]"), "{lines:?}");
    let lines = raw.command("l6", "LOGOUT").await;
    assert_eq!(
        lines,
        vec![
            "* BYE Logging out\r\n".to_owned(),
            "l6 OK LOGOUT completed\r\n".to_owned()
        ]
    );
    assert!(raw.closed().await);
}
