//! A whole server connection (HTTP upgrade, handshake, relay frames)
//! through the relay's own sans-IO session, fed as reads cut where the
//! input says (see `relay_fuzz::reads`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use relay_fuzz::{reads, session::Connection};

fuzz_target!(|data: &[u8]| {
    let mut s = Connection::new();
    for read in reads(data) {
        s.feed(read);
    }
});
