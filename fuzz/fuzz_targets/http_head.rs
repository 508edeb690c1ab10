//! A request head and the route it takes: every reply must be a complete
//! HTTP response and never consume more than it was given.
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use relay_fuzz::http::{handle, parse_head, Outcome};
use relay_fuzz::session::check_http_reply;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(head)) = parse_head(data) {
        assert!(head.len <= data.len());
        let _ = head.keep_alive();
        let _ = head.header("upgrade");
    }
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    match handle(data, now) {
        Outcome::Partial => assert!(matches!(parse_head(data), Ok(None))),
        Outcome::Reply {
            reply, consumed, ..
        } => {
            assert!(consumed <= data.len());
            check_http_reply(&reply, false);
        }
        Outcome::Upgrade {
            reply, consumed, ..
        } => {
            assert!(consumed <= data.len());
            check_http_reply(&reply, true);
        }
    }
});
