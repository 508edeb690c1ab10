//! Many clients at once: a 200-client ring and a 10-client all-to-all session.
//! With 2 shards most pairs are on different shards.

use std::{collections::BTreeSet, time::Duration};

use bytes::Bytes;
use iroh_base::NodeId;
use tests::{bounded, client::TestClient, start_relay};

const T: Duration = Duration::from_secs(180);

async fn connect_many(url: &iroh_base::RelayUrl, n: usize) -> Vec<TestClient> {
    tests::client::connect_many(url, n, 1)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// Client i sends to client i+1 (mod 200); every packet arrives intact.
#[tokio::test]
async fn ring_of_200_clients() {
    const N: usize = 200;
    const PER_CLIENT: usize = 2;
    bounded(T, async {
        let relay = start_relay(2);
        let mut clients = connect_many(&relay.url(), N).await;
        let ids: Vec<NodeId> = clients.iter().map(TestClient::node_id).collect();
        for k in 0..PER_CLIENT {
            for (i, c) in clients.iter_mut().enumerate() {
                let msg = format!("ring {i} -> {} #{k}", (i + 1) % N);
                c.send(ids[(i + 1) % N], Bytes::from(msg)).await.unwrap();
            }
        }
        for (i, c) in clients.iter_mut().enumerate() {
            let prev = (i + N - 1) % N;
            for k in 0..PER_CLIENT {
                let (src, data) = c
                    .recv_packet()
                    .await
                    .unwrap_or_else(|e| panic!("client {i}, packet {k}: {e:#}"));
                assert_eq!(src, ids[prev], "client {i}: src");
                assert_eq!(
                    &data[..],
                    format!("ring {prev} -> {i} #{k}").as_bytes(),
                    "client {i}"
                );
            }
        }
    })
    .await
}

async fn all_to_all(shards: usize) {
    const N: usize = 10;
    let relay = start_relay(shards);
    let mut clients = connect_many(&relay.url(), N).await;
    let ids: Vec<NodeId> = clients.iter().map(TestClient::node_id).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        for (j, dst) in ids.iter().enumerate() {
            if i != j {
                c.send(*dst, Bytes::from(format!("{i}->{j}")))
                    .await
                    .unwrap();
            }
        }
    }
    for (j, c) in clients.iter_mut().enumerate() {
        let mut got = BTreeSet::new();
        for _ in 0..N - 1 {
            let (src, data) = c
                .recv_packet()
                .await
                .unwrap_or_else(|e| panic!("client {j}: {e:#}"));
            let i = ids
                .iter()
                .position(|id| *id == src)
                .unwrap_or_else(|| panic!("client {j}: unknown src {src}"));
            assert_eq!(&data[..], format!("{i}->{j}").as_bytes());
            assert!(got.insert(i), "client {j}: duplicate from {i}");
        }
        let want: BTreeSet<usize> = (0..N).filter(|&i| i != j).collect();
        assert_eq!(got, want, "client {j}");
        // Nothing extra: the next message after a Ping is its Pong.
        c.ping(*b"no extra").await.unwrap();
        assert_eq!(
            c.pending_packets(),
            0,
            "client {j}: unexpected extra packets"
        );
    }
}

#[tokio::test]
async fn all_to_all_10_clients_1_shard() {
    bounded(T, all_to_all(1)).await
}

#[tokio::test]
async fn all_to_all_10_clients_2_shards() {
    bounded(T, all_to_all(2)).await
}
