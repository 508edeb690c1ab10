//! ClientInfo handshake over raw TCP (docs/protocol-0.35.md §4). Malformed
//! handshakes are in bad_input.rs.

use std::time::Duration;

use tests::{bounded, raw::RawRelay, start_relay, wire};

const T: Duration = Duration::from_secs(60);

/// The docs/protocol-0.35.md §4.1 test vector is accepted; nothing is sent back, so the
/// first frame after a following Ping is its Pong.
#[tokio::test]
async fn test_vector_client_info_accepted_silently() {
    bounded(T, async {
        let relay = start_relay(2);
        let sk = wire::signing_key([0x2a; 32]);
        let mut c = RawRelay::upgrade(relay.addr(), "/relay").await.unwrap();
        let info = wire::frame(wire::ty::CLIENT_INFO, &wire::client_info(&sk));
        assert_eq!(info.len(), 111);
        c.send_raw(&info).await.unwrap();
        c.send_frame(wire::ty::PING, &[0x2a; 8]).await.unwrap();
        let (typ, payload) = c.expect_frame(Duration::from_secs(5)).await.unwrap();
        assert_eq!(typ, wire::ty::PONG);
        assert_eq!(payload, [0x2a; 8]);
        // And again, with different data, to show the session is steady.
        c.ping_pong(*b"steady!!").await.unwrap();
    })
    .await
}

/// The handshake works through a byte-at-a-time write (any segmentation).
#[tokio::test]
async fn client_info_split_into_single_bytes() {
    bounded(T, async {
        let relay = start_relay(1);
        let sk = wire::random_signing_key();
        let mut c = RawRelay::upgrade(relay.addr(), "/relay").await.unwrap();
        let mut bytes = wire::frame(wire::ty::CLIENT_INFO, &wire::client_info(&sk));
        bytes.extend(wire::frame(wire::ty::PING, b"bytewise"));
        for b in bytes {
            c.send_raw(&[b]).await.unwrap();
        }
        let (typ, payload) = c.expect_frame(Duration::from_secs(5)).await.unwrap();
        assert_eq!(
            (typ, payload.as_slice()),
            (wire::ty::PONG, &b"bytewise"[..])
        );
    })
    .await
}

/// Frames sent in the same write as ClientInfo (after the 101) are processed.
#[tokio::test]
async fn frames_pipelined_after_client_info() {
    bounded(T, async {
        let relay = start_relay(2);
        let (mut b, b_sk) = RawRelay::handshake(relay.addr()).await.unwrap();
        let sk = wire::random_signing_key();
        let mut a = RawRelay::upgrade(relay.addr(), "/relay").await.unwrap();
        let mut bytes = wire::frame(wire::ty::CLIENT_INFO, &wire::client_info(&sk));
        bytes.extend(wire::frame(wire::ty::PING, b"first..."));
        bytes.extend(wire::frame(
            wire::ty::SEND_PACKET,
            &wire::send_packet_payload(&wire::public(&b_sk), b"hello b"),
        ));
        bytes.extend(wire::frame(wire::ty::PING, b"second.."));
        a.send_raw(&bytes).await.unwrap();
        for want in [b"first...", b"second.."] {
            let (typ, payload) = a.expect_frame(Duration::from_secs(5)).await.unwrap();
            assert_eq!((typ, payload.as_slice()), (wire::ty::PONG, &want[..]));
        }
        let (typ, payload) = b.expect_frame(Duration::from_secs(5)).await.unwrap();
        assert_eq!(typ, wire::ty::RECV_PACKET);
        assert_eq!(&payload[..32], &wire::public(&sk));
        assert_eq!(&payload[32..], b"hello b");
    })
    .await
}

/// No ClientInfo within 10 s: the server closes the connection silently.
#[tokio::test]
async fn no_client_info_times_out() {
    bounded(T, async {
        let relay = start_relay(1);
        let mut c = RawRelay::upgrade(relay.addr(), "/relay").await.unwrap();
        c.expect_closed_silently(Duration::from_secs(30))
            .await
            .unwrap();
    })
    .await
}
