//! imap-meta's command decoder (framing, literals, limits) fed as reads
//! cut where the input says, with every event answered by the responder.
//! The second byte picks small limits, so they are reached too.
#![no_main]

use imap_meta::{Decoder, Event, Framer, Limits, Responder, ServerEntries, SessionState};
use libfuzzer_sys::fuzz_target;
use relay_fuzz::reads;

fuzz_target!(|data: &[u8]| {
    let [mode, pick, rest @ ..] = data else {
        return;
    };
    let limits = if pick & 1 == 0 {
        Limits::default()
    } else {
        Limits {
            max_line: usize::from(pick >> 1) + 1,
            max_literal: u64::from(pick >> 3),
            max_command: u64::from(*pick) * 2,
            max_entries: usize::from(pick >> 4),
            max_value: u64::from(pick >> 2),
        }
    };
    let state = if mode & 1 == 0 {
        SessionState::Authenticated
    } else {
        SessionState::NotAuthenticated
    };
    let entries = ServerEntries::new("https://relay.example.org")
        .and_then(|e| e.with_comment("Example server"))
        .expect("valid entries");
    let responder = Responder::new(entries, limits.clone());
    let mut decoder = Decoder::new(limits.clone());
    let mut framer = Framer::new(&limits);
    'reads: for read in reads(rest) {
        // The proxy's framer finds the same boundaries without buffering.
        let mut pos = 0;
        while pos < read.len() {
            match framer.step(&read[pos..]) {
                Ok((n, _)) => {
                    assert!(n > 0 && n <= read.len() - pos);
                    pos += n;
                }
                Err(_) => {
                    framer.reset();
                    break;
                }
            }
        }
        decoder.push(read);
        loop {
            match decoder.next_event() {
                Ok(Event::NeedMore(_)) => break,
                Ok(Event::Continuation { size }) => assert!(size <= limits.max_literal),
                Ok(Event::Command(c)) => {
                    if let Some(reply) = responder.respond(&c, state) {
                        assert!(reply.ends_with(b"\r\n"));
                    }
                }
                Ok(Event::Invalid(e)) => assert!(Responder::reject(&e).ends_with(b"\r\n")),
                Err(limit) => {
                    let reply = Responder::limit_exceeded(limit.tag.as_deref(), &limit.error);
                    assert!(reply.ends_with(b"\r\n"));
                    break 'reads;
                }
            }
        }
    }
});
