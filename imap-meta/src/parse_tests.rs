use super::*;
use crate::entry::EntryNameError;

fn parse(input: &[u8]) -> std::result::Result<Command, CommandError> {
    parse_command(input, &Limits::DEFAULT)
}

fn get(input: &[u8]) -> GetMetadata {
    match parse(input) {
        Ok(Command {
            kind: CommandKind::GetMetadata(g),
            ..
        }) => g,
        other => panic!("{:?} -> {other:?}", String::from_utf8_lossy(input)),
    }
}

fn err(input: &[u8]) -> ErrorKind {
    match parse(input) {
        Err(e) => e.kind,
        Ok(c) => panic!("{:?} parsed as {c:?}", String::from_utf8_lossy(input)),
    }
}

fn names(g: &GetMetadata) -> Vec<&str> {
    g.entries.iter().map(EntryName::as_str).collect()
}

const CORE_6: &[u8] = b"A0005 GETMETADATA \"\" (/shared/comment /shared/admin /shared/vendor/deltachat/irohrelay /shared/vendor/deltachat/turn /shared/vendor/deltachat/maxsmtprecipients /shared/vendor/deltachat/appversions)\r\n";

#[test]
fn delta_chat_six_keys() {
    let c = parse(CORE_6).unwrap();
    assert_eq!(c.tag, b"A0005");
    let CommandKind::GetMetadata(g) = c.kind else {
        panic!()
    };
    assert!(g.is_server());
    assert_eq!(g.max_size, None);
    assert_eq!(g.depth, Depth::Zero);
    assert_eq!(
        names(&g),
        [
            "/shared/comment",
            "/shared/admin",
            "/shared/vendor/deltachat/irohrelay",
            "/shared/vendor/deltachat/turn",
            "/shared/vendor/deltachat/maxsmtprecipients",
            "/shared/vendor/deltachat/appversions"
        ]
    );
}

#[test]
fn single_entry_quoted_and_literal_forms() {
    let g = get(b"a GETMETADATA \"\" /shared/vendor/deltachat/irohrelay\r\n");
    assert_eq!(names(&g), ["/shared/vendor/deltachat/irohrelay"]);
    let g = get(b"a getmetadata \"\" \"/Shared/Comment\"\n");
    assert_eq!(names(&g), ["/shared/comment"]);
    let g = get(b"a GETMETADATA {0}\r\n (\"/shared/admin\" {15+}\r\n/shared/comment)\r\n");
    assert!(g.is_server());
    assert_eq!(names(&g), ["/shared/admin", "/shared/comment"]);
    let g = get(b"a GETMETADATA INBOX /private/comment\r\n");
    assert_eq!(g.mailbox, b"INBOX");
}

#[test]
fn options_before_and_after_mailbox() {
    let g = get(b"a GETMETADATA (MAXSIZE 1024 DEPTH infinity) \"\" (/shared)\r\n");
    assert_eq!(g.max_size, Some(1024));
    assert_eq!(g.depth, Depth::Infinity);
    let g = get(b"a GETMETADATA (depth 1) \"\" /shared/vendor\r\n");
    assert_eq!(g.depth, Depth::One);
    let g = get(b"a GETMETADATA \"\" (MAXSIZE 5) (/shared/comment /shared/admin)\r\n");
    assert_eq!(g.max_size, Some(5));
    assert_eq!(names(&g).len(), 2);
    let g = get(b"a GETMETADATA (DEPTH 0) \"\" /shared/comment\r\n");
    assert_eq!(g.depth, Depth::Zero);
}

