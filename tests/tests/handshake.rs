//! ClientInfo handshake over raw TCP (docs/protocol-0.35.md §4). Malformed
//! handshakes are in bad_input.rs.

use std::time::Duration;

use tests::{bounded, raw::RawRelay, start_relay, wire};

const T: Duration = Duration::from_secs(60);

/// The docs/protocol-0.35.md §4.1 test vector is accepted; nothing is sent back, so the
/// first frame after a following Ping is its Pong.
#[tokio::test]
async fn test_vector_client_info_accepted_silently() {
    bounded(T, async {
        let relay = start_relay(2);
        let sk = wire::signing_key([0x2a; 32]);
        let mut c = RawRelay::upgrade(relay.addr(), "/relay").await.unwrap();
        let info = wire::frame(wire::ty::CLIENT_INFO, &wire::client_info(&sk));
        assert_eq!(info.len(), 111);
        c.send_raw(&info).await.unwrap();
        c.send_frame(wire::ty::PING, &[0x2a; 8]).await.unwrap();
        let (typ, payload) = c.expect_frame(Duration::from_secs(5)).await.unwrap();
        assert_eq!(typ, wire::ty::PONG);
        assert_eq!(payload, [0x2a; 8]);
        // And again, with different data, to show the session is steady.
        c.ping_pong(*b"steady!!").await.unwrap();
    })
    .await
}

/// The handshake works through a byte-at-a-time write (any segmentation).
#[tokio::test]
async fn client_info_split_into_single_bytes() {
    bounded(T, async {
        let relay = start_relay(1);
        let sk = wire::random_signing_key();
        let mut c = RawRelay::upgrade(relay.addr(), "/relay").await.unwrap();
        let mut bytes = wire::frame(wire::ty::CLIENT_INFO, &wire::client_info(&sk));
        bytes.extend(wire::frame(wire::ty::PING, b"bytewise"));
        for b in bytes {
            c.send_raw(&[b]).await.unwrap();
        }
        let (typ, payload) = c.expect_frame(Duration::from_secs(5)).await.unwrap();
        assert_eq!(
            (typ, payload.as_slice()),
            (wire::ty::PONG, &b"bytewise"[..])
        );
    })
    .await
}

/// Frames sent in the same write as ClientInfo (after the 101) are processed.
#[tokio::test]
async fn frames_pipelined_after_client_info() {
    bounded(T, async {
        let relay = start_relay(2);
        let (mut b, b_sk) = RawRelay::handshake(relay.addr()).await.unwrap();
        let sk = wire::random_signing_key();
        let mut a = RawRelay::upgrade(relay.addr(), "/relay").await.unwrap();
        let mut bytes = wire::frame(wire::ty::CLIENT_INFO, &wire::client_info(&sk));
        bytes.extend(wire::frame(wire::ty::PING, b"first..."));
        bytes.extend(wire::frame(
            wire::ty::SEND_PACKET,
            &wire::send_packet_payload(&wire::public(&b_sk), b"hello b"),
        ));
        bytes.extend(wire::frame(wire::ty::PING, b"second.."));
        a.send_raw(&bytes).await.unwrap();
        for want in [b"first...", b"second.."] {
            let (typ, payload) = a.expect_frame(Duration::from_secs(5)).await.unwrap();
            assert_eq!((typ, payload.as_slice()), (wire::ty::PONG, &want[..]));
        }
        let (typ, payload) = b.expect_frame(Duration::from_secs(5)).await.unwrap();
        assert_eq!(typ, wire::ty::RECV_PACKET);
        assert_eq!(&payload[..32], &wire::public(&sk));
        assert_eq!(&payload[32..], b"hello b");
    })
    .await
}

/// No ClientInfo within 10 s: the server closes the connection silently.
#[tokio::test]
async fn no_client_info_times_out() {
    bounded(T, async {
        let relay = start_relay(1);
        let mut c = RawRelay::upgrade(relay.addr(), "/relay").await.unwrap();
        c.expect_closed_silently(Duration::from_secs(30))
            .await
            .unwrap();
    })
    .await
}

/// Handshakes that arrive together are checked together. Forty upgraded
/// connections send their ClientInfo at once, sixteen with a signature
/// that does not verify (a flipped bit, or signed by another key) and one
/// with a small-order key: the good ones all get in, every bad one is closed
/// silently, and the batches that held a bad one were counted and
/// checked again one by one.
#[tokio::test]
async fn bad_signatures_in_a_burst_of_handshakes_are_refused_alone() {
    use ed25519_dalek::Signer;
    bounded(T, async {
        let metrics =
            std::net::SocketAddr::from(([127, 0, 0, 1], tests::relay::free_port().unwrap()));
        let relay = tests::RelayProcess::start_with(tests::RelayOptions {
            shards: 1,
            metrics_addr: Some(metrics),
            ..Default::default()
        })
        .unwrap();
        let mut conns = Vec::new();
        for _ in 0..40 {
            conns.push(RawRelay::upgrade(relay.addr(), "/relay").await.unwrap());
        }
        let mut frames = Vec::new();
        for i in 0..40 {
            let sk = wire::random_signing_key();
            let mut p = wire::client_info(&sk);
            let good = match i % 5 {
                1 => {
                    p[41 + 3] ^= 0x40;
                    false
                }
                3 => {
                    let other = wire::random_signing_key();
                    p[41..105].copy_from_slice(&other.sign(&wire::VERSION_3_MSG).to_bytes());
                    false
                }
                _ if i == 20 => {
                    let mut key = [0u8; 32];
                    key[0] = 1;
                    p[9..41].copy_from_slice(&key);
                    false
                }
                _ => true,
            };
            frames.push((wire::frame(wire::ty::CLIENT_INFO, &p), good));
        }
        let bad = frames.iter().filter(|(_, good)| !good).count();
        assert_eq!(bad, 17);
        // All at once, so the relay reads them in the same turns.
        for (c, (f, _)) in conns.iter_mut().zip(&frames) {
            c.send_raw(f).await.unwrap();
        }
        for (i, (mut c, (_, good))) in conns.into_iter().zip(frames).enumerate() {
            if good {
                c.ping_pong(*b"in batch").await.unwrap_or_else(|e| {
                    panic!("good handshake {i} was refused: {e:#}");
                });
            } else {
                c.expect_closed_silently(Duration::from_secs(10))
                    .await
                    .unwrap_or_else(|e| panic!("bad handshake {i} was not closed: {e:#}"));
            }
        }
        if tests::skip_on_reference("batched signature checks") {
            return;
        }
        let m = tests::openmetrics::scrape(metrics).await.unwrap();
        let batched = m.value("uring_relay_handshake_signatures_batched_total");
        let failures = m.value("uring_relay_handshake_signature_batch_failures_total");
        eprintln!(
            "{} batches, {batched} signatures in them, {failures} failed",
            m.value("uring_relay_handshake_signature_batches_total")
        );
        assert!(batched >= 2.0, "no signatures were checked together");
        assert_eq!(
            m.value("uring_relay_handshake_failures_total"),
            bad as f64,
            "every bad handshake counted once"
        );
    })
    .await
}
