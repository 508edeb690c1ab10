//! Malformed input over raw TCP (docs/protocol-0.35.md §3.3, 4.2, 14.9-10): each case
//! closes only the offending connection; ignorable frames are ignored; and the
//! relay keeps serving after all of them (last test).

use std::{net::SocketAddr, time::Duration};

use anyhow::{ensure, Context, Result};
use ed25519_dalek::Signer;
use tests::{
    bounded,
    client::{TestClient, PROTOCOLS},
    raw::RawRelay,
    start_relay,
    wire::{self, ty},
};

const T: Duration = Duration::from_secs(90);
/// Generous bound for "the server closes the connection".
const CLOSE: Duration = Duration::from_secs(10);

/// Every case name, in the order the survival test runs them.
const CASES: &[&str] = &[
    "bad_signature",
    "bad_magic",
    "small_order_key",
    "undecodable_key",
    "short_client_info",
    "packet_before_handshake",
    "version_4",
    "oversized_frame_header",
    "unknown_frame_types",
    "wrong_size_frames",
    "health_from_client",
    "short_send_packet",
    "send_packet_size_limits",
    "send_packet_invalid_dst",
    "ignored_frames_survive",
];

async fn run_case(name: &str, addr: SocketAddr) -> Result<()> {
    match name {
        "bad_signature" => {
            let sk = wire::random_signing_key();
            let mut p = wire::client_info(&sk);
            p[41 + 10] ^= 0x01;
            rejected_handshake(addr, &p).await
        }
        "bad_magic" => {
            let sk = wire::random_signing_key();
            let mut p = wire::client_info(&sk);
            p[8] = 0x92; // RELAY🔒
            rejected_handshake(addr, &p).await
        }
        "small_order_key" => {
            // The identity point (small order): rejected by verify_strict.
            let mut key = [0u8; 32];
            key[0] = 1;
            let sig = wire::random_signing_key().sign(&wire::VERSION_3_MSG);
            let p = wire::client_info_payload_raw(
                &wire::MAGIC,
                &key,
                &sig.to_bytes(),
                &wire::VERSION_3_MSG,
            );
            rejected_handshake(addr, &p).await
        }
        "undecodable_key" => {
            let sig = wire::random_signing_key().sign(&wire::VERSION_3_MSG);
            let p = wire::client_info_payload_raw(
                &wire::MAGIC,
                &wire::invalid_point(),
                &sig.to_bytes(),
                &wire::VERSION_3_MSG,
            );
            rejected_handshake(addr, &p).await
        }
        "short_client_info" => {
            let sk = wire::random_signing_key();
            let p = wire::client_info(&sk);
            rejected_handshake(addr, &p[..41]).await
        }
        "packet_before_handshake" => {
            let dst = wire::public(&wire::random_signing_key());
            let mut c = RawRelay::upgrade(addr, "/relay").await?;
            c.send_frame(ty::SEND_PACKET, &wire::send_packet_payload(&dst, b"early"))
                .await?;
            c.expect_closed_silently(CLOSE).await
        }
        "version_4" => {
            // Correctly signed, but version 4: closed without a Health frame.
            let sk = wire::random_signing_key();
            let p = wire::client_info_payload(&sk, &[0x04]);
            rejected_handshake(addr, &p).await
        }
        "oversized_frame_header" => {
            let (mut c, _) = RawRelay::handshake(addr).await?;
            // Only the header; the server must not wait for 1 MiB of payload.
            c.send_raw(&wire::frame_header(
                ty::SEND_PACKET,
                (wire::MAX_FRAME_SIZE + 1) as u32,
            ))
            .await?;
            c.expect_closed_silently(CLOSE).await
        }
        "unknown_frame_types" => {
            for typ in [0u8, 1, 3, 9, 10, 11, 16, 255] {
                let (mut c, _) = RawRelay::handshake(addr).await?;
                c.send_frame(typ, &[1, 2, 3, 4]).await?;
                c.expect_closed_silently(CLOSE)
                    .await
                    .with_context(|| format!("frame type {typ}"))?;
            }
            Ok(())
        }
        "wrong_size_frames" => {
            let key = wire::public(&wire::random_signing_key());
            let cases: [(&str, u8, Vec<u8>); 7] = [
                ("KeepAlive with payload", ty::KEEP_ALIVE, vec![0]),
                ("NotePreferred 02", ty::NOTE_PREFERRED, vec![2]),
                ("NotePreferred empty", ty::NOTE_PREFERRED, vec![]),
                ("Ping with 7 bytes", ty::PING, vec![7; 7]),
                ("Pong with 9 bytes", ty::PONG, vec![9; 9]),
                ("PeerGone with 31 bytes", ty::PEER_GONE, key[..31].to_vec()),
                ("Restarting with 7 bytes", ty::RESTARTING, vec![0; 7]),
            ];
            for (what, typ, payload) in cases {
                let (mut c, _) = RawRelay::handshake(addr).await?;
                c.send_frame(typ, &payload).await?;
                c.expect_closed_silently(CLOSE).await.context(what)?;
            }
            Ok(())
        }
        "health_from_client" => {
            let (mut c, _) = RawRelay::handshake(addr).await?;
            c.send_frame(ty::HEALTH, b"client says hi").await?;
            c.expect_closed_silently(CLOSE).await
        }
        "short_send_packet" => {
            let (mut c, _) = RawRelay::handshake(addr).await?;
            c.send_frame(ty::SEND_PACKET, &[0x11; 20]).await?;
            c.expect_closed_silently(CLOSE).await
        }
        "send_packet_size_limits" => check_send_packet_size_limits(addr).await,
        "send_packet_invalid_dst" => {
            let (mut a, _) = RawRelay::handshake(addr).await?;
            let p = wire::send_packet_payload(&wire::invalid_point(), b"to nowhere");
            a.send_frame(ty::SEND_PACKET, &p).await?;
            a.expect_closed_silently(CLOSE).await
        }
        "ignored_frames_survive" => check_ignored_frames_survive(addr).await,
        other => anyhow::bail!("unknown case {other}"),
    }
}