#[test]
fn bad_getmetadata() {
    use ErrorKind::*;
    assert!(matches!(err(b"a GETMETADATA\r\n"), MissingArgument(_)));
    assert!(matches!(err(b"a GETMETADATA \"\"\r\n"), MissingArgument(_)));
    assert!(matches!(
        err(b"a GETMETADATA \"\" ()\r\n"),
        MissingArgument(_) | Syntax(_)
    ));
    assert!(matches!(
        err(b"a GETMETADATA \"\" (/shared/comment\r\n"),
        MissingArgument(_)
    ));
    assert!(matches!(
        err(b"a GETMETADATA \"\" (/shared/comment  /shared/admin)\r\n"),
        Syntax(_)
    ));
    assert_eq!(
        err(b"a GETMETADATA \"\" /shared/foo/\r\n"),
        InvalidEntryName(EntryNameError::EmptyComponent)
    );
    assert_eq!(
        err(b"a GETMETADATA \"\" comment\r\n"),
        InvalidEntryName(EntryNameError::Prefix)
    );
    assert_eq!(
        err(b"a GETMETADATA \"\" \"/shared/*\"\r\n"),
        InvalidEntryName(EntryNameError::Character)
    );
    assert_eq!(
        err(b"a GETMETADATA (FOO 1) \"\" /shared/comment\r\n"),
        UnknownOption
    );
    assert_eq!(
        err(b"a GETMETADATA (MAXSIZE 1 MAXSIZE 2) \"\" /shared/comment\r\n"),
        DuplicateOption
    );
    assert_eq!(
        err(b"a GETMETADATA (MAXSIZE 1) \"\" (DEPTH 1) /shared/comment\r\n"),
        DuplicateOption
    );
    assert!(matches!(
        err(b"a GETMETADATA (DEPTH 2) \"\" /shared/comment\r\n"),
        Syntax(_)
    ));
    assert!(matches!(
        err(b"a GETMETADATA (MAXSIZE) \"\" /shared/comment\r\n"),
        Syntax(_)
    ));
    assert!(matches!(
        err(b"a GETMETADATA (MAXSIZE x) \"\" /shared/comment\r\n"),
        Syntax(_)
    ));
    assert_eq!(
        err(b"a GETMETADATA (MAXSIZE 99999999999) \"\" /shared/comment\r\n"),
        InvalidNumber
    );
    assert!(matches!(
        err(b"a GETMETADATA () \"\" /shared/comment\r\n"),
        Syntax(_)
    ));
    assert_eq!(
        err(b"a GETMETADATA \"\" /shared/comment extra\r\n"),
        TrailingData
    );
    assert_eq!(
        err(b"a GETMETADATA \"\" \"/shared/\\comment\"\r\n"),
        BadEscape
    );
    // async-imap's formatting of its `options` argument: two spaces, no
    // space before the entry.
    assert!(matches!(
        err(b"A0003 GETMETADATA \"\"  (MAXSIZE 1024)/shared/vendor/deltachat/irohrelay\r\n"),
        Syntax(_)
    ));
    assert!(matches!(
        err(b"a GETMETADATA \"\" {5}\r\n/sha\r\n"),
        Syntax(_)
    ));
}

#[test]
fn too_many_entries() {
    let limits = Limits {
        max_entries: 3,
        ..Limits::DEFAULT
    };
    let ok = b"a GETMETADATA \"\" (/shared/a /shared/b /shared/c)\r\n";
    assert!(parse_command(ok, &limits).is_ok());
    let many = b"a GETMETADATA \"\" (/shared/a /shared/b /shared/c /shared/d)\r\n";
    let e = parse_command(many, &limits).unwrap_err();
    assert_eq!(e.kind, ErrorKind::TooManyEntries { limit: 3 });
    assert_eq!(e.tag.as_deref(), Some(&b"a"[..]));
    let set = b"a SETMETADATA \"\" (/shared/a \"1\" /shared/b NIL /shared/c {1+}\r\n3 /shared/d \"4\")\r\n";
    assert_eq!(
        parse_command(set, &limits).unwrap_err().kind,
        ErrorKind::TooManyEntries { limit: 3 }
    );
}

#[test]
fn setmetadata() {
    let c = parse(b"a SETMETADATA INBOX (/private/devicetoken \"openpgp:abc\" /shared/comment NIL /shared/admin {3}\r\nx\"y /shared/bin ~{2}\r\n\0\x01)\r\n").unwrap();
    let CommandKind::SetMetadata(s) = c.kind else {
        panic!()
    };
    assert_eq!(s.mailbox, b"INBOX");
    assert!(!s.is_server());
    assert_eq!(s.entries.len(), 4);
    assert_eq!(s.entries[0].1.as_deref(), Some(&b"openpgp:abc"[..]));
    assert_eq!(s.entries[1].1, None);
    assert_eq!(s.entries[2].1.as_deref(), Some(&b"x\"y"[..]));
    assert_eq!(s.entries[3].1.as_deref(), Some(&b"\0\x01"[..]));
}

