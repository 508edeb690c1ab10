//! The RFC 6455 decoder on either side, with any message limit, fed as
//! reads cut where the input says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relay_fuzz::proto::handshake::MAX_FRAME;
use relay_fuzz::proto::ws::{self, Progress, Role, WsDecoder, WsItem, MAX_MESSAGE};
use relay_fuzz::reads;

/// Longest frame header (2 + 8 length + 4 mask bytes).
const HEADER_MAX: usize = 14;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let role = if mode & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    let limit = match (mode >> 1) & 3 {
        0 => MAX_MESSAGE,
        1 => MAX_FRAME,
        2 => 16,
        _ => 0,
    };
    let mut d = WsDecoder::new(role);
    d.set_limit(limit);
    let mut buf = Vec::new();
    'reads: for read in reads(rest) {
        buf.extend_from_slice(read);
        loop {
            let len = buf.len();
            let (item, consumed) = match d.decode(&mut buf) {
                Ok(Progress::Item { item, consumed }) => (item, consumed),
                Ok(Progress::Need(n)) => {
                    assert!(n > len, "asked for {n} bytes holding {len}");
                    assert!(n <= limit + HEADER_MAX, "asked for {n} bytes");
                    break;
                }
                Err(_) => break 'reads,
            };
            assert!(consumed <= len);
            match item {
                WsItem::Binary(r) => {
                    assert!(r.start <= r.end && r.end == consumed);
                    assert!(r.len() <= limit);
                }
                WsItem::Ping(r) => {
                    assert!(r.end == consumed && r.len() <= 125);
                    let mut pong = Vec::new();
                    ws::write_pong(&mut pong, &buf[r.clone()]);
                    let mut client = WsDecoder::new(Role::Client);
                    let got = client.decode(&mut pong);
                    assert_eq!(
                        got,
                        Ok(Progress::Item {
                            item: WsItem::Ignored,
                            consumed: pong.len()
                        })
                    );
                }
                WsItem::Reassembled => {
                    assert!(d.message().len() <= limit);
                    d.clear_message();
                }
                WsItem::Ignored => assert!(d.message().len() <= limit),
                WsItem::Close => break 'reads,
            }
            buf.drain(..consumed);
        }
    }
});
