//! A receiver that stops reading (PROTOCOL.md 5.2, 14.12-13): a full queue
//! drops packets without blocking or disconnecting the sender, buffering stays
//! bounded, and the stalled receiver is cut off.

use std::time::Duration;

use bytes::Bytes;
use iroh_base::PublicKey;
use iroh_relay::http::Protocol;
use tests::{
    bounded,
    client::TestClient,
    http,
    raw::RawRelay,
    start_relay,
    wire::{self, ty},
};

/// Packets A sends; at 65,504 bytes each that is about 65 MB, far more than a
/// 512-packet queue (about 33 MB) plus a small receive buffer and the server's
/// send buffer can hold.
const FLOOD: u32 = 1000;
const SIZE: usize = 65_504;

#[tokio::test]
async fn flooded_stalled_receiver_dropped_sender_unaffected() {
    bounded(Duration::from_secs(120), async {
        let relay = start_relay(2);
        let url = relay.url();
        let b_sk = wire::random_signing_key();
        let stream = http::connect_small_rcvbuf(relay.addr(), 4096)
            .await
            .unwrap();
        let mut b = RawRelay::upgrade_on(stream, relay.addr(), "/relay")
            .await
            .unwrap()
            .finish_handshake(&b_sk)
            .await
            .unwrap();
        let b_id = PublicKey::from_bytes(&wire::public(&b_sk)).unwrap();

        let mut a = TestClient::connect(&url, Protocol::Relay).await.unwrap();
        let mut packet = wire::pattern(SIZE, 0x5a);
        for seq in 0..FLOOD {
            packet[..4].copy_from_slice(&seq.to_be_bytes());
            // Each send is bounded: a relay that back-pressures A fails here.
            a.send(b_id, Bytes::copy_from_slice(&packet))
                .await
                .unwrap_or_else(|e| panic!("send {seq}: {e:#}"));
        }
        // A is still served promptly.
        a.ping(*b"A is up!").await.unwrap();

        // Let the relay's write timeout (2 s in 0.35) on B expire.
        tokio::time::sleep(Duration::from_secs(8)).await;
        a.ping(*b"A still!").await.unwrap();

        // B was cut off: its buffered bytes, then EOF.
        let bytes = b.read_until_closed(Duration::from_secs(30)).await.unwrap();
        let mut pos = 0;
        let mut last: Option<u32> = None;
        let mut count = 0u32;
        while bytes.len() >= pos + 5 {
            let typ = bytes[pos];
            let len = u32::from_be_bytes([
                bytes[pos + 1],
                bytes[pos + 2],
                bytes[pos + 3],
                bytes[pos + 4],
            ]) as usize;
            if bytes.len() < pos + 5 + len {
                break; // a frame cut short by the disconnect
            }
            let payload = &bytes[pos + 5..pos + 5 + len];
            pos += 5 + len;
            if typ == ty::PING {
                continue;
            }
            assert_eq!(typ, ty::RECV_PACKET, "frame {count}");
            assert_eq!(payload.len(), 32 + SIZE, "frame {count}");
            assert_eq!(
                &payload[..32],
                a.node_id().as_bytes(),
                "src of frame {count}"
            );
            let seq = u32::from_be_bytes([payload[32], payload[33], payload[34], payload[35]]);
            if let Some(l) = last {
                assert!(seq > l, "seq {seq} after {l}: duplicated or reordered");
            }
            packet[..4].copy_from_slice(&seq.to_be_bytes());
            assert!(payload[32..] == packet[..], "payload of seq {seq} differs");
            last = Some(seq);
            count += 1;
        }
        eprintln!("B received {count} of {FLOOD} packets before being cut off");
        assert!(count > 0, "B received nothing");
        assert!(
            count < FLOOD,
            "all {FLOOD} packets were buffered for a receiver that did not read"
        );

        // The relay still forwards to a fresh receiver.
        let mut c = TestClient::connect(&url, Protocol::Websocket)
            .await
            .unwrap();
        a.send(c.node_id(), &b"after the flood"[..]).await.unwrap();
        let (src, data) = c.recv_packet().await.unwrap();
        assert_eq!(src, a.node_id());
        assert_eq!(&data[..], b"after the flood");
    })
    .await
}
