//! End to end: two iroh 0.35 Endpoints whose only path is the relay complete a
//! QUIC connection and exchange 1 MiB each way over a bi stream.

use std::time::Duration;

use iroh::RelayProtocol;
use tests::{bounded, endpoint, start_relay};

const SIZE: usize = 1024 * 1024;

async fn exchange(protocol: RelayProtocol) {
    let relay = start_relay(2);
    let url = relay.url();
    let a = endpoint::relay_only_with(&url, protocol).await;
    let b = endpoint::relay_only_with(&url, protocol).await;
    endpoint::exchange(&a, &b, &url, SIZE).await;
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
