//! 1.x client messages (a QUIC varint type, then the payload) and what the
//! server answers or forwards for them, which a 1.x client must read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relay_fuzz::client_reads;
use relay_fuzz::proto::v1x::frame::{
    decode_client, forwardable, split_message, ClientFrame, MAX_PAYLOAD,
};
use relay_fuzz::proto::v1x::{serve, varint, Version};
use relay_fuzz::proto::{Dialect, Event, ServerFrame, Status};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, msg)) = data.split_first() else {
        return;
    };
    let version = if mode & 1 == 0 {
        Version::V1
    } else {
        Version::V2
    };
    let dialect = Dialect::V1x(version);
    if let Some((v, n)) = varint::decode(msg) {
        assert!(n <= msg.len() && [1, 2, 4, 8].contains(&n));
        assert!(v < 1 << 62);
        let mut e = Vec::new();
        varint::encode(&mut e, v);
        assert!(e.len() <= n);
        assert_eq!(varint::decode(&e), Some((v, e.len())));
    }
    let Ok((ty, payload)) = split_message(msg) else {
        assert!(msg.is_empty() || varint::decode(msg).is_none());
        return;
    };
    let decoded = decode_client(ty, payload);
    let event = serve::on_frame(ty, payload);
    assert_eq!(
        event.clone().ok(),
        dialect.on_client_frame(ty, payload).ok()
    );
    let auth = matches!(decoded, Ok(ClientFrame::ClientAuth(_)));
    assert_eq!(decoded.is_err() || auth, event.is_err());
    if decoded.is_ok() {
        assert!(payload.len() <= MAX_PAYLOAD);
    }
    let mut out = Vec::new();
    match event {
        Ok(Event::Forward { dst, datagram, .. }) => {
            assert!(forwardable(&datagram));
            dialect.write_datagram(&mut out, dst, &datagram);
            assert!(out.len() <= Dialect::datagram_cost(datagram.contents.len()));
            let frames = client_reads(dialect, &out);
            let want = if datagram.segment.is_some() { 7 } else { 6 };
            assert_eq!(frames.len(), 1);
            assert_eq!(frames[0].0, want);
            assert!(frames[0].1.ends_with(datagram.contents));
            assert_eq!(&frames[0].1[..32], dst);
        }
        Ok(Event::Ping(d)) => {
            dialect.encode(&mut out, &ServerFrame::Pong(d));
            assert_eq!(client_reads(dialect, &out), vec![(10, d.to_vec())]);
        }
        _ => {}
    }
    // The server's own frames, with payloads from the input.
    out.clear();
    let key: [u8; 32] = std::array::from_fn(|i| payload.get(i).copied().unwrap_or(0));
    let text = std::str::from_utf8(payload).unwrap_or("");
    for f in [
        ServerFrame::Gone(&key),
        ServerFrame::Health(text),
        ServerFrame::Status(Status::Healthy),
        ServerFrame::Status(Status::RateLimited),
        ServerFrame::Restarting {
            reconnect_in_ms: ty as u32,
            try_for_ms: (ty >> 32) as u32,
        },
    ] {
        dialect.encode(&mut out, &f);
    }
    client_reads(dialect, &out);
});
