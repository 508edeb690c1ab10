//! STUN (docs/protocol-0.35.md §8): the 28-byte Binding request an iroh 0.35
//! client sends gets a 32-byte Binding success response (IPv4) with the same
//! transaction id and an XOR-MAPPED-ADDRESS equal to the client's socket
//! address. Anything else gets no reply.

use std::{
    net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket as StdUdpSocket},
    time::Duration,
};

use iroh_relay::protos::stun as iroh_stun;
use tests::{bounded, openmetrics, relay::free_port, RelayOptions, RelayProcess};
use tokio::net::UdpSocket;

const T: Duration = Duration::from_secs(30);
const COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
/// How long "no reply" is waited for.
const SILENCE: Duration = Duration::from_millis(500);

/// A relay with STUN on a (just) free loopback UDP port.
fn start() -> (RelayProcess, SocketAddr) {
    start_with_metrics(None)
}

fn start_with_metrics(metrics: Option<SocketAddr>) -> (RelayProcess, SocketAddr) {
    let probe = StdUdpSocket::bind("127.0.0.1:0").unwrap();
    let stun = probe.local_addr().unwrap();
    drop(probe);
    let relay = RelayProcess::start_with(RelayOptions {
        shards: 1,
        stun_addr: Some(stun),
        metrics_addr: metrics,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("starting relay: {e:#}"));
    (relay, stun)
}

async fn client() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.unwrap()
}

/// Waits up to `limit` for one datagram from `from`.
async fn recv_from(sock: &UdpSocket, from: SocketAddr, limit: Duration) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 2048];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok((n, src))) if src == from => return Some(buf[..n].to_vec()),
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => panic!("recv_from: {e}"),
        }
    }
}

/// The request exactly as iroh 0.35 builds it (stun-rs, FINGERPRINT only).
fn iroh_request(tx: [u8; 12]) -> Vec<u8> {
    iroh_stun::request(iroh_stun::TransactionId::from(tx))
}

/// CRC-32 (IEEE), for FINGERPRINT.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
        }
    }
    !crc
}

/// A hand-built message of type `ty` carrying only a valid FINGERPRINT.
fn with_fingerprint(ty: u16, tx: [u8; 12]) -> Vec<u8> {
    let mut m = ty.to_be_bytes().to_vec();
    m.extend_from_slice(&8u16.to_be_bytes());
    m.extend_from_slice(&COOKIE);
    m.extend_from_slice(&tx);
    let fp = crc32(&m) ^ 0x5354_554e;
    m.extend_from_slice(&[0x80, 0x28, 0x00, 0x04]);
    m.extend_from_slice(&fp.to_be_bytes());
    m
}

/// Sends `req` until a reply arrives (the STUN socket may bind just after the
/// relay's TCP port is ready), bounded.
async fn request_with_retry(sock: &UdpSocket, stun: SocketAddr, req: &[u8]) -> Vec<u8> {
    for _ in 0..20 {
        sock.send_to(req, stun).await.unwrap();
        if let Some(r) = recv_from(sock, stun, SILENCE).await {
            return r;
        }
    }
    panic!("no STUN reply from {stun} after 20 tries");
}

/// The transaction id of a STUN message.
fn tx_of(msg: &[u8]) -> [u8; 12] {
    let mut tx = [0u8; 12];
    tx.copy_from_slice(&msg[8..20]);
    tx
}

/// Checks the response bytes by hand and returns the mapped address.
fn check_response(resp: &[u8], tx: [u8; 12]) -> SocketAddr {
    assert_eq!(
        resp.len(),
        32,
        "IPv4 Binding response is 32 bytes: {resp:02x?}"
    );
    assert_eq!(&resp[0..2], &[0x01, 0x01], "Binding success response");
    assert_eq!(&resp[2..4], &[0x00, 0x0c], "attribute length");
    assert_eq!(&resp[4..8], &COOKIE);
    assert_eq!(&resp[8..20], &tx, "transaction id");
    assert_eq!(&resp[20..22], &[0x00, 0x20], "XOR-MAPPED-ADDRESS");
    assert_eq!(&resp[22..24], &[0x00, 0x08]);
    assert_eq!(resp[24], 0);
    assert_eq!(resp[25], 0x01, "IPv4 family");
    let port = u16::from_be_bytes([resp[26], resp[27]]) ^ 0x2112;
    let mut ip = [0u8; 4];
    for (i, b) in ip.iter_mut().enumerate() {
        *b = resp[28 + i] ^ COOKIE[i];
    }
    let by_hand = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port));
    // And as the iroh 0.35 client itself parses it.
    let (got_tx, addr) = iroh_stun::parse_response(resp).expect("iroh parses the response");
    assert_eq!(got_tx.as_bytes(), &tx);
    assert_eq!(addr, by_hand);
    by_hand
}

#[tokio::test]
async fn binding_request_gets_xor_mapped_address() {
    bounded(T, async {
        let (_relay, stun) = start();
        let sock = client().await;
        let tx: [u8; 12] = rand::random();
        let req = iroh_request(tx);
        assert_eq!(req.len(), 28, "the iroh request is 28 bytes");
        // The hand-built form is byte-identical (so the fingerprint helper
        // used for the negative cases is right).
        assert_eq!(with_fingerprint(0x0001, tx), req);
        let resp = request_with_retry(&sock, stun, &req).await;
        assert_eq!(check_response(&resp, tx), sock.local_addr().unwrap());

        // A second socket and transaction: answers are per request.
        let sock2 = client().await;
        let tx2: [u8; 12] = rand::random();
        sock2.send_to(&iroh_request(tx2), stun).await.unwrap();
        let resp2 = recv_from(&sock2, stun, Duration::from_secs(5))
            .await
            .expect("reply to the second socket");
        assert_eq!(check_response(&resp2, tx2), sock2.local_addr().unwrap());

        // Several requests back to back each get their own answer (in any
        // order; a late duplicate answer to the first, retried request is
        // skipped).
        let txs: Vec<[u8; 12]> = (0..5).map(|_| rand::random()).collect();
        for tx in &txs {
            sock.send_to(&iroh_request(*tx), stun).await.unwrap();
        }
        let mut answered = Vec::new();
        while answered.len() < txs.len() {
            let r = recv_from(&sock, stun, Duration::from_secs(5))
                .await
                .expect("reply to a back-to-back request");
            let got = tx_of(&r);
            if got == tx {
                continue;
            }
            assert!(txs.contains(&got), "reply for an unknown transaction");
            assert!(!answered.contains(&got), "two replies for one transaction");
            assert_eq!(check_response(&r, got), sock.local_addr().unwrap());
            answered.push(got);
        }
    })
    .await
}

