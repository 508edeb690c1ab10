//! Server-initiated pings (docs/protocol-0.35.md §5.3): a silent client gets a Ping
//! after 16-20 s; no Pong (or a wrong one) gets it disconnected about 5 s
//! later; the right Pong keeps it alive. Takes about 30 s.

use std::time::Duration;

use tests::{bounded, raw::RawRelay, start_relay, wire::ty};

/// Bound for the first server Ping (0.35: 15 s + 1-5 s jitter).
const PING_WITHIN: Duration = Duration::from_secs(40);
/// Bound for the close after an unanswered Ping (0.35: 5 s).
const CLOSE_WITHIN: Duration = Duration::from_secs(20);

async fn server_ping(c: &mut RawRelay) -> Vec<u8> {
    let (typ, payload) = c.expect_frame(PING_WITHIN).await.unwrap();
    assert_eq!(typ, ty::PING, "payload {payload:02x?}");
    assert_eq!(payload.len(), 8);
    payload
}

#[tokio::test]
async fn server_pings_silent_clients() {
    bounded(Duration::from_secs(90), async {
        let relay = start_relay(2);
        let addr = relay.addr();
        let ignore = tokio::spawn(async move {
            let (mut c, _) = RawRelay::handshake(addr).await.unwrap();
            server_ping(&mut c).await;
            c.expect_closed_silently(CLOSE_WITHIN).await.unwrap();
        });
        let wrong = tokio::spawn(async move {
            let (mut c, _) = RawRelay::handshake(addr).await.unwrap();
            let mut data = server_ping(&mut c).await;
            data[0] ^= 0xff;
            c.send_frame(ty::PONG, &data).await.unwrap();
            c.expect_closed_silently(CLOSE_WITHIN).await.unwrap();
        });
        let answer = tokio::spawn(async move {
            let (mut c, _) = RawRelay::handshake(addr).await.unwrap();
            let data = server_ping(&mut c).await;
            c.send_frame(ty::PONG, &data).await.unwrap();
            // Past the pong deadline: still connected and served.
            tokio::time::sleep(Duration::from_secs(7)).await;
            c.ping_pong(*b"alive!!!").await.unwrap();
        });
        ignore.await.expect("client ignoring pings");
        wrong.await.expect("client answering wrongly");
        answer.await.expect("client answering");
    })
    .await
}
