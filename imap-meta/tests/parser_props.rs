//! Property tests: no input makes the parser, decoder or responder panic.

use imap_meta::{
    parse_command, Boundary, Command, CommandKind, Decoder, Event, Framer, Limits, Responder,
    ServerEntries, SessionState,
};
use proptest::prelude::*;

fn responder() -> Responder {
    let entries = ServerEntries::new("http://127.0.0.1:3340")
        .and_then(|e| e.with_comment("multi\nline \"comment\""))
        .expect("valid entries");
    Responder::new(entries, Limits::DEFAULT)
}

fn small_limits() -> Limits {
    Limits {
        max_line: 64,
        max_literal: 32,
        max_command: 256,
        max_entries: 4,
        max_value: 16,
    }
}

/// IMAP-looking fragments, so random inputs reach deep into the grammar.
fn token() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"a1 ".to_vec()),
        Just(b"GETMETADATA ".to_vec()),
        Just(b"SETMETADATA ".to_vec()),
        Just(b"LOGIN ".to_vec()),
        Just(b"AUTHENTICATE PLAIN ".to_vec()),
        Just(b"ID ".to_vec()),
        Just(b"\"\" ".to_vec()),
        Just(b"(".to_vec()),
        Just(b")".to_vec()),
        Just(b" ".to_vec()),
        Just(b"NIL".to_vec()),
        Just(b"MAXSIZE 3".to_vec()),
        Just(b"DEPTH infinity".to_vec()),
        Just(b"/shared/comment".to_vec()),
        Just(b"/shared/vendor/deltachat".to_vec()),
        Just(b"/private/x".to_vec()),
        Just(b"\"q\\\"uoted\"".to_vec()),
        Just(b"{3}\r\n".to_vec()),
        Just(b"{2+}\r\n".to_vec()),
        Just(b"~{1}\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        prop::collection::vec(any::<u8>(), 0..4),
    ]
}

fn imapish() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(token(), 0..24).prop_map(|t| t.concat())
}

fn answer(r: &Responder, result: Result<Command, imap_meta::CommandError>) {
    match result {
        Ok(cmd) => {
            for state in [SessionState::NotAuthenticated, SessionState::Authenticated] {
                if let Some(reply) = r.respond(&cmd, state) {
                    assert!(reply.ends_with(b"\r\n"));
                }
            }
            if matches!(
                cmd.kind,
                CommandKind::GetMetadata(_) | CommandKind::SetMetadata(_)
            ) {
                assert!(r.respond(&cmd, SessionState::Authenticated).is_some());
            }
        }
        Err(e) => {
            let reply = Responder::reject(&e);
            assert!(reply.ends_with(b"\r\n"));
            assert_eq!(reply.iter().filter(|&&b| b == b'\n').count(), 1);
        }
    }
}

fn decode_all(decoder: &mut Decoder, r: &Responder, chunks: &[&[u8]]) {
    for chunk in chunks {
        decoder.push(chunk);
        loop {
            match decoder.next_event() {
                Ok(Event::NeedMore(_)) => break,
                Ok(Event::Continuation { .. }) => {}
                Ok(Event::Command(c)) => answer(r, Ok(c)),
                Ok(Event::Invalid(e)) => answer(r, Err(e)),
                Err(limit) => {
                    let reply = Responder::limit_exceeded(limit.tag.as_deref(), &limit.error);
                    assert!(reply.ends_with(b"\r\n"));
                    return;
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics(input in prop::collection::vec(any::<u8>(), 0..512)) {
        let r = responder();
        answer(&r, parse_command(&input, &Limits::DEFAULT));
        answer(&r, parse_command(&input, &small_limits()));
    }

    #[test]
    fn parse_imapish_never_panics(input in imapish()) {
        let r = responder();
        answer(&r, parse_command(&input, &Limits::DEFAULT));
        answer(&r, parse_command(&input, &small_limits()));
    }

    #[test]
    fn decoder_never_panics(input in imapish(), split in any::<prop::sample::Index>()) {
        let r = responder();
        let at = split.index(input.len() + 1);
        let (a, b) = input.split_at(at);
        decode_all(&mut Decoder::new(Limits::DEFAULT), &r, &[a, b]);
        decode_all(&mut Decoder::new(small_limits()), &r, &[a, b]);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        decode_all(&mut Decoder::new(small_limits()), &r, &bytes);
    }

    /// Chunking does not change where commands end.
    #[test]
    fn framer_is_chunking_independent(input in imapish(), chunk in 1usize..7) {
        let boundaries = |pieces: Vec<&[u8]>| {
            let mut f = Framer::new(&small_limits());
            let mut pos = 0usize;
            let mut ends = Vec::new();
            for piece in pieces {
                let mut rest = piece;
                while !rest.is_empty() {
                    match f.step(rest) {
                        Ok((n, b)) => {
                            pos += n;
                            if matches!(b, Boundary::LineEnd(None)) {
                                ends.push(pos);
                            }
                            rest = &rest[n..];
                        }
                        Err(e) => {
                            ends.push(usize::MAX);
                            return (ends, Some(e));
                        }
                    }
                }
            }
            (ends, None)
        };
        let whole = boundaries(vec![&input[..]]);
        let chunked = boundaries(input.chunks(chunk).collect());
        prop_assert_eq!(whole, chunked);
    }

    /// Valid requests survive a render/parse round trip.
    #[test]
    fn getmetadata_round_trip(
        names in prop::collection::vec("/(shared|private)(/[a-zA-Z0-9.-]{1,8}){0,3}", 1..5),
        max_size in prop::option::of(any::<u32>()),
        quoted in any::<bool>(),
    ) {
        let mut line = b"t1 GETMETADATA ".to_vec();
        if let Some(m) = max_size {
            line.extend_from_slice(format!("(MAXSIZE {m}) ").as_bytes());
        }
        line.extend_from_slice(b"\"\" (");
        for (i, n) in names.iter().enumerate() {
            if i > 0 {
                line.push(b' ');
            }
            if quoted {
                line.extend_from_slice(format!("\"{n}\"").as_bytes());
            } else {
                line.extend_from_slice(n.as_bytes());
            }
        }
        line.extend_from_slice(b")\r\n");
        let cmd = parse_command(&line, &Limits::DEFAULT).expect("valid command");
        let CommandKind::GetMetadata(g) = cmd.kind else {
            panic!("not GETMETADATA");
        };
        prop_assert_eq!(g.max_size, max_size);
        let got: Vec<String> = g.entries.iter().map(|e| e.as_str().to_owned()).collect();
        let want: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        prop_assert_eq!(got, want);
    }
}
