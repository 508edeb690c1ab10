//! Packet forwarding with the real iroh-relay 0.35 client over both protocols
//! (docs/protocol-0.35.md §5.2, 5.3), relay with 2 shards.

use std::time::Duration;

use bytes::Bytes;
use iroh_relay::http::Protocol;
use tests::{
    bounded,
    client::{random_key, TestClient, PROTOCOLS},
    start_relay, wire,
};

const T: Duration = Duration::from_secs(120);
/// Payload sizes: empty, one byte, a typical QUIC datagram, the 0.35 client's cap.
const SIZES: [usize; 4] = [0, 1, 1200, 65_504];

#[tokio::test]
async fn forward_sizes_all_protocol_combinations() {
    bounded(T, async {
        let relay = start_relay(2);
        let url = relay.url();
        for sender in PROTOCOLS {
            for receiver in PROTOCOLS {
                let ctx = format!("{sender:?} -> {receiver:?}");
                // Several pairs so that (with random keys) both same-shard and
                // cross-shard routes are likely exercised.
                for pair in 0..3u8 {
                    let mut a = TestClient::connect(&url, sender).await.unwrap();
                    let mut b = TestClient::connect(&url, receiver).await.unwrap();
                    for (i, size) in SIZES.into_iter().enumerate() {
                        let packet = Bytes::from(wire::pattern(size, pair * 16 + i as u8));
                        a.send(b.node_id(), packet.clone()).await.unwrap();
                        let (src, data) = b.recv_packet().await.unwrap();
                        assert_eq!(src, a.node_id(), "{ctx} size {size}: src");
                        assert_eq!(data.len(), size, "{ctx}: length");
                        assert!(data == packet, "{ctx} size {size}: payload differs");
                    }
                    // And back.
                    b.send(a.node_id(), &b"reply"[..]).await.unwrap();
                    let (src, data) = a.recv_packet().await.unwrap();
                    assert_eq!(src, b.node_id(), "{ctx}: reply src");
                    assert_eq!(&data[..], b"reply", "{ctx}");
                }
            }
        }
    })
    .await
}

/// Packets between one pair arrive in order.
#[tokio::test]
async fn forward_burst_in_order() {
    bounded(T, async {
        let relay = start_relay(2);
        let url = relay.url();
        for (pa, pb) in [
            (Protocol::Relay, Protocol::Websocket),
            (Protocol::Websocket, Protocol::Relay),
        ] {
            let mut a = TestClient::connect(&url, pa).await.unwrap();
            let mut b = TestClient::connect(&url, pb).await.unwrap();
            // Below the 512-packet queue so nothing may be dropped.
            for i in 0..200u32 {
                a.send(b.node_id(), Bytes::from(i.to_be_bytes().to_vec()))
                    .await
                    .unwrap();
            }
            for i in 0..200u32 {
                let (src, data) = b.recv_packet().await.unwrap();
                assert_eq!(src, a.node_id());
                assert_eq!(&data[..], &i.to_be_bytes(), "packet {i} out of order");
            }
        }
    })
    .await
}

#[tokio::test]
async fn ping_pong_both_protocols() {
    bounded(T, async {
        let relay = start_relay(2);
        let url = relay.url();
        for p in PROTOCOLS {
            let mut c = TestClient::connect(&url, p).await.unwrap();
            for i in 0..5u8 {
                c.ping([i, 1, 2, 3, 4, 5, 6, 0xff - i]).await.unwrap();
            }
        }
    })
    .await
}

/// Sending to an unconnected key is dropped silently; the sender stays up and
/// can still reach others.
#[tokio::test]
async fn unknown_destination_dropped_sender_stays() {
    bounded(T, async {
        let relay = start_relay(2);
        let url = relay.url();
        for p in PROTOCOLS {
            let mut a = TestClient::connect(&url, p).await.unwrap();
            let mut b = TestClient::connect(&url, Protocol::Relay).await.unwrap();
            for _ in 0..5 {
                a.send(random_key().public(), &b"void"[..]).await.unwrap();
            }
            a.ping(*b"still up").await.unwrap();
            a.send(b.node_id(), &b"reachable"[..]).await.unwrap();
            let (src, data) = b.recv_packet().await.unwrap();
            assert_eq!(src, a.node_id());
            assert_eq!(&data[..], b"reachable");
        }
    })
    .await
}

/// Sending to yourself loops back as a RecvPacket (docs/protocol-0.35.md §5.2).
#[tokio::test]
async fn send_to_self_loops_back() {
    bounded(T, async {
        let relay = start_relay(2);
        let url = relay.url();
        for p in PROTOCOLS {
            let mut a = TestClient::connect(&url, p).await.unwrap();
            a.send(a.node_id(), &b"mirror"[..]).await.unwrap();
            let (src, data) = a.recv_packet().await.unwrap();
            assert_eq!(src, a.node_id());
            assert_eq!(&data[..], b"mirror");
        }
    })
    .await
}
