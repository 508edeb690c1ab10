//! Real iroh 0.35 endpoints whose only path is one relay: they reach each
//! other through it or not at all (and reconnect to it by themselves).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use iroh::{
    endpoint::{ConnectionType, PathSelection},
    Endpoint, NodeAddr, RelayMap, RelayMode, RelayNode, RelayProtocol, RelayUrl,
};

pub const ALPN: &[u8] = b"uring-relay/e2e/1";

/// An endpoint on loopback with `url` as its only relay, relay-only paths
/// and no discovery.
pub async fn relay_only_with(url: &RelayUrl, protocol: RelayProtocol) -> Endpoint {
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

/// As [`relay_only_with`] over the `iroh derp http` upgrade.
pub async fn relay_only(url: &RelayUrl) -> Endpoint {
    relay_only_with(url, RelayProtocol::Relay).await
}

/// A connects to B through the relay (its URL only, no addresses) and they
/// exchange `size` bytes each way over a bi stream; the path must be the
/// relay.
pub async fn exchange(a: &Endpoint, b: &Endpoint, url: &RelayUrl, size: usize) {
    // B must be connected to its home relay (the only one) to be reachable.
    let home = b.home_relay().initialized().await.expect("home relay");
    assert_eq!(&home, url);
    let from_a = crate::wire::pattern(size, 0xa);
    let from_b = crate::wire::pattern(size, 0xb);
    let b_task = {
        let b = b.clone();
        let from_a = from_a.clone();
        let from_b = from_b.clone();
        tokio::spawn(async move {
            let incoming = b.accept().await.expect("incoming");
            let conn = incoming.await.expect("accept connection");
            let (mut send, mut recv) = conn.accept_bi().await.expect("accept_bi");
            let got = recv.read_to_end(2 * size).await.expect("B read");
            assert!(got == from_a, "B received different bytes ({})", got.len());
            send.write_all(&from_b).await.expect("B write");
            send.finish().expect("B finish");
            // Wait until A has read everything and closed.
            let _ = conn.closed().await;
        })
    };
    let addr = NodeAddr::new(b.node_id()).with_relay_url(url.clone());
    let conn = a.connect(addr, ALPN).await.expect("connect via relay");
    let (mut send, mut recv) = conn.open_bi().await.expect("open_bi");
    send.write_all(&from_a).await.expect("A write");
    send.finish().expect("A finish");
    let got = recv.read_to_end(2 * size).await.expect("A read");
    assert!(got == from_b, "A received different bytes ({})", got.len());
    // RelayOnly sends via the relay only (and leaves the type at None, or
    // Relay); a direct or mixed path would mean the relay was not tested.
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
}
