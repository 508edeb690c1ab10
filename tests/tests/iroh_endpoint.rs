//! End to end: two iroh 0.35 Endpoints whose only path is the relay complete a
//! QUIC connection and exchange 1 MiB each way over a bi stream.

use std::{
    net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6},
    time::Duration,
};

use iroh::{
    endpoint::{ConnectionType, PathSelection},
    Endpoint, NodeAddr, RelayMap, RelayMode, RelayNode, RelayProtocol, RelayUrl,
};
use tests::{bounded, start_relay, wire};

const ALPN: &[u8] = b"uring-relay/e2e/1";
const SIZE: usize = 1024 * 1024;

async fn endpoint(url: &RelayUrl, protocol: RelayProtocol) -> Endpoint {
    let node = RelayNode {
        url: url.clone(),
        stun_only: false,
        // STUN is disabled on the relay; nothing listens here.
        stun_port: 3478,
        quic: None,
    };
    Endpoint::builder()
        .relay_mode(RelayMode::Custom(RelayMap::from(node)))
        .relay_conn_protocol(protocol)
        .path_selection(PathSelection::RelayOnly)
        .clear_discovery()
        .alpns(vec![ALPN.to_vec()])
        .bind_addr_v4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .bind_addr_v6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 0, 0, 0))
        .bind()
        .await
        .expect("bind endpoint")
}

async fn exchange(protocol: RelayProtocol) {
    let relay = start_relay(2);
    let url = relay.url();
    let a = endpoint(&url, protocol).await;
    let b = endpoint(&url, protocol).await;
    // B must be connected to its home relay (the only one) to be reachable.
    let home = b.home_relay().initialized().await.expect("home relay");
    assert_eq!(home, url);

    let from_a = wire::pattern(SIZE, 0xa);
    let from_b = wire::pattern(SIZE, 0xb);

    let b_task = {
        let b = b.clone();
        let from_a = from_a.clone();
        let from_b = from_b.clone();
        tokio::spawn(async move {
            let incoming = b.accept().await.expect("incoming");
            let conn = incoming.await.expect("accept connection");
            let (mut send, mut recv) = conn.accept_bi().await.expect("accept_bi");
            let got = recv.read_to_end(2 * SIZE).await.expect("B read");
            assert!(got == from_a, "B received different bytes ({})", got.len());
            send.write_all(&from_b).await.expect("B write");
            send.finish().expect("B finish");
            // Wait until A has read everything and closed.
            let _ = conn.closed().await;
        })
    };

    // Only the relay URL: no direct addresses.
    let addr = NodeAddr::new(b.node_id()).with_relay_url(url.clone());
    let conn = a.connect(addr, ALPN).await.expect("connect via relay");
    let (mut send, mut recv) = conn.open_bi().await.expect("open_bi");
    send.write_all(&from_a).await.expect("A write");
    send.finish().expect("A finish");
    let got = recv.read_to_end(2 * SIZE).await.expect("A read");
    assert!(got == from_b, "A received different bytes ({})", got.len());

    // RelayOnly sends via the relay only (and leaves the type at None, or Relay);
    // a direct or mixed path would mean the test did not test the relay.
    let ct = a.conn_type(b.node_id()).expect("conn type").get().ok();
    assert!(
        matches!(
            ct,
            Some(ConnectionType::None) | Some(ConnectionType::Relay(_))
        ),
        "unexpected path {ct:?}"
    );

    conn.close(0u32.into(), b"done");
    b_task.await.expect("B task");
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_over_relay_1mib_each_way() {
    bounded(Duration::from_secs(60), exchange(RelayProtocol::Relay)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_over_websocket_relay_1mib_each_way() {
    bounded(Duration::from_secs(60), exchange(RelayProtocol::Websocket)).await
}
