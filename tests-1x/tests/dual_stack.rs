//! Both families at once on one relay: iroh 0.35 clients (both upgrades)
//! and iroh 1.x clients (v1 and v2), each family forwarding inside itself
//! and never into the other, even for the same key.

use std::time::Duration;

use bytes::Bytes;
use iroh_relay035::http::Protocol;
use tests::client::TestClient;
use tests::{bounded, start_relay};
use tests_1x::raw::{public, ty, Raw};
use tests_1x::{v1, v2, Url1x};

const T: Duration = Duration::from_secs(90);

fn datagram(dst: &[u8; 32], contents: &[u8]) -> Vec<u8> {
    let mut m = vec![ty::DATAGRAM];
    m.extend_from_slice(dst);
    m.push(0);
    m.extend_from_slice(contents);
    m
}

#[tokio::test]
async fn each_family_forwards_inside_itself() {
    bounded(T, async {
        let relay = start_relay(2);
        let url035 = relay.url();
        let url1x = relay.url_1x();
        let mut derp = TestClient::connect(&url035, Protocol::Relay).await.unwrap();
        let mut ws = TestClient::connect(&url035, Protocol::Websocket)
            .await
            .unwrap();
        let mut c2 = v2::Client::connect(&url1x).await.unwrap();
        let url_v1: base_v1::RelayUrl = url1x.to_string().parse().unwrap();
        let mut c1 = v1::Client::connect(&url_v1).await.unwrap();

        for round in 0..20u32 {
            let m = Bytes::from(format!("0.35 #{round}"));
            derp.send(ws.node_id(), m.clone()).await.unwrap();
            let (src, got) = ws.recv_packet().await.unwrap();
            assert_eq!((src, got), (derp.node_id(), m));
            let m = format!("1.x #{round}");
            let c1_id = iroh_base::PublicKey::from_bytes(c1.id().as_bytes()).unwrap();
            c2.send(c1_id, m.as_bytes()).await.unwrap();
            let (src, d) = c1.recv().await.unwrap();
            assert_eq!(
                (src.as_bytes(), &d.contents[..]),
                (c2.id().as_bytes(), m.as_bytes())
            );
        }

        // Across families: a 1.x datagram to a key connected only over 0.35
        // is dropped, and the reverse.
        let derp_key: [u8; 32] = *derp.node_id().as_bytes();
        c2.send(
            iroh_base::PublicKey::from_bytes(&derp_key).unwrap(),
            &b"to 0.35?"[..],
        )
        .await
        .unwrap();
        let c2_as_035 = iroh_base035::PublicKey::from_bytes(c2.id().as_bytes()).unwrap();
        derp.send(c2_as_035, &b"to 1.x?"[..]).await.unwrap();
        derp.ping(*b"no 1.x!!").await.unwrap();
        assert_eq!(derp.pending_packets(), 0, "0.35 received a 1.x datagram");
        let other = c2.ping_collect(*b"no 035!!").await.unwrap();
        assert!(other.is_empty(), "1.x received {other:?}");
    })
    .await
}

/// One key connected over both families: each family's packets reach its
/// own connection only, and neither connection displaces the other.
#[tokio::test]
async fn one_key_in_both_families() {
    bounded(T, async {
        let relay = start_relay(2);
        let secret = tests_1x::secret();
        let key035 = iroh_base035::SecretKey::from_bytes(&secret);
        let mut old = TestClient::connect_with_key(&relay.url(), Protocol::Relay, key035)
            .await
            .unwrap();
        let sk = ed25519_dalek::SigningKey::from_bytes(&secret);
        let mut new = Raw::handshake(relay.addr(), "iroh-relay-v2", &sk)
            .await
            .unwrap();
        let mut peer035 = TestClient::connect(&relay.url(), Protocol::Websocket)
            .await
            .unwrap();
        let kp = ed25519_dalek::SigningKey::from_bytes(&tests_1x::secret());
        let mut peer1x = Raw::handshake(relay.addr(), "iroh-relay-v1", &kp)
            .await
            .unwrap();

        peer035
            .send(old.node_id(), &b"over 0.35"[..])
            .await
            .unwrap();
        peer1x
            .send(&datagram(&public(&sk), b"over 1.x"))
            .await
            .unwrap();
        let (src, got) = old.recv_packet().await.unwrap();
        assert_eq!((src, &got[..]), (peer035.node_id(), &b"over 0.35"[..]));
        let m = new.expect_data().await.unwrap();
        assert_eq!(
            (m[0], &m[1..33], &m[34..]),
            (ty::RECV_DATAGRAM, &public(&kp)[..], &b"over 1.x"[..])
        );
        // Neither was told of a duplicate.
        old.ping(*b"0.35 ok!").await.unwrap();
        assert_eq!(old.pending_packets(), 0);
        assert!(new.ping_pong(*b"1.x ok!!").await.unwrap().is_empty());
    })
    .await
}
