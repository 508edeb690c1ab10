//! The WebSocket relay path with a hand-built WS client (docs/protocol-0.35.md §2.4, 3.2).

use std::time::Duration;

use tests::{
    bounded,
    raw::RawRelay,
    start_relay,
    wire::{self, ty},
    ws::{op, RawWs},
};

const T: Duration = Duration::from_secs(90);
const CLOSE: Duration = Duration::from_secs(10);

/// ClientInfo as one binary message; no bytes back; relay Ping gets its Pong.
#[tokio::test]
async fn ws_client_info_then_ping() {
    bounded(T, async {
        let relay = start_relay(2);
        let sk = wire::signing_key([0x2a; 32]);
        let mut c = RawWs::upgrade(relay.addr()).await.unwrap();
        let msg = wire::ws_relay_message(ty::CLIENT_INFO, &wire::client_info(&sk));
        assert_eq!(msg.len(), 107);
        c.send_frame(true, op::BINARY, &msg).await.unwrap();
        c.send_relay(ty::PING, &[0x2a; 8]).await.unwrap();
        let (opcode, m) = c
            .read_message(Duration::from_secs(5))
            .await
            .unwrap()
            .expect("open");
        assert_eq!(opcode, op::BINARY);
        assert_eq!(m, [&[ty::PONG][..], &[0x2a; 8]].concat());
    })
    .await
}

/// Text messages are ignored and WS pings answered with a websocket Pong
/// (the reference ignores them); the session keeps working. (The reference
/// stalls reading after a skipped message until its 16-20 s ping
/// timer fires, hence the long bound.)
#[tokio::test]
async fn ws_text_and_ping_ignored() {
    bounded(T, async {
        let relay = start_relay(1);
        let sk = wire::random_signing_key();
        let mut c = RawWs::handshake_with(relay.addr(), &sk).await.unwrap();
        c.send_frame(true, op::TEXT, b"hello relay").await.unwrap();
        c.send_frame(true, op::PING, b"ws-ping").await.unwrap();
        c.ping_pong(*b"after tx", Duration::from_secs(40))
            .await
            .unwrap();
    })
    .await
}

/// A binary message split over two fragments (ClientInfo) is reassembled.
#[tokio::test]
async fn ws_fragmented_client_info() {
    bounded(T, async {
        let relay = start_relay(1);
        let sk = wire::random_signing_key();
        let mut c = RawWs::upgrade(relay.addr()).await.unwrap();
        let msg = wire::ws_relay_message(ty::CLIENT_INFO, &wire::client_info(&sk));
        let (first, second) = msg.split_at(50);
        c.send_frame(false, op::BINARY, first).await.unwrap();
        c.send_frame(true, op::CONTINUATION, second).await.unwrap();
        c.ping_pong(*b"frag-ok!", Duration::from_secs(10))
            .await
            .unwrap();
    })
    .await
}

/// A WS Close from the client ends the session: the server closes the TCP
/// connection (sending at most a Close frame); the key can reconnect.
#[tokio::test]
async fn ws_close_ends_session() {
    bounded(T, async {
        let relay = start_relay(2);
        let sk = wire::random_signing_key();
        let mut c = RawWs::handshake_with(relay.addr(), &sk).await.unwrap();
        c.send_frame(true, op::CLOSE, &1000u16.to_be_bytes())
            .await
            .unwrap();
        let msgs = c.read_until_closed(CLOSE).await.unwrap();
        assert!(
            msgs.iter().all(|(o, _)| *o == op::CLOSE),
            "only a Close may precede the end: {msgs:?}"
        );
        let mut again = RawWs::handshake_with(relay.addr(), &sk).await.unwrap();
        again
            .ping_pong(*b"back!!!!", Duration::from_secs(10))
            .await
            .unwrap();
    })
    .await
}

/// An empty binary message is a protocol error: closed without a relay frame.
#[tokio::test]
async fn ws_empty_binary_message_closes() {
    bounded(T, async {
        let relay = start_relay(1);
        let sk = wire::random_signing_key();
        let mut c = RawWs::handshake_with(relay.addr(), &sk).await.unwrap();
        c.send_frame(true, op::BINARY, &[]).await.unwrap();
        let msgs = c.read_until_closed(CLOSE).await.unwrap();
        assert!(
            msgs.iter().all(|(o, _)| *o == op::CLOSE),
            "no relay frames expected: {msgs:?}"
        );
    })
    .await
}

/// WS to TCP forwarding byte for byte, including the 65,536-byte maximum;
/// 65,537 closes the WS sender (the 1 MiB TCP frame limit is not what applies).
#[tokio::test]
async fn ws_send_packet_limits() {
    bounded(T, async {
        let relay = start_relay(2);
        let a_sk = wire::random_signing_key();
        let mut a = RawWs::handshake_with(relay.addr(), &a_sk).await.unwrap();
        let (mut b, b_sk) = RawRelay::handshake(relay.addr()).await.unwrap();
        let dst = wire::public(&b_sk);
        for len in [0usize, 1, 1200, wire::MAX_PACKET_SIZE] {
            let packet = wire::pattern(len, len as u8);
            a.send_relay(ty::SEND_PACKET, &wire::send_packet_payload(&dst, &packet))
                .await
                .unwrap();
            let (typ, payload) = b.expect_frame(CLOSE).await.unwrap();
            assert_eq!(typ, ty::RECV_PACKET, "len {len}");
            assert_eq!(&payload[..32], &wire::public(&a_sk), "len {len}");
            assert!(payload[32..] == packet[..], "payload differs, len {len}");
        }
        let big = wire::pattern(wire::MAX_PACKET_SIZE + 1, 3);
        a.send_relay(ty::SEND_PACKET, &wire::send_packet_payload(&dst, &big))
            .await
            .unwrap();
        let msgs = a.read_until_closed(CLOSE).await.unwrap();
        assert!(
            msgs.iter().all(|(o, _)| *o == op::CLOSE),
            "no relay frames expected: {msgs:?}"
        );
        // B is unaffected and received no packet (a PeerGone for A is fine).
        for (typ, payload) in b.ping_pong_collect(*b"b alive!").await.unwrap() {
            assert_eq!(typ, ty::PEER_GONE, "B got {payload:02x?}");
            assert_eq!(payload, wire::public(&a_sk));
        }
    })
    .await
}

/// Before the handshake, fragments cannot grow one message past a
/// handshake's size: the relay closes the connection instead of holding up
/// to 1 MiB per unauthenticated connection for 10 s.
#[tokio::test]
async fn ws_pre_auth_fragments_are_bounded() {
    if tests::skip_on_reference("a bound on pre-auth websocket fragments") {
        return;
    }
    bounded(T, async {
        let relay = start_relay(1);
        let mut c = RawWs::upgrade(relay.addr()).await.unwrap();
        let chunk = [0x42u8; 1024];
        c.send_frame(false, op::BINARY, &chunk).await.unwrap();
        for _ in 0..8 {
            // The relay may close before every fragment is written.
            if c.send_frame(false, op::CONTINUATION, &chunk).await.is_err() {
                break;
            }
        }
        // Well before the 10 s handshake timeout would close it anyway.
        let msgs = c.read_until_closed(Duration::from_secs(5)).await.unwrap();
        assert!(
            msgs.iter().all(|(o, _)| *o == op::CLOSE),
            "no relay frames expected: {msgs:?}"
        );
    })
    .await
}
