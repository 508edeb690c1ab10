//! `imap-meta proxy` in front of a real Dovecot, driven by async-imap.
//!
//! Needs Dovecot: run `imap-meta/tests/dovecot/setup.sh` first. Set
//! IMAP_META_SKIP_DOVECOT=1 to skip (the test then prints a SKIP line).

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::Session;
use common::*;
use futures::TryStreamExt;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const USER: &str = "alice";
const PASSWORD: &str = "secret";

/// A message whose body looks like IMAP commands and literal headers: the
/// proxy must pass it through as literal data, not act on it.
const MESSAGE: &str = "From: bob@example.org\r\nTo: alice@example.org\r\nSubject: proxy test\r\n\r\n\
a1 GETMETADATA \"\" /shared/comment\r\nb2 STARTTLS\r\n* CAPABILITY IMAP4rev1 COMPRESS=DEFLATE\r\n{5}\r\nhello\r\n";

fn skip() -> bool {
    if std::env::var("IMAP_META_SKIP_DOVECOT").as_deref() == Ok("1") {
        // Straight to stderr: the test harness does not capture this.
        let _ = writeln!(
            std::io::stderr().lock(),
            "SKIP: Dovecot proxy test skipped because IMAP_META_SKIP_DOVECOT=1"
        );
        return true;
    }
    false
}

fn dovecot_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("dovecot"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "dovecot not found: run imap-meta/tests/dovecot/setup.sh to install it \
                 (or set IMAP_META_SKIP_DOVECOT=1 to skip this test)"
            )
        })
}