#[tokio::test]
async fn garbage_and_non_binding_get_no_reply() {
    bounded(T, async {
        let (_relay, stun) = start();
        let sock = client().await;
        // Up first (with retries).
        let tx: [u8; 12] = rand::random();
        let resp = request_with_retry(&sock, stun, &iroh_request(tx)).await;
        check_response(&resp, tx);

        let good = iroh_request([9; 12]);
        let mut bad_fingerprint = good.clone();
        bad_fingerprint[27] ^= 0x01;
        // Allocate (method 3) with a valid fingerprint.
        let not_binding = with_fingerprint(0x0003, [8; 12]);
        let mut bad_cookie = good.clone();
        bad_cookie[4] ^= 0xff;
        let mut top_bits = good.clone();
        top_bits[0] |= 0xc0;
        let cases: [(&str, Vec<u8>); 7] = [
            ("text", b"hello, is this STUN?".to_vec()),
            ("empty", Vec::new()),
            ("short", good[..19].to_vec()),
            ("bad fingerprint", bad_fingerprint),
            ("not a Binding", not_binding),
            ("bad cookie", bad_cookie),
            ("top bits set", top_bits),
        ];
        for (what, datagram) in cases {
            sock.send_to(&datagram, stun).await.unwrap();
            let deadline = tokio::time::Instant::now() + SILENCE;
            loop {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                match recv_from(&sock, stun, left).await {
                    None => break,
                    // A late duplicate answer to the first (retried) request.
                    Some(r) if r.len() >= 20 && tx_of(&r) == tx => continue,
                    Some(r) => panic!("{what}: got a reply {r:02x?}"),
                }
            }
        }
        // A Binding request without attributes is fine.
        let tx: [u8; 12] = rand::random();
        let mut bare = vec![0x00, 0x01, 0x00, 0x00];
        bare.extend_from_slice(&COOKIE);
        bare.extend_from_slice(&tx);
        sock.send_to(&bare, stun).await.unwrap();
        let r = recv_from(&sock, stun, Duration::from_secs(5))
            .await
            .expect("reply to a Binding request without attributes");
        assert_eq!(check_response(&r, tx), sock.local_addr().unwrap());

        // Still serving.
        let tx: [u8; 12] = rand::random();
        sock.send_to(&iroh_request(tx), stun).await.unwrap();
        let r = recv_from(&sock, stun, Duration::from_secs(5))
            .await
            .expect("reply after the garbage");
        assert_eq!(check_response(&r, tx), sock.local_addr().unwrap());
    })
    .await
}

/// The reference exposes `stun_*` counters on the metrics port (docs/protocol-0.35.md
/// section 10, checklist 15: "with the relayserver_* and stun_* names"):
/// `requests` counts every datagram, `ipv4_success` each IPv4 answer,
/// `bad_requests` each datagram that is not an acceptable Binding request.
#[tokio::test]
async fn stun_counters_in_metrics() {
    bounded(T, async {
        let metrics = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
        let (_relay, stun) = start_with_metrics(Some(metrics));
        let sock = client().await;
        // Retries (if the socket was not bound yet) are counted too, so
        // take the baseline after the first answer.
        let tx: [u8; 12] = rand::random();
        check_response(
            &request_with_retry(&sock, stun, &iroh_request(tx)).await,
            tx,
        );
        let before = openmetrics::scrape(metrics).await.unwrap();
        let names = [
            "stun_requests_total",
            "stun_ipv4_success_total",
            "stun_ipv6_success_total",
            "stun_bad_requests_total",
            "stun_failures_total",
        ];
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| before.get(n).is_none())
            .collect();
        assert!(missing.is_empty(), "metrics lack {missing:?}");

        let tx: [u8; 12] = rand::random();
        sock.send_to(&iroh_request(tx), stun).await.unwrap();
        let r = recv_from(&sock, stun, Duration::from_secs(5))
            .await
            .unwrap();
        check_response(&r, tx);
        sock.send_to(b"not stun at all, just text", stun)
            .await
            .unwrap();
        sock.send_to(&with_fingerprint(0x0003, [4; 12]), stun)
            .await
            .unwrap();
        // Wait for the two ignored datagrams to be counted.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let after = loop {
            let m = openmetrics::scrape(metrics).await.unwrap();
            if m.value("stun_requests_total") >= before.value("stun_requests_total") + 3.0
                || std::time::Instant::now() > deadline
            {
                break m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let delta = |n: &str| after.value(n) - before.value(n);
        assert_eq!(delta("stun_requests_total"), 3.0);
        assert_eq!(delta("stun_ipv4_success_total"), 1.0);
        assert_eq!(delta("stun_ipv6_success_total"), 0.0);
        assert_eq!(delta("stun_bad_requests_total"), 2.0);
        assert_eq!(delta("stun_failures_total"), 0.0);
    })
    .await
}
