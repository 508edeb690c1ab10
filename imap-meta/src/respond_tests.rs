use super::*;
use crate::entries::ServerEntries;
use crate::parse::parse_command;

fn responder() -> Responder {
    let entries = ServerEntries::new("http://mail.example.org:3340")
        .unwrap()
        .with_comment("Chatmail server")
        .unwrap()
        .with_admin("mailto:root@example.org")
        .unwrap()
        .with_max_smtp_recipients(1000);
    Responder::new(entries, Limits::DEFAULT)
}

fn reply(r: &Responder, input: &str) -> String {
    let cmd = parse_command(input.as_bytes(), r.limits()).unwrap();
    let out = r
        .respond(&cmd, SessionState::Authenticated)
        .expect("metadata command");
    String::from_utf8(out).unwrap()
}

#[test]
fn delta_chat_query() {
    let r = responder();
    let out = reply(&r, "A0005 GETMETADATA \"\" (/shared/comment /shared/admin /shared/vendor/deltachat/irohrelay /shared/vendor/deltachat/turn /shared/vendor/deltachat/maxsmtprecipients /shared/vendor/deltachat/appversions)\r\n");
    assert_eq!(
        out,
        "* METADATA \"\" (/shared/comment \"Chatmail server\" /shared/admin \"mailto:root@example.org\" \
         /shared/vendor/deltachat/irohrelay \"http://mail.example.org:3340\" /shared/vendor/deltachat/turn NIL \
         /shared/vendor/deltachat/maxsmtprecipients \"1000\" /shared/vendor/deltachat/appversions NIL)\r\n\
         A0005 OK GETMETADATA completed\r\n"
    );
}

#[test]
fn unknown_and_duplicate_entries() {
    let r = responder();
    assert_eq!(
        reply(&r, "t GETMETADATA \"\" (/shared/vendor/x/y /SHARED/COMMENT /shared/comment)\r\n"),
        "* METADATA \"\" (/shared/vendor/x/y NIL /shared/comment \"Chatmail server\")\r\nt OK GETMETADATA completed\r\n"
    );
}

#[test]
fn literal_values() {
    let entries = ServerEntries::new("https://example.org")
        .unwrap()
        .with_comment("Zwei\nZeilen \"mit\" Ümlaut")
        .unwrap();
    let r = Responder::new(entries, Limits::DEFAULT);
    let value = "Zwei\nZeilen \"mit\" Ümlaut";
    assert_eq!(
        reply(&r, "t GETMETADATA \"\" /shared/comment\r\n"),
        format!(
            "* METADATA \"\" (/shared/comment {{{}}}\r\n{value})\r\nt OK GETMETADATA completed\r\n",
            value.len()
        )
    );
}

#[test]
fn maxsize_leaves_out_long_values() {
    let r = responder();
    assert_eq!(
        reply(&r, "t GETMETADATA (MAXSIZE 20) \"\" (/shared/comment /shared/admin /shared/vendor/deltachat/irohrelay /shared/vendor/deltachat/turn)\r\n"),
        "* METADATA \"\" (/shared/comment \"Chatmail server\" /shared/vendor/deltachat/turn NIL)\r\n\
         t OK [METADATA LONGENTRIES 28] GETMETADATA completed\r\n"
    );
    // Everything left out: no untagged line (an empty list does not parse).
    assert_eq!(
        reply(&r, "t GETMETADATA (MAXSIZE 0) \"\" /shared/comment\r\n"),
        "t OK [METADATA LONGENTRIES 15] GETMETADATA completed\r\n"
    );
    assert_eq!(
        reply(&r, "t GETMETADATA \"\" (MAXSIZE 15) /shared/comment\r\n"),
        "* METADATA \"\" (/shared/comment \"Chatmail server\")\r\nt OK GETMETADATA completed\r\n"
    );
}

#[test]
fn depth() {
    let r = responder();
    assert_eq!(
        reply(&r, "t GETMETADATA (DEPTH 1) \"\" /shared/vendor/deltachat\r\n"),
        "* METADATA \"\" (/shared/vendor/deltachat NIL /shared/vendor/deltachat/irohrelay \"http://mail.example.org:3340\" \
         /shared/vendor/deltachat/maxsmtprecipients \"1000\")\r\nt OK GETMETADATA completed\r\n"
    );
    assert_eq!(
        reply(&r, "t GETMETADATA (DEPTH 1) \"\" /shared\r\n"),
        "* METADATA \"\" (/shared NIL /shared/admin \"mailto:root@example.org\" /shared/comment \"Chatmail server\")\r\n\
         t OK GETMETADATA completed\r\n"
    );
    let all = reply(&r, "t GETMETADATA (DEPTH infinity) \"\" /shared\r\n");
    assert!(all.contains("/shared/vendor/deltachat/irohrelay \"http://mail.example.org:3340\""));
    assert!(all.contains("/shared/admin"));
    assert_eq!(
        reply(&r, "t GETMETADATA (DEPTH infinity) \"\" /private\r\n"),
        "* METADATA \"\" (/private NIL)\r\nt OK GETMETADATA completed\r\n"
    );
}

