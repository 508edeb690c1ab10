//! Relaying between 1.x clients (docs/protocol-1x.md §7, items 19-26): the
//! datagram forms, the size limits (without 1.4.1's hazards), what ends a
//! connection, websocket control frames, and EndpointGone.

use std::net::SocketAddr;
use std::time::Duration;

use tests::ws::op;
use tests::{bounded, start_relay};
use tests_1x::raw::{frame, public, signing_key, ty, Raw};

const T: Duration = Duration::from_secs(120);
const V2: &str = "iroh-relay-v2";

async fn pair(addr: SocketAddr) -> (Raw, [u8; 32], Raw, [u8; 32]) {
    let (ka, kb) = (signing_key(), signing_key());
    let a = Raw::handshake(addr, V2, &ka).await.unwrap();
    let b = Raw::handshake(addr, V2, &kb).await.unwrap();
    (a, public(&ka), b, public(&kb))
}

fn datagram(dst: &[u8; 32], ecn: u8, contents: &[u8]) -> Vec<u8> {
    let mut m = vec![ty::DATAGRAM];
    m.extend_from_slice(dst);
    m.push(ecn);
    m.extend_from_slice(contents);
    m
}

#[tokio::test]
async fn datagram_forms() {
    bounded(T, async {
        let relay = start_relay(2);
        let (mut a, ka, mut b, kb) = pair(relay.addr()).await;
        a.send(&datagram(&kb, 0xff, b"Hello World!")).await.unwrap();
        let mut want = vec![ty::RECV_DATAGRAM];
        want.extend_from_slice(&ka);
        want.push(0x03); // ECN keeps two bits
        want.extend_from_slice(b"Hello World!");
        assert_eq!(b.expect_data().await.unwrap(), want);

        let mut batch = vec![ty::DATAGRAM_BATCH];
        batch.extend_from_slice(&kb);
        batch.extend_from_slice(&[0x01, 0x00, 0x06]);
        batch.extend_from_slice(b"Hello World!");
        a.send(&batch).await.unwrap();
        let mut want = vec![ty::RECV_DATAGRAM_BATCH];
        want.extend_from_slice(&ka);
        want.extend_from_slice(&[0x01, 0x00, 0x06]);
        want.extend_from_slice(b"Hello World!");
        assert_eq!(b.expect_data().await.unwrap(), want);

        // Segment size 0 goes on as a single datagram.
        batch[34..36].copy_from_slice(&[0, 0]);
        a.send(&batch).await.unwrap();
        let got = b.expect_data().await.unwrap();
        assert_eq!(
            (got[0], &got[34..]),
            (ty::RECV_DATAGRAM, &b"Hello World!"[..])
        );

        // Non-minimal type encodings are type 4 all the same.
        for prefix in [&[0x40, 0x04][..], &[0x80, 0, 0, 0x04]] {
            let mut m = prefix.to_vec();
            m.extend_from_slice(&datagram(&kb, 0, b"varint")[1..]);
            a.send(&m).await.unwrap();
            let got = b.expect_data().await.unwrap();
            assert_eq!(&got[34..], b"varint", "{prefix:02x?}");
        }
        // To itself: loops back. To a key nobody holds: dropped, A stays.
        a.send(&datagram(&ka, 0, b"self")).await.unwrap();
        assert_eq!(&a.expect_data().await.unwrap()[34..], b"self");
        a.send(&datagram(&public(&signing_key()), 0, b"nobody"))
            .await
            .unwrap();
        a.ping_pong(*b"a stays!").await.unwrap();
    })
    .await
}

#[tokio::test]
async fn size_limits_never_cost_the_receiver_its_connection() {
    bounded(T, async {
        let relay = start_relay(2);
        let (mut a, _, mut b, kb) = pair(relay.addr()).await;
        // Empty contents and 65,503 bytes: 1.4.1 drops the *receiver*;
        // here the datagram is dropped and both stay.
        for len in [0usize, 65_503] {
            a.send(&datagram(&kb, 0, &vec![7; len])).await.unwrap();
            a.ping_pong(*b"a alive!").await.unwrap();
            let other = b.ping_pong(*b"b alive!").await.unwrap();
            assert!(other.is_empty(), "{len}: B got {} messages", other.len());
        }
        // The largest that fits arrives as a 65,536-byte message.
        a.send(&datagram(&kb, 0, &vec![7; 65_502])).await.unwrap();
        assert_eq!(b.expect_data().await.unwrap().len(), 65_536);
        // One byte more than the protocol allows: the sender is closed.
        a.send(&datagram(&kb, 0, &vec![7; 65_504])).await.unwrap();
        a.until_closed(Duration::from_secs(10)).await.unwrap();
        b.ping_pong(*b"b stays!").await.unwrap();
    })
    .await
}