/// A private Dovecot instance on a loopback port, stopped when dropped.
struct Dovecot {
    _child: Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Dovecot {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn current_user_name() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("run id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Dovecot refuses to run mail processes as root, and its login processes
/// need an unprivileged user. As root, use the users the Debian package
/// creates and run mail as nobody; otherwise run everything as ourselves.
fn identities(dir: &Path) -> (String, String, String, u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir).expect("stat temp dir");
    if meta.uid() == 0 {
        let (uid, gid) = (65534, 65534);
        (
            "dovecot".into(),
            "dovecot".into(),
            "dovenull".into(),
            uid,
            gid,
        )
    } else {
        let me = current_user_name();
        let group = String::from_utf8_lossy(
            &std::process::Command::new("id")
                .arg("-gn")
                .output()
                .expect("run id -gn")
                .stdout,
        )
        .trim()
        .to_owned();
        (me.clone(), group, me, meta.uid(), meta.gid())
    }
}

async fn start_dovecot(with_metadata: bool) -> Dovecot {
    use std::os::unix::fs::PermissionsExt;
    let binary = dovecot_binary();
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    // Login and mail processes run unprivileged and must reach these.
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for sub in ["run", "state", "mail"] {
        std::fs::create_dir(d.join(sub)).expect("mkdir");
    }
    let (internal_user, internal_group, login_user, uid, gid) = identities(d);
    std::os::unix::fs::chown(d.join("mail"), Some(uid), Some(gid)).expect("chown mail dir");
    let port = free_port();
    let home = d.join("mail").join(USER);
    let metadata = if with_metadata {
        "imap_metadata = yes\nmail_attribute_dict = file:%h/dovecot-attributes\n"
    } else {
        ""
    };
    let conf = format!(
        "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n\
         instance_name = imap-meta-test-{port}\nprotocols = imap\nlisten = 127.0.0.1\n\
         ssl = no\ndisable_plaintext_auth = no\nauth_mechanisms = plain login\n\
         mail_location = maildir:{d}/mail/%u\nfirst_valid_uid = 1\n\
         default_internal_user = {internal_user}\ndefault_internal_group = {internal_group}\n\
         default_login_user = {login_user}\n{metadata}\
         passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/passwd\n}}\n\
         userdb {{\n  driver = passwd-file\n  args = username_format=%u {d}/passwd\n}}\n\
         service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n\
         inet_listener imaps {{\n    port = 0\n  }}\n}}\n",
        d = d.display()
    );
    std::fs::write(d.join("dovecot.conf"), conf).expect("write dovecot.conf");
    std::fs::write(
        d.join("passwd"),
        format!(
            "{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{}::\n",
            home.display()
        ),
    )
    .expect("write passwd");
    let child = Command::new(binary)
        .arg("-F")
        .arg("-c")
        .arg(d.join("dovecot.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start dovecot");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let dovecot = Dovecot {
        _child: child,
        dir,
        addr,
    };
    let ready = tokio::time::timeout(STEP, async {
        loop {
            if let Ok(tcp) = TcpStream::connect(addr).await {
                let mut raw = Raw::new(tcp);
                if raw.line().await.starts_with("* OK") {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        ready.is_ok(),
        "dovecot did not start; log:\n{}",
        dovecot.log()
    );
    dovecot
}

async fn proxy_for(dovecot: &Dovecot) -> Running {
    let upstream = dovecot.addr.to_string();
    start_proxy(&upstream, RELAY, &["--comment", "Dovecot behind imap-meta"]).await
}

async fn login(addr: SocketAddr) -> Session<TcpStream> {
    let client = greeted_tcp(addr).await;
    let (session, caps) = bounded("login", client.login_with_capabilities(USER, PASSWORD))
        .await
        .map_err(|(e, _)| e)
        .expect("LOGIN through the proxy");
    let caps = caps.expect("Dovecot sends capabilities with its LOGIN reply");
    assert!(caps.has_str("METADATA"), "METADATA missing after login");
    assert!(caps.has_str("IMAP4rev1"));
    session
}

/// The raw capability list after login, for exact checks.
async fn raw_capabilities(addr: SocketAddr) -> (String, Vec<String>) {
    let mut raw = Raw::connect(addr).await;
    let greeting = raw.line().await;
    raw.command("r1", &format!("LOGIN {USER} {PASSWORD}")).await;
    let lines = raw.command("r2", "CAPABILITY").await;
    let caps = lines
        .iter()
        .find_map(|l| l.strip_prefix("* CAPABILITY "))
        .expect("CAPABILITY response")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    (greeting, caps)
}

#[tokio::test]
async fn proxy_adds_metadata_to_dovecot() {
    if skip() {
        return;
    }
    let dovecot = start_dovecot(false).await;
    let proxy = proxy_for(&dovecot).await;

    let (greeting, caps) = raw_capabilities(proxy.addr).await;
    assert!(
        greeting.starts_with("* OK [CAPABILITY IMAP4rev1 "),
        "{greeting}"
    );
    assert!(greeting.contains(" METADATA]"), "{greeting}");
    assert_eq!(
        caps.iter().filter(|c| *c == "METADATA").count(),
        1,
        "{caps:?}"
    );
    assert!(caps.iter().any(|c| c == "IDLE"));
    assert!(!caps.iter().any(|c| c.starts_with("COMPRESS")));

    let mut session = login(proxy.addr).await;
    let md = bounded("getmetadata", session.get_metadata("", "", CORE_KEYS_6))
        .await
        .expect("GETMETADATA");
    let got = pairs(&md);
    assert_eq!(got.len(), 6, "{got:?}");
    assert_eq!(
        got[0],
        (
            "/shared/comment".into(),
            Some("Dovecot behind imap-meta".into())
        )
    );
    assert_eq!(got[1], ("/shared/admin".into(), None));
    assert_eq!(got[2], (IROH.into(), Some(RELAY.into())));

    // Ordinary IMAP passes through: SELECT, APPEND (a literal), FETCH.
    let mailbox = bounded("select", session.select("INBOX"))
        .await
        .expect("SELECT");
    assert_eq!(mailbox.exists, 0);
    bounded(
        "append",
        session.append("INBOX", None, None, MESSAGE.as_bytes()),
    )
    .await
    .expect("APPEND");
    let fetched: Vec<_> = bounded("fetch", async {
        session
            .fetch("1:*", "(UID BODY.PEEK[])")
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await
    .expect("FETCH");
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].body(), Some(MESSAGE.as_bytes()));

    // Selected state, as Delta Chat up to v2.34 asks.
    let md = bounded("getmetadata selected", session.get_metadata("", "", IROH))
        .await
        .expect("GETMETADATA in Selected state");
    assert_eq!(pairs(&md), vec![(IROH.into(), Some(RELAY.into()))]);

    // This Dovecot has no METADATA, so mailbox entries are answered here.
    let md = bounded(
        "mailbox metadata",
        session.get_metadata("INBOX", "", "/private/comment"),
    )
    .await
    .expect("GETMETADATA INBOX");
    assert_eq!(pairs(&md), vec![("/private/comment".into(), None)]);
    let err = bounded(
        "setmetadata",
        session
            .run_command_and_check_ok("SETMETADATA \"INBOX\" (/private/devicetoken \"openpgp:x\")"),
    )
    .await
    .expect_err("SETMETADATA refused");
    assert!(format!("{err:?}").contains("Private entries"), "{err:?}");

    // IDLE passes through and wakes up when another session appends.
    let mut idle = session.idle();
    bounded("idle init", idle.init()).await.expect("IDLE");
    let (wait, _stop) = idle.wait_with_timeout(Duration::from_secs(15));
    let mut other = login(proxy.addr).await;
    bounded(
        "append 2",
        other.append("INBOX", None, None, MESSAGE.as_bytes()),
    )
    .await
    .expect("second APPEND");
    let woke = bounded("idle wait", wait).await.expect("IDLE wait");
    assert!(
        matches!(woke, IdleResponse::NewData(_)),
        "IDLE did not see the new message: {woke:?}"
    );
    let mut session = bounded("idle done", idle.done()).await.expect("DONE");
    bounded("noop", session.noop())
        .await
        .expect("NOOP after IDLE");
    bounded("logout", session.logout()).await.expect("LOGOUT");
    bounded("logout 2", other.logout()).await.expect("LOGOUT");

    let log = dovecot.log();
    assert!(log.contains("Login: user=<alice>"), "dovecot log:\n{log}");
}

/// The line after the first one (the literal data and the rest of the line).
fn raw_rest(lines: &[String]) -> &str {
    lines.get(1).map(String::as_str).unwrap_or_default()
}

#[tokio::test]
async fn mailbox_metadata_goes_to_a_dovecot_that_has_it() {
    if skip() {
        return;
    }
    let dovecot = start_dovecot(true).await;
    let proxy = proxy_for(&dovecot).await;
    let (_, caps) = raw_capabilities(proxy.addr).await;
    assert_eq!(
        caps.iter().filter(|c| *c == "METADATA").count(),
        1,
        "{caps:?}"
    );

    let mut session = login(proxy.addr).await;
    // Server entries still come from the proxy...
    let md = bounded("getmetadata", session.get_metadata("", "", CORE_KEYS_4))
        .await
        .expect("GETMETADATA");
    assert_eq!(pairs(&md)[2], (IROH.into(), Some(RELAY.into())));
    // ...while Delta Chat's push token is stored by Dovecot.
    bounded(
        "setmetadata",
        session.run_command_and_check_ok(
            "SETMETADATA \"INBOX\" (/private/devicetoken \"openpgp:abc\")",
        ),
    )
    .await
    .expect("SETMETADATA forwarded to Dovecot");
    // Dovecot names the mailbox as an atom, which imap-proto cannot parse,
    // so read its answer raw.
    let mut raw = Raw::connect(proxy.addr).await;
    raw.line().await;
    raw.command("m1", &format!("LOGIN {USER} {PASSWORD}")).await;
    let lines = raw
        .command("m2", "GETMETADATA \"INBOX\" /private/devicetoken")
        .await;
    assert_eq!(lines[0], "* METADATA INBOX (/private/devicetoken {11}\r\n");
    assert_eq!(raw_rest(&lines), "openpgp:abc)\r\n");
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("m2 OK Getmetadata completed")),
        "{lines:?}"
    );
    bounded("logout", session.logout()).await.expect("LOGOUT");
}