#[test]
fn bad_setmetadata() {
    use ErrorKind::*;
    assert!(matches!(
        err(b"a SETMETADATA \"\" /shared/comment x\r\n"),
        Syntax(_)
    ));
    assert!(matches!(
        err(b"a SETMETADATA \"\" (/shared/comment)\r\n"),
        Syntax(_)
    ));
    assert!(matches!(err(b"a SETMETADATA \"\" ()\r\n"), Syntax(_)));
    assert!(matches!(
        err(b"a SETMETADATA \"\" (/shared/comment atom)\r\n"),
        Syntax(_)
    ));
    assert!(matches!(
        err(b"a SETMETADATA \"\" (/bad x)\r\n"),
        InvalidEntryName(_)
    ));
    assert!(matches!(err(b"a SETMETADATA \"\"\r\n"), MissingArgument(_)));
}

#[test]
fn login_authenticate_id() {
    let c = parse(b"A0001 LOGIN \"user@example.org\" {6}\r\np\"w d!\r\n").unwrap();
    assert_eq!(
        c.kind,
        CommandKind::Login {
            user: b"user@example.org".to_vec(),
            password: b"p\"w d!".to_vec()
        }
    );
    let c = parse(b"a AUTHENTICATE plain AGFsaWNlAHNlY3JldA==\r\n").unwrap();
    assert_eq!(
        c.kind,
        CommandKind::Authenticate {
            mechanism: "PLAIN".into(),
            initial_response: Some(b"AGFsaWNlAHNlY3JldA==".to_vec())
        }
    );
    let c = parse(b"a AUTHENTICATE PLAIN =\r\n").unwrap();
    assert!(
        matches!(c.kind, CommandKind::Authenticate { initial_response: Some(ir), .. } if ir == b"=")
    );
    let c = parse(b"a AUTHENTICATE PLAIN\r\n").unwrap();
    assert!(matches!(
        c.kind,
        CommandKind::Authenticate {
            initial_response: None,
            ..
        }
    ));
    let c = parse(b"a ID (\"name\" \"Delta Chat\" \"version\" NIL)\r\n").unwrap();
    assert_eq!(
        c.kind,
        CommandKind::Id(Some(vec![
            (b"name".to_vec(), Some(b"Delta Chat".to_vec())),
            (b"version".to_vec(), None)
        ]))
    );
    assert_eq!(parse(b"a ID NIL\r\n").unwrap().kind, CommandKind::Id(None));
    assert!(matches!(
        err(b"a LOGIN user\r\n"),
        ErrorKind::MissingArgument(_)
    ));
    assert!(matches!(
        err(b"a AUTHENTICATE PLAIN ab$\r\n"),
        ErrorKind::TrailingData
    ));
    assert!(matches!(err(b"a ID (\"name\")\r\n"), ErrorKind::Syntax(_)));
    assert!(matches!(err(b"a ID\r\n"), ErrorKind::MissingArgument(_)));
}

#[test]
fn simple_commands_and_other() {
    assert_eq!(parse(b"a noop\r\n").unwrap().kind, CommandKind::Noop);
    assert_eq!(
        parse(b"a CAPABILITY\r\n").unwrap().kind,
        CommandKind::Capability
    );
    assert_eq!(parse(b"a LOGOUT\r\n").unwrap().kind, CommandKind::Logout);
    assert_eq!(
        parse(b"a StartTLS\r\n").unwrap().kind,
        CommandKind::StartTls
    );
    assert_eq!(err(b"a NOOP now\r\n"), ErrorKind::TrailingData);
    assert_eq!(
        parse(b"a select INBOX\r\n").unwrap().kind,
        CommandKind::Other {
            name: "SELECT".into()
        }
    );
}

#[test]
fn malformed_lines() {
    assert_eq!(err(b"\r\n"), ErrorKind::MissingTag);
    assert_eq!(err(b" NOOP\r\n"), ErrorKind::MissingTag);
    assert_eq!(err(b"+a NOOP\r\n"), ErrorKind::MissingTag);
    assert_eq!(err(b"a\r\n"), ErrorKind::MissingCommand);
    assert_eq!(err(b"a \r\n"), ErrorKind::MissingCommand);
    assert_eq!(err(b"a NOOP"), ErrorKind::Incomplete);
    assert_eq!(err(b"DONE\r\n"), ErrorKind::MissingCommand);
    let e = parse(b"a(b NOOP\r\n").unwrap_err();
    assert_eq!(e.tag.as_deref(), Some(&b"a"[..]));
    assert_eq!(e.kind, ErrorKind::MissingCommand);
}