#[tokio::test]
async fn frames_that_end_the_connection() {
    bounded(T, async {
        let relay = start_relay(2);
        let addr = relay.addr();
        let mut invalid_point = [0u8; 32];
        invalid_point[0] = 2;
        let mut cases: Vec<(String, Vec<u8>)> = vec![
            ("empty message".into(), vec![]),
            ("Ping of 7 bytes".into(), frame(ty::PING, &[0; 7])),
            (
                "datagram with a 31-byte key".into(),
                frame(ty::DATAGRAM, &[1; 31]),
            ),
            (
                "datagram to an invalid point".into(),
                datagram(&invalid_point, 0, b"x"),
            ),
            (
                "batch too short".into(),
                frame(ty::DATAGRAM_BATCH, &[1; 34]),
            ),
            ("unknown type 14".into(), frame(14, &[])),
            (
                "message over 1 MiB".into(),
                vec![ty::DATAGRAM; 1024 * 1024 + 2],
            ),
        ];
        for t in [0u8, 1, 2, 3, 6, 7, 8, 11, 12, 13] {
            cases.push((format!("type {t}"), frame(t, &[0; 8])));
        }
        for (what, m) in cases {
            let mut c = Raw::handshake(addr, V2, &signing_key()).await.unwrap();
            // The relay may refuse an oversized message from its header
            // and close while the rest is still being written.
            if c.send(&m).await.is_err() {
                continue;
            }
            c.until_closed(Duration::from_secs(10))
                .await
                .unwrap_or_else(|e| panic!("{what}: {e:#}"));
        }
    })
    .await
}

#[tokio::test]
async fn websocket_control_frames() {
    bounded(T, async {
        let relay = start_relay(1);
        let mut c = Raw::handshake(relay.addr(), V2, &signing_key())
            .await
            .unwrap();
        c.ws.send_frame(true, op::TEXT, b"a text message")
            .await
            .unwrap();
        c.ws.send_frame(true, op::PING, b"ws-ping").await.unwrap();
        let (opcode, payload) = loop {
            let f = c
                .next_frame(Duration::from_secs(10))
                .await
                .unwrap()
                .unwrap();
            if f.0 != op::BINARY {
                break f;
            }
        };
        assert_eq!((opcode, &payload[..]), (op::PONG, &b"ws-ping"[..]));
        c.ping_pong(*b"still up").await.unwrap();
        c.ws.send_frame(true, op::CLOSE, &[3, 232]).await.unwrap();
        c.until_closed(Duration::from_secs(10)).await.unwrap();
    })
    .await
}

#[tokio::test]
async fn endpoint_gone_after_the_last_connection_leaves() {
    bounded(T, async {
        let relay = start_relay(2);
        let addr = relay.addr();
        let ka = signing_key();
        let kb = signing_key();
        let mut b = Raw::handshake(addr, V2, &kb).await.unwrap();
        let mut a1 = Raw::handshake(addr, V2, &ka).await.unwrap();
        a1.send(&datagram(&public(&kb), 0, b"hi")).await.unwrap();
        assert_eq!(&b.expect_data().await.unwrap()[34..], b"hi");
        // A second connection for A: the first goes inactive; when the
        // second leaves, the first is promoted and B hears nothing.
        let a2 = Raw::handshake(addr, V2, &ka).await.unwrap();
        drop(a2);
        let got = a1.expect_data().await.unwrap();
        assert_eq!(got[0], ty::STATUS, "{got:02x?}");
        let got = a1.expect_data().await.unwrap();
        assert_eq!(got, [ty::STATUS, 0], "Healthy after promotion");
        let other = b.ping_pong(*b"no gone!").await.unwrap();
        assert!(other.is_empty(), "{other:02x?}");
        // The last connection leaves: EndpointGone(A).
        drop(a1);
        let mut want = vec![ty::ENDPOINT_GONE];
        want.extend_from_slice(&public(&ka));
        assert_eq!(b.expect_data().await.unwrap(), want);
    })
    .await
}