/// Upgrade, send ClientInfo `payload`, expect a close with no bytes back.
async fn rejected_handshake(addr: SocketAddr, payload: &[u8]) -> Result<()> {
    let mut c = RawRelay::upgrade(addr, "/relay").await?;
    c.send_frame(ty::CLIENT_INFO, payload).await?;
    c.expect_closed_silently(CLOSE).await
}

/// 65,536-byte packets are forwarded byte for byte; 65,537 closes the sender
/// and delivers nothing.
async fn check_send_packet_size_limits(addr: SocketAddr) -> Result<()> {
    let (mut a, a_sk) = RawRelay::handshake(addr).await?;
    let (mut b, b_sk) = RawRelay::handshake(addr).await?;
    let packet = wire::pattern(wire::MAX_PACKET_SIZE, 7);
    a.send_frame(
        ty::SEND_PACKET,
        &wire::send_packet_payload(&wire::public(&b_sk), &packet),
    )
    .await?;
    let (typ, payload) = b.expect_frame(CLOSE).await?;
    ensure!(typ == ty::RECV_PACKET, "got frame type {typ}");
    ensure!(payload.len() == 32 + packet.len(), "len {}", payload.len());
    ensure!(payload[..32] == wire::public(&a_sk), "wrong src key");
    ensure!(payload[32..] == packet[..], "payload differs");
    a.ping_pong(*b"still up").await?;

    let big = wire::pattern(wire::MAX_PACKET_SIZE + 1, 8);
    a.send_raw_lenient(&wire::frame(
        ty::SEND_PACKET,
        &wire::send_packet_payload(&wire::public(&b_sk), &big),
    ))
    .await?;
    a.expect_closed_silently(CLOSE)
        .await
        .context("65,537-byte packet")?;
    // B is unaffected and received no packet (a PeerGone for A is fine).
    let others = b.ping_pong_collect(*b"b alive!").await?;
    for (typ, payload) in others {
        ensure!(
            typ == ty::PEER_GONE && payload[..] == wire::public(&a_sk),
            "B got type {typ} payload {:02x?}",
            &payload[..payload.len().min(40)]
        );
    }
    Ok(())
}

