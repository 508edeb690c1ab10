//! STUN Binding requests: any answer is a Binding success for the same
//! transaction, for an IPv4 or an IPv6 source.
#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use relay_fuzz::proto::stun::respond;

fuzz_target!(|data: &[u8]| {
    let sources: [SocketAddr; 3] = [
        "192.0.2.1:32853".parse().unwrap(),
        "[2001:db8::1]:3478".parse().unwrap(),
        "[::ffff:198.51.100.7]:1".parse().unwrap(),
    ];
    for src in sources {
        if let Ok(reply) = respond(data, src) {
            let want = if src.ip().to_canonical().is_ipv4() {
                32
            } else {
                44
            };
            assert_eq!(reply.len(), want);
            assert_eq!(&reply[..2], &[0x01, 0x01]);
            assert_eq!(
                usize::from(u16::from_be_bytes([reply[2], reply[3]])),
                want - 20
            );
            assert_eq!(&reply[4..20], &data[4..20]);
        }
    }
});
