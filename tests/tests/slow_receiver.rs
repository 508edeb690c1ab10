//! A receiver that stops reading (docs/protocol-0.35.md §5.2, 14.12-13): a full queue
//! drops packets without blocking or disconnecting the sender, buffering stays
//! bounded, and the stalled receiver is cut off. A receiver that reads, however
//! slowly, is not.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use iroh_base::PublicKey;
use iroh_relay::http::Protocol;
use tests::{
    bounded,
    client::TestClient,
    flavor, http, openmetrics,
    raw::RawRelay,
    relay::free_port,
    skip_on_reference, start_relay,
    wire::{self, ty},
    Flavor, RelayOptions, RelayProcess,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Packets A sends; at 65,504 bytes each that is about 65 MB, far more than a
/// 512-packet queue (about 33 MB) plus a small receive buffer and the server's
/// send buffer can hold.
const FLOOD: u32 = 1000;
const SIZE: usize = 65_504;

#[tokio::test]
async fn flooded_stalled_receiver_dropped_sender_unaffected() {
    bounded(Duration::from_secs(120), async {
        let relay = start_relay(2);
        let url = relay.url();
        let b_sk = wire::random_signing_key();
        let stream = http::connect_small_rcvbuf(relay.addr(), 4096)
            .await
            .unwrap();
        let mut b = RawRelay::upgrade_on(stream, relay.addr(), "/relay")
            .await
            .unwrap()
            .finish_handshake(&b_sk)
            .await
            .unwrap();
        let b_id = PublicKey::from_bytes(&wire::public(&b_sk)).unwrap();

        let mut a = TestClient::connect(&url, Protocol::Relay).await.unwrap();
        let mut packet = wire::pattern(SIZE, 0x5a);
        for seq in 0..FLOOD {
            packet[..4].copy_from_slice(&seq.to_be_bytes());
            // Each send is bounded: a relay that back-pressures A fails here.
            a.send(b_id, Bytes::copy_from_slice(&packet))
                .await
                .unwrap_or_else(|e| panic!("send {seq}: {e:#}"));
        }
        // A is still served promptly.
        a.ping(*b"A is up!").await.unwrap();

        // Let the relay's write timeout (2 s in 0.35) on B expire.
        tokio::time::sleep(Duration::from_secs(8)).await;
        a.ping(*b"A still!").await.unwrap();

        // B was cut off: its buffered bytes, then EOF.
        let bytes = b.read_until_closed(Duration::from_secs(30)).await.unwrap();
        let mut pos = 0;
        let mut last: Option<u32> = None;
        let mut count = 0u32;
        while bytes.len() >= pos + 5 {
            let typ = bytes[pos];
            let len = u32::from_be_bytes([
                bytes[pos + 1],
                bytes[pos + 2],
                bytes[pos + 3],
                bytes[pos + 4],
            ]) as usize;
            if bytes.len() < pos + 5 + len {
                break; // a frame cut short by the disconnect
            }
            let payload = &bytes[pos + 5..pos + 5 + len];
            pos += 5 + len;
            if typ == ty::PING {
                continue;
            }
            assert_eq!(typ, ty::RECV_PACKET, "frame {count}");
            assert_eq!(payload.len(), 32 + SIZE, "frame {count}");
            assert_eq!(
                &payload[..32],
                a.node_id().as_bytes(),
                "src of frame {count}"
            );
            let seq = u32::from_be_bytes([payload[32], payload[33], payload[34], payload[35]]);
            if let Some(l) = last {
                assert!(seq > l, "seq {seq} after {l}: duplicated or reordered");
            }
            packet[..4].copy_from_slice(&seq.to_be_bytes());
            assert!(payload[32..] == packet[..], "payload of seq {seq} differs");
            last = Some(seq);
            count += 1;
        }
        eprintln!("B received {count} of {FLOOD} packets before being cut off");
        assert!(count > 0, "B received nothing");
        assert!(
            count < FLOOD,
            "all {FLOOD} packets were buffered for a receiver that did not read"
        );

        // The relay still forwards to a fresh receiver.
        let mut c = TestClient::connect(&url, Protocol::Websocket)
            .await
            .unwrap();
        a.send(c.node_id(), &b"after the flood"[..]).await.unwrap();
        let (src, data) = c.recv_packet().await.unwrap();
        assert_eq!(src, a.node_id());
        assert_eq!(&data[..], b"after the flood");
    })
    .await
}

/// How long A floods the trickling receiver: well past the 2 s write rule.
const TRICKLE_FLOOD: Duration = Duration::from_secs(6);

/// B reads 4 KiB every 100 ms (about 40 KB/s) while A floods it with 64 KiB
/// packets: B's writes take far longer than 2 s but keep moving, so B stays
/// connected; the excess is dropped and counted, and a pair beside them
/// gets every packet.
#[tokio::test]
async fn trickling_receiver_stays_connected_and_others_unaffected() {
    // Its 2 s timeout per frame write cuts off a reader this slow.
    if skip_on_reference("keeping a 40 KB/s reader of 64 KiB packets connected") {
        return;
    }
    bounded(Duration::from_secs(120), async {
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
        let relay = RelayProcess::start_with(RelayOptions {
            shards: 2,
            metrics_addr: Some(metrics),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("starting relay: {e:#}"));
        let url = relay.url();
        let b_sk = wire::random_signing_key();
        let stream = http::connect_small_rcvbuf(relay.addr(), 4096)
            .await
            .unwrap();
        let b = RawRelay::upgrade_on(stream, relay.addr(), "/relay")
            .await
            .unwrap()
            .finish_handshake(&b_sk)
            .await
            .unwrap();
        let b_id = PublicKey::from_bytes(&wire::public(&b_sk)).unwrap();
        let mut a = TestClient::connect(&url, Protocol::Relay).await.unwrap();
        let mut c = TestClient::connect(&url, Protocol::Relay).await.unwrap();
        let mut d = TestClient::connect(&url, Protocol::Websocket)
            .await
            .unwrap();

        // B trickles until the flood and the pair beside it are both done
        // (on a loaded machine the pair may outlast the flood): a pause in
        // its reading would rightly be a stall.
        let stop = Arc::new(AtomicBool::new(false));
        let stop_trickle = stop.clone();
        let trickle = tokio::spawn(async move {
            let mut b = b;
            let mut chunk = vec![0u8; 4096];
            let mut pending = Vec::new();
            let mut total = 0usize;
            while !stop_trickle.load(Ordering::Relaxed) {
                match b.stream.read(&mut chunk).await {
                    Ok(0) => panic!("B was disconnected after reading {total} bytes"),
                    Ok(n) => {
                        total += n;
                        pending.extend_from_slice(&chunk[..n]);
                        complete_frames(&mut pending);
                    }
                    Err(e) => panic!("B's read failed after {total} bytes: {e}"),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (b, pending, total)
        });

        let flood = async {
            let packet = Bytes::from(wire::pattern(65_000, 0x3c));
            let start = Instant::now();
            let mut sent = 0u32;
            while start.elapsed() < TRICKLE_FLOOD {
                a.send(b_id, packet.clone()).await.unwrap();
                sent += 1;
            }
            sent
        };
        let pair = async {
            for i in 0..200u32 {
                c.send(d.node_id(), Bytes::copy_from_slice(&i.to_be_bytes()))
                    .await
                    .unwrap();
                let (src, data) = d.recv_packet().await.unwrap();
                assert_eq!((src, &data[..]), (c.node_id(), &i.to_be_bytes()[..]));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let (sent, ()) = tokio::join!(flood, pair);
        stop.store(true, Ordering::Relaxed);
        let (mut b, mut pending, trickled) = trickle.await.unwrap();
        eprintln!("A sent {sent} packets of 65000 B; B trickled {trickled} bytes");
        assert!(
            (sent as usize) * 65_000 > 4 * trickled + (8 << 20),
            "the flood did not outrun the reader"
        );

        // B is still served: its Pong comes after whatever is still queued.
        b.stream
            .write_all(&wire::frame(ty::PING, b"trickled"))
            .await
            .unwrap();
        let mut chunk = vec![0u8; 65536];
        loop {
            let frames = complete_frames(&mut pending);
            if frames
                .iter()
                .any(|(typ, p)| *typ == ty::PONG && p == b"trickled")
            {
                break;
            }
            let n = tokio::time::timeout(Duration::from_secs(30), b.stream.read(&mut chunk))
                .await
                .expect("B's Pong did not come")
                .unwrap();
            assert!(n > 0, "B was closed before its Pong");
            pending.extend_from_slice(&chunk[..n]);
        }
        if flavor() == Flavor::Uring {
            let m = openmetrics::scrape(metrics).await.unwrap();
            assert_eq!(m.value("uring_relay_write_stall_disconnects_total"), 0.0);
            assert!(m.value("uring_relay_dropped_queue_full_total") > 0.0);
        }
    })
    .await
}

/// Takes the complete 5-byte-header frames off the front of `buf`; returns
/// the small ones (type and payload) and drops the payload of big ones.
fn complete_frames(buf: &mut Vec<u8>) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while buf.len() >= pos + 5 {
        let len =
            u32::from_be_bytes([buf[pos + 1], buf[pos + 2], buf[pos + 3], buf[pos + 4]]) as usize;
        assert!(len <= wire::MAX_FRAME_SIZE, "frame of {len} bytes");
        if buf.len() < pos + 5 + len {
            break;
        }
        if len <= 64 {
            out.push((buf[pos], buf[pos + 5..pos + 5 + len].to_vec()));
        }
        pos += 5 + len;
    }
    buf.drain(..pos);
    out
}
