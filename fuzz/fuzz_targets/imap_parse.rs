//! imap-meta's parser on one complete command, and the responder's answer
//! to whatever parses, in both session states.
#![no_main]

use imap_meta::{parse_command, Limits, Responder, ServerEntries, SessionState};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let entries = ServerEntries::new("https://relay.example.org")
        .and_then(|e| e.with_comment("Example server"))
        .and_then(|e| e.with_turn("turn.example.org:3478"))
        .expect("valid entries")
        .with_max_smtp_recipients(50);
    let responder = Responder::new(entries, limits.clone());
    match parse_command(data, &limits) {
        Ok(cmd) => {
            for state in [SessionState::Authenticated, SessionState::NotAuthenticated] {
                if let Some(reply) = responder.respond(&cmd, state) {
                    assert!(reply.ends_with(b"\r\n"));
                    let tagged = [&cmd.tag[..], b" "].concat();
                    let last = reply[..reply.len() - 2]
                        .rsplit(|&b| b == b'\n')
                        .next()
                        .unwrap_or(&[]);
                    assert!(last.starts_with(&tagged), "reply ends untagged");
                }
            }
        }
        Err(e) => assert!(Responder::reject(&e).ends_with(b"\r\n")),
    }
});
