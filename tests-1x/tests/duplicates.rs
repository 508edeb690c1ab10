//! Duplicate endpoint ids (docs/protocol-1x.md §7, items 27-29): the newest
//! connection is active, the older stays open and inactive, told so in its
//! version's words, and comes back when the newer leaves.

use std::net::SocketAddr;
use std::time::Duration;

use relay_proto::Status;
use tests::relay::free_port;
use tests::{bounded, openmetrics, start_relay, RelayOptions, RelayProcess};
use tests_1x::raw::{public, signing_key, ty, Raw};

const T: Duration = Duration::from_secs(60);

fn datagram(dst: &[u8; 32], contents: &[u8]) -> Vec<u8> {
    let mut m = vec![ty::DATAGRAM];
    m.extend_from_slice(dst);
    m.push(0);
    m.extend_from_slice(contents);
    m
}

fn health(text: &str) -> Vec<u8> {
    let mut m = vec![ty::HEALTH];
    m.extend_from_slice(text.as_bytes());
    m
}

/// The inactive connections the metrics count.
async fn inactive(metrics: SocketAddr) -> f64 {
    let m = openmetrics::scrape(metrics).await.unwrap();
    m.samples_named("uring_relay_duplicate_key_connections")
        .iter()
        .filter(|s| s.labels.iter().any(|(k, v)| k == "family" && v == "1.x"))
        .map(|s| s.value)
        .sum()
}

async fn displaced_and_promoted(version: &str) {
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
    let relay = RelayProcess::start_with(RelayOptions {
        metrics_addr: Some(metrics),
        ..Default::default()
    })
    .unwrap();
    let addr = relay.addr();
    let (k, kc) = (signing_key(), signing_key());
    let mut c = Raw::handshake(addr, "iroh-relay-v2", &kc).await.unwrap();
    let mut first = Raw::handshake(addr, version, &k).await.unwrap();
    let mut second = Raw::handshake(addr, version, &k).await.unwrap();
    let (displaced, healthy) = match version {
        "iroh-relay-v2" => (vec![ty::STATUS, 1], vec![ty::STATUS, 0]),
        _ => (
            health(Status::SameEndpointIdConnected.v1_text().unwrap()),
            health(Status::Healthy.v1_text().unwrap()),
        ),
    };
    assert_eq!(first.expect_data().await.unwrap(), displaced);
    assert_eq!(inactive(metrics).await, 1.0);
    // Packets go to the newer connection; the older can still send.
    c.send(&datagram(&public(&k), b"to the newest"))
        .await
        .unwrap();
    assert_eq!(&second.expect_data().await.unwrap()[34..], b"to the newest");
    first
        .send(&datagram(&public(&kc), b"from the older"))
        .await
        .unwrap();
    assert_eq!(&c.expect_data().await.unwrap()[34..], b"from the older");
    let other = first.ping_pong(*b"inactive").await.unwrap();
    assert!(other.is_empty(), "the inactive one received {other:02x?}");
    // The newer leaves: the older is told it is healthy and receives again.
    drop(second);
    assert_eq!(first.expect_data().await.unwrap(), healthy);
    assert_eq!(inactive(metrics).await, 0.0);
    c.send(&datagram(&public(&k), b"back again")).await.unwrap();
    assert_eq!(&first.expect_data().await.unwrap()[34..], b"back again");
}

#[tokio::test]
async fn v2_status_frames() {
    bounded(T, displaced_and_promoted("iroh-relay-v2")).await
}

#[tokio::test]
async fn v1_health_texts() {
    bounded(T, displaced_and_promoted("iroh-relay-v1")).await
}

/// The real 0.91.0 client hears the Health text (and would drop the
/// connection on a Status frame, which v1 never gets).
#[tokio::test]
async fn real_v1_client_reads_its_health_text() {
    bounded(T, async {
        let relay = start_relay(2);
        let url: base_v1::RelayUrl = format!("http://127.0.0.1:{}", relay.port())
            .parse()
            .unwrap();
        let key = tests_1x::secret();
        let mut first = tests_1x::v1::Client::connect_key(&url, key).await.unwrap();
        let _second = tests_1x::v1::Client::connect_key(&url, key).await.unwrap();
        let msg = first.next(Duration::from_secs(10)).await.unwrap();
        let text = format!("{msg:?}");
        assert!(
            text.contains("Another endpoint connected with the same endpoint id"),
            "{text}"
        );
    })
    .await
}
