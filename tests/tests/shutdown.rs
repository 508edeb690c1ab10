//! Graceful shutdown: on SIGTERM uring-relay tells every client `Restarting`
//! and then closes (docs/protocol-0.35.md §5.7: the reference closes without a word).

use std::time::Duration;

use iroh_relay::{client::ReceivedMessage, http::Protocol};
use tests::{bounded, client::TestClient, raw::RawRelay, skip_on_reference, start_relay, wire::ty};

const T: Duration = Duration::from_secs(90);

#[tokio::test]
async fn sigterm_sends_restarting_then_closes() {
    if skip_on_reference("Restarting on SIGTERM") {
        return;
    }
    bounded(T, async {
        let mut relay = start_relay(2);
        let url = relay.url();
        let (mut raw, _) = RawRelay::handshake(relay.addr()).await.unwrap();
        let mut clients = Vec::new();
        for p in [Protocol::Relay, Protocol::Websocket] {
            clients.push(TestClient::connect(&url, p).await.unwrap());
        }
        relay.sigterm().unwrap();

        let (typ, payload) = raw.expect_frame(Duration::from_secs(30)).await.unwrap();
        assert_eq!(typ, ty::RESTARTING, "payload {payload:02x?}");
        assert_eq!(payload.len(), 8);
        let got = raw
            .read_until_closed(Duration::from_secs(30))
            .await
            .unwrap();
        assert!(got.is_empty(), "bytes after Restarting: {got:02x?}");

        for c in &mut clients {
            let msg = c.next_message(Duration::from_secs(30)).await.unwrap();
            assert!(
                matches!(msg, Some(ReceivedMessage::ServerRestarting { .. })),
                "{:?}: expected Restarting, got {msg:?}",
                c.protocol
            );
            c.expect_closed(Duration::from_secs(30)).await.unwrap();
        }
        let exited = tokio::task::spawn_blocking(move || {
            let exited = relay.wait_exit(Duration::from_secs(30));
            (relay, exited)
        })
        .await
        .unwrap();
        assert!(exited.1, "relay still running 30 s after SIGTERM");
    })
    .await
}
