//! Session lifecycle with the real client: duplicate keys (docs/protocol-0.35.md §5.6)
//! and PeerGone (5.4, uring-relay only).

use std::time::Duration;

use iroh_relay::{client::ReceivedMessage, http::Protocol};
use tests::{
    bounded,
    client::{random_key, TestClient, PROTOCOLS},
    skip_on_reference, start_relay,
};

const T: Duration = Duration::from_secs(120);

/// A second connection with the same key wins at once: packets go to it, the
/// old one is closed without a frame, and the new one keeps receiving after
/// the old one is gone.
#[tokio::test]
async fn same_key_newest_wins() {
    bounded(T, async {
        let relay = start_relay(2);
        let url = relay.url();
        for (old_p, new_p) in [
            (Protocol::Relay, Protocol::Relay),
            (Protocol::Websocket, Protocol::Websocket),
            (Protocol::Relay, Protocol::Websocket),
            (Protocol::Websocket, Protocol::Relay),
        ] {
            let ctx = format!("old {old_p:?}, new {new_p:?}");
            let key = random_key();
            let mut sender = TestClient::connect(&url, Protocol::Relay).await.unwrap();
            let mut old = TestClient::connect_with_key(&url, old_p, key.clone())
                .await
                .unwrap();
            sender.send(old.node_id(), &b"to old"[..]).await.unwrap();
            let (src, data) = old.recv_packet().await.unwrap();
            assert_eq!(
                (src, &data[..]),
                (sender.node_id(), &b"to old"[..]),
                "{ctx}"
            );

            let mut new = TestClient::connect_with_key(&url, new_p, key.clone())
                .await
                .unwrap();
            old.expect_closed(Duration::from_secs(10))
                .await
                .unwrap_or_else(|e| panic!("{ctx}: old connection: {e:#}"));
            drop(old);

            for i in 0..3u8 {
                sender.send(new.node_id(), vec![b'n', i]).await.unwrap();
                let (src, data) = new.recv_packet().await.unwrap();
                assert_eq!(src, sender.node_id(), "{ctx}");
                assert_eq!(&data[..], &[b'n', i], "{ctx}");
            }
            // Still registered after the old connection's cleanup had time to run.
            new.ping(*b"i remain").await.unwrap();
            sender.send(new.node_id(), &b"last"[..]).await.unwrap();
            let (_, data) = new.recv_packet().await.unwrap();
            assert_eq!(&data[..], b"last", "{ctx}");
        }
    })
    .await
}

/// B receives PeerGone(A) after A, which had sent to B, disconnects.
#[tokio::test]
async fn peer_gone_after_sender_leaves() {
    if skip_on_reference("PeerGone being sent") {
        return;
    }
    bounded(T, async {
        let relay = start_relay(2);
        let url = relay.url();
        for (pa, pb) in [
            (Protocol::Relay, Protocol::Relay),
            (Protocol::Websocket, Protocol::Relay),
            (Protocol::Relay, Protocol::Websocket),
        ] {
            let mut a = TestClient::connect(&url, pa).await.unwrap();
            let mut b = TestClient::connect(&url, pb).await.unwrap();
            let a_id = a.node_id();
            a.send(b.node_id(), &b"hi, then bye"[..]).await.unwrap();
            let (src, _) = b.recv_packet().await.unwrap();
            assert_eq!(src, a_id);
            a.close().await;
            loop {
                match b.next_message(Duration::from_secs(10)).await.unwrap() {
                    Some(ReceivedMessage::NodeGone(id)) => {
                        assert_eq!(id, a_id, "{pa:?}->{pb:?}: PeerGone for the wrong key");
                        break;
                    }
                    Some(ReceivedMessage::Ping(_)) | Some(ReceivedMessage::KeepAlive) => {}
                    other => panic!("{pa:?}->{pb:?}: expected PeerGone, got {other:?}"),
                }
            }
            // B is still served.
            b.ping(*b"after pg").await.unwrap();
        }
    })
    .await
}

/// A client that never sent to B does not cause a PeerGone to B; B's next
/// message after a Ping is the Pong.
#[tokio::test]
async fn no_peer_gone_without_prior_send() {
    bounded(T, async {
        let relay = start_relay(2);
        let url = relay.url();
        for p in PROTOCOLS {
            let a = TestClient::connect(&url, p).await.unwrap();
            let mut b = TestClient::connect(&url, Protocol::Relay).await.unwrap();
            a.close().await;
            // Let the relay process A's departure, observed by a third client.
            let mut c = TestClient::connect(&url, p).await.unwrap();
            c.ping(*b"settle!!").await.unwrap();
            b.ping(*b"quiet b?").await.unwrap();
            assert!(b.gone().is_empty(), "unexpected PeerGone {:?}", b.gone());
        }
    })
    .await
}