/// KeepAlive, NotePreferred 00/01, RecvPacket, PeerGone, Restarting, an
/// unsolicited Pong and a second ClientInfo are ignored.
async fn check_ignored_frames_survive(addr: SocketAddr) -> Result<()> {
    let (mut c, sk) = RawRelay::handshake(addr).await?;
    let other = wire::public(&wire::random_signing_key());
    let mut bytes = Vec::new();
    bytes.extend(wire::frame(ty::KEEP_ALIVE, &[]));
    bytes.extend(wire::frame(ty::NOTE_PREFERRED, &[0]));
    bytes.extend(wire::frame(ty::NOTE_PREFERRED, &[1]));
    bytes.extend(wire::frame(
        ty::RECV_PACKET,
        &wire::send_packet_payload(&other, b"x"),
    ));
    bytes.extend(wire::frame(ty::PEER_GONE, &other));
    bytes.extend(wire::frame(ty::RESTARTING, &[0, 0, 0, 1, 0, 0, 0, 2]));
    bytes.extend(wire::frame(ty::PONG, b"unasked!"));
    bytes.extend(wire::frame(ty::CLIENT_INFO, &wire::client_info(&sk)));
    c.send_raw(&bytes).await?;
    c.ping_pong(*b"survived").await?;
    // Each one also on its own, in separate writes.
    c.send_frame(ty::KEEP_ALIVE, &[]).await?;
    c.send_frame(ty::NOTE_PREFERRED, &[0]).await?;
    c.send_frame(ty::CLIENT_INFO, &wire::client_info(&sk))
        .await?;
    c.ping_pong(*b"again!!!").await
}

macro_rules! case_tests {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            bounded(T, async {
                let relay = start_relay(2);
                run_case(stringify!($name), relay.addr()).await.unwrap();
            })
            .await
        }
    )*};
}

case_tests!(
    bad_signature,
    bad_magic,
    small_order_key,
    undecodable_key,
    short_client_info,
    packet_before_handshake,
    version_4,
    oversized_frame_header,
    unknown_frame_types,
    wrong_size_frames,
    health_from_client,
    short_send_packet,
    send_packet_size_limits,
    send_packet_invalid_dst,
    ignored_frames_survive,
);

/// All bad-input cases against one relay, then two clients still forward (both
/// protocols), and raw clients still handshake.
#[tokio::test]
async fn relay_survives_all_bad_input() {
    bounded(Duration::from_secs(240), async {
        let relay = start_relay(2);
        for name in CASES {
            run_case(name, relay.addr())
                .await
                .unwrap_or_else(|e| panic!("case {name}: {e:#}"));
        }
        let url = relay.url();
        for (pa, pb) in [(PROTOCOLS[0], PROTOCOLS[1]), (PROTOCOLS[1], PROTOCOLS[0])] {
            let mut a = TestClient::connect(&url, pa).await.unwrap();
            let mut b = TestClient::connect(&url, pb).await.unwrap();
            a.send(b.node_id(), &b"after the storm"[..]).await.unwrap();
            let (src, data) = b.recv_packet().await.unwrap();
            assert_eq!(src, a.node_id());
            assert_eq!(&data[..], b"after the storm");
            b.send(a.node_id(), &b"calm"[..]).await.unwrap();
            let (src, data) = a.recv_packet().await.unwrap();
            assert_eq!(src, b.node_id());
            assert_eq!(&data[..], b"calm");
        }
        let (mut c, _) = RawRelay::handshake(relay.addr()).await.unwrap();
        c.ping_pong(*b"final!!!").await.unwrap();
    })
    .await
}