#[test]
fn mailbox_entries_are_nil() {
    let r = responder();
    assert_eq!(
        reply(&r, "t GETMETADATA \"INBOX\" (/private/comment /shared/vendor/deltachat/irohrelay)\r\n"),
        "* METADATA \"INBOX\" (/private/comment NIL /shared/vendor/deltachat/irohrelay NIL)\r\nt OK GETMETADATA completed\r\n"
    );
}

#[test]
fn setmetadata_is_refused() {
    let r = Responder::new(
        ServerEntries::new("https://example.org").unwrap(),
        Limits {
            max_value: 8,
            ..Limits::DEFAULT
        },
    );
    assert_eq!(
        reply(
            &r,
            "t SETMETADATA \"\" (/shared/vendor/deltachat/irohrelay \"https://evil\")\r\n"
        ),
        "t NO [METADATA MAXSIZE 8] Value too long\r\n"
    );
    assert_eq!(
        reply(
            &r,
            "t SETMETADATA \"\" (/shared/vendor/deltachat/irohrelay \"x\")\r\n"
        ),
        "t NO [NOPERM] Server entries are read-only\r\n"
    );
    assert_eq!(
        reply(&r, "t SETMETADATA \"\" (/shared/comment NIL)\r\n"),
        "t NO [NOPERM] Server entries are read-only\r\n"
    );
    assert_eq!(
        reply(
            &r,
            "t SETMETADATA \"INBOX\" (/shared/x \"1\" /private/devicetoken \"tok\")\r\n"
        ),
        "t NO [METADATA NOPRIVATE] Private entries are not supported\r\n"
    );
    assert_eq!(
        reply(&r, "t SETMETADATA \"INBOX\" (/shared/x \"1\")\r\n"),
        "t NO [NOPERM] Mailbox entries are read-only\r\n"
    );
    // Unchanged afterwards.
    assert_eq!(
        r.entries().get(crate::IROH_RELAY),
        Some("https://example.org")
    );
}

#[test]
fn refused_before_login() {
    let r = responder();
    let cmd = parse_command(b"a1 GETMETADATA \"\" /shared/comment\r\n", r.limits()).unwrap();
    assert_eq!(
        r.respond(&cmd, SessionState::NotAuthenticated).unwrap(),
        b"a1 BAD GETMETADATA is not allowed before authentication\r\n"
    );
    let cmd = parse_command(b"a2 SETMETADATA \"\" (/shared/comment NIL)\r\n", r.limits()).unwrap();
    assert!(r
        .respond(&cmd, SessionState::NotAuthenticated)
        .unwrap()
        .starts_with(b"a2 BAD "));
    let cmd = parse_command(b"a3 NOOP\r\n", r.limits()).unwrap();
    assert_eq!(r.respond(&cmd, SessionState::Authenticated), None);
}

#[test]
fn rejections() {
    let limits = Limits {
        max_entries: 1,
        ..Limits::DEFAULT
    };
    let e = parse_command(b"x GETMETADATA \"\" (/shared/a /shared/b)\r\n", &limits).unwrap_err();
    assert_eq!(
        Responder::reject(&e),
        b"x NO [METADATA TOOMANY] too many entries (limit 1)\r\n"
    );
    let e = parse_command(b"x GETMETADATA \"\" /bad\r\n", &limits).unwrap_err();
    assert_eq!(
        Responder::reject(&e),
        b"x BAD invalid entry name: entry name must start with /private or /shared\r\n"
    );
    let e = parse_command(b"\r\n", &limits).unwrap_err();
    assert_eq!(Responder::reject(&e), b"* BAD missing or invalid tag\r\n");
}

#[test]
fn limit_replies() {
    assert_eq!(
        Responder::limit_exceeded(
            Some(b"a"),
            &FrameError::LiteralTooLarge {
                size: 100,
                limit: 10
            }
        ),
        b"a BAD [TOOBIG] literal of 100 bytes is too large (limit 10 bytes)\r\n\
          * BYE literal of 100 bytes is too large (limit 10 bytes), closing connection\r\n"
    );
    assert_eq!(
        Responder::limit_exceeded(None, &FrameError::LineTooLong { limit: 5 }),
        b"* BYE line too long (limit 5 bytes), closing connection\r\n"
    );
}
