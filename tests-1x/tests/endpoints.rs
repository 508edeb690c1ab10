//! End to end (docs/protocol-1x.md §7, item 34): two iroh 1.4.1 endpoints whose
//! only path is our relay, over plain http://, exchange 1 MiB each way.

use std::time::Duration;

use iroh::endpoint::presets;
use iroh::{Endpoint, RelayConfig, RelayMap, RelayMode, SecretKey};
use tests::{bounded, start_relay};
use tests_1x::Url1x;

const ALPN: &[u8] = b"uring-relay/e2e-1x/1";
const SIZE: usize = 1024 * 1024;

async fn endpoint(url: &iroh::RelayUrl) -> Endpoint {
    let relay_map = RelayMap::from(RelayConfig::new(url.clone(), None));
    let mut nr = iroh::NetReportConfig::default();
    // The captive-portal probe goes to port 80, which is not ours.
    nr.captive_portal_check = false;
    Endpoint::builder(presets::Minimal)
        .secret_key(SecretKey::from_bytes(&tests_1x::secret()))
        .alpns(vec![ALPN.to_vec()])
        .relay_mode(RelayMode::Custom(relay_map))
        // No UDP sockets: no direct paths, the relay or nothing.
        .clear_ip_transports()
        .clear_address_lookup()
        .net_report_config(nr)
        .bind()
        .await
        .expect("bind endpoint")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_over_the_relay_1mib_each_way() {
    bounded(Duration::from_secs(90), async {
        let relay = start_relay(2);
        let url = relay.url_1x();
        let a = endpoint(&url).await;
        let b = endpoint(&url).await;
        // online() needs /ping and a working /relay.
        b.online().await;
        let from_a = tests::wire::pattern(SIZE, 0xa);
        let from_b = tests::wire::pattern(SIZE, 0xb);
        let server = {
            let b = b.clone();
            let (from_a, from_b) = (from_a.clone(), from_b.clone());
            tokio::spawn(async move {
                let conn = b.accept().await.expect("incoming").await.expect("accept");
                let (mut s, mut r) = conn.accept_bi().await.expect("accept_bi");
                let got = r.read_to_end(2 * SIZE).await.expect("B read");
                assert!(got == from_a, "B got {} different bytes", got.len());
                s.write_all(&from_b).await.expect("B write");
                s.finish().expect("B finish");
                conn.closed().await;
            })
        };
        let conn = a
            .connect(b.addr(), ALPN)
            .await
            .expect("connect via the relay");
        let (mut s, mut r) = conn.open_bi().await.expect("open_bi");
        s.write_all(&from_a).await.expect("A write");
        s.finish().expect("A finish");
        let got = r.read_to_end(2 * SIZE).await.expect("A read");
        assert!(got == from_b, "A got {} different bytes", got.len());
        assert!(
            conn.paths().iter().all(|p| p.is_relay()),
            "a path other than the relay"
        );
        conn.close(0u32.into(), b"done");
        server.await.expect("B task");
        a.close().await;
        b.close().await;
    })
    .await
}
