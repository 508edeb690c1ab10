//! The session without sockets: whole connections of both families,
//! phase violations, deadlines and liveness on a fake clock, the receive
//! limit, and the same events for any split of the same bytes.

use std::time::{Duration, Instant, SystemTime};

use ed25519_dalek::SigningKey;
use proptest::prelude::*;

use super::*;
use crate::datagram::{Datagram, ServerFrame, Status};
use crate::dialect::{Duplicates, Family};
use crate::v035::frame::Frame;
use crate::v035::{client_info, stream};
use crate::v1x::{client as v1x_client, handshake as v1x_auth};

const CHALLENGE: [u8; 16] = [7; 16];

fn wall() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[0x2a; 32])
}

fn peer() -> [u8; 32] {
    SigningKey::from_bytes(&[0x11; 32])
        .verifying_key()
        .to_bytes()
}

/// Everything a session handed to its connection, in order.
#[derive(Debug, Default, Clone, PartialEq)]
struct Seen {
    events: Vec<String>,
    refuse_frames: bool,
}

impl Relay for Seen {
    fn forward(&mut self, dst: &NodeKey, d: &Datagram<'_>) {
        self.events.push(format!(
            "forward {:02x} {:?} disco={}",
            dst[0], d.contents, d.disco
        ));
    }
    fn send(&mut self, frame: &ServerFrame<'_>) -> bool {
        self.events.push(format!("send {frame:?}"));
        !self.refuse_frames
    }
    fn send_raw(&mut self, bytes: &[u8]) {
        self.events.push(format!("raw {bytes:?}"));
    }
    fn note(&mut self, note: Note) {
        self.events.push(format!("note {note:?}"));
    }
}

/// Drives setup to admission with every signature valid and access
/// allowed; returns the bytes written and the buffer left.
fn admit(s: &mut Session, now: Instant, input: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut buf = input.to_vec();
    let mut written = Vec::new();
    let mut step = s.setup(now, wall(), &mut buf);
    loop {
        step = match step {
            Setup::Write(b) | Setup::Upgrade { reply: b, .. } => {
                written.extend(b);
                s.setup(now, wall(), &mut buf)
            }
            Setup::Verify(sig) => s.signature(sig.verify_strict()),
            Setup::Authorize => s.access(now, true),
            Setup::Admitted { confirm } => {
                written.extend(confirm.unwrap_or_default());
                return (written, buf);
            }
            other => panic!("not admitted: {other:?}"),
        };
    }
}

fn v035_connection(frames: &[Frame<'_>]) -> Vec<u8> {
    let mut b = b"GET /ping HTTP/1.1\r\nhost: r\r\n\r\n".to_vec();
    b.extend(crate::client_upgrade::upgrade_request("r"));
    stream::encode(&mut b, &Frame::ClientInfo(&client_info::build(&key(), 3)));
    for f in frames {
        stream::encode(&mut b, f);
    }
    b
}

/// A client websocket message: masked binary frame around `body`.
fn ws_message(body: &[u8]) -> Vec<u8> {
    let mask = [1, 2, 3, 4];
    let mut out = Vec::new();
    crate::ws::write_header(&mut out, body.len(), Some(mask));
    let start = out.len();
    out.extend_from_slice(body);
    crate::ws::apply_mask(&mut out[start..], mask);
    out
}

fn v1x_upgrade() -> Vec<u8> {
    crate::client_upgrade::request(
        crate::client_upgrade::Upgrade::Websocket {
            key: "dGhlIHNhbXBsZSBub25jZQ==",
            protocols: Some("iroh-relay-v2"),
        },
        "r",
        "/relay",
        &[],
    )
}

#[test]
fn v035_connection_from_first_byte_to_relaying() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, CHALLENGE, 1);
    assert_eq!(s.poll_timeout(), Some(t0 + HEAD_TIMEOUT));
    let input = v035_connection(&[
        Frame::SendPacket {
            dst: &peer(),
            packet: b"hi",
        },
        Frame::Ping(*b"12345678"),
    ]);
    let (written, mut rest) = admit(&mut s, t0, &input);
    let text = String::from_utf8_lossy(&written);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains("HTTP/1.1 101 Switching Protocols"), "{text}");
    assert_eq!(s.phase_name(), "relaying");
    assert_eq!(s.key(), Some(&key().verifying_key().to_bytes()));
    assert_eq!(s.dialect().map(|d| d.family()), Some(Family::V035));
    let mut seen = Seen::default();
    let flow = s.handle_input(t0, &mut rest, &mut seen).unwrap();
    assert_eq!(flow, Flow::Read(5));
    assert!(rest.is_empty());
    assert_eq!(
        seen.events,
        [
            format!("forward {:02x} {:?} disco=false", peer()[0], b"hi"),
            "send Pong([49, 50, 51, 52, 53, 54, 55, 56])".to_owned(),
            "note Ping { answered: true }".to_owned(),
        ]
    );
    assert_eq!(s.destinations().count(), 1);
}

#[test]
fn v1x_connection_gets_challenge_and_confirm() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, CHALLENGE, 1);
    let mut input = v1x_upgrade();
    input.extend(ws_message(&v1x_auth::client_auth(&key(), &CHALLENGE)));
    let mut body = Vec::new();
    v1x_client::write_datagram(&mut body, &peer(), 2, b"dgram");
    input.extend(ws_message(&body));
    let (written, mut rest) = admit(&mut s, t0, &input);
    // The 101, the challenge frame, then ServerConfirmsAuth.
    let challenge_at = written.len() - 3 - 19;
    assert_eq!(&written[challenge_at + 3..challenge_at + 19], &CHALLENGE);
    assert_eq!(&written[written.len() - 3..], &[0x82, 0x01, 0x02]);
    let mut seen = Seen::default();
    s.handle_input(t0, &mut rest, &mut seen).unwrap();
    assert_eq!(
        seen.events,
        [format!(
            "forward {:02x} {:?} disco=false",
            peer()[0],
            b"dgram"
        )]
    );
}

#[test]
fn denial_and_bad_signature_close_with_the_familys_reply() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, CHALLENGE, 1);
    let mut buf = v035_connection(&[]);
    let mut step = s.setup(t0, wall(), &mut buf);
    while let Setup::Write(_) | Setup::Upgrade { .. } = step {
        step = s.setup(t0, wall(), &mut buf);
    }
    assert!(matches!(step, Setup::Verify(_)));
    assert!(matches!(s.signature(true), Setup::Authorize));
    match s.access(t0, false) {
        Setup::Close {
            reply: Some(r),
            end: SetupEnd::Denied,
        } => {
            assert_eq!(&r[5..], b"not authenticated")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.phase_name(), "closed");

    let mut s = Session::new(t0, CHALLENGE, 1);
    let mut buf = v1x_upgrade();
    buf.extend(ws_message(&v1x_auth::client_auth(&key(), &[0; 16])));
    let mut step = s.setup(t0, wall(), &mut buf);
    while let Setup::Write(_) | Setup::Upgrade { .. } = step {
        step = s.setup(t0, wall(), &mut buf);
    }
    let Setup::Verify(sig) = step else {
        panic!("{step:?}")
    };
    // Signed over the wrong challenge.
    assert!(!sig.verify_strict());
    assert!(matches!(
        s.signature(false),
        Setup::Close {
            reply: Some(_),
            end: SetupEnd::Handshake(_)
        }
    ));
}

#[test]
fn phase_violations() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, CHALLENGE, 1);
    // Steps of later phases are refused in Http, and relaying is too.
    assert!(matches!(s.signature(true), Setup::Close { .. }));
    let mut s = Session::new(t0, CHALLENGE, 1);
    assert!(matches!(s.access(t0, true), Setup::Close { .. }));
    let mut s = Session::new(t0, CHALLENGE, 1);
    assert_eq!(
        s.handle_input(t0, &mut b"x".to_vec(), &mut Seen::default()),
        Err(RelayError::NotRelaying)
    );
    // A first frame that is not a ClientInfo closes without a reply.
    let mut s = Session::new(t0, CHALLENGE, 1);
    let mut buf = crate::client_upgrade::upgrade_request("r");
    stream::encode(&mut buf, &Frame::Ping([0; 8]));
    let mut step = s.setup(t0, wall(), &mut buf);
    while let Setup::Upgrade { .. } = step {
        step = s.setup(t0, wall(), &mut buf);
    }
    assert!(matches!(
        step,
        Setup::Close {
            reply: None,
            end: SetupEnd::Handshake(_)
        }
    ));
    // A garbage request head is answered and closed.
    let mut s = Session::new(t0, CHALLENGE, 1);
    let step = s.setup(t0, wall(), &mut b"\x00\x01\x02\r\n\r\n".to_vec());
    assert!(matches!(
        step,
        Setup::Close {
            reply: Some(_),
            end: SetupEnd::Http
        }
    ));
}

#[test]
fn head_and_handshake_deadlines() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, CHALLENGE, 1);
    assert!(matches!(
        s.setup(t0, wall(), &mut b"GET / HT".to_vec()),
        Setup::Read(9)
    ));
    assert_eq!(
        s.handle_timeout(t0 + HEAD_TIMEOUT - Duration::from_millis(1)),
        None
    );
    assert_eq!(s.handle_timeout(t0 + HEAD_TIMEOUT), Some(Timeout::Expired));
    assert_eq!(s.phase_name(), "closed");

    let mut s = Session::new(t0, CHALLENGE, 1);
    let t1 = t0 + Duration::from_secs(3);
    let mut buf = crate::client_upgrade::upgrade_request("r");
    assert!(matches!(
        s.setup(t1, wall(), &mut buf),
        Setup::Upgrade { .. }
    ));
    assert!(matches!(s.setup(t1, wall(), &mut buf), Setup::Read(_)));
    assert_eq!(s.poll_timeout(), Some(t1 + HANDSHAKE_TIMEOUT));
    assert_eq!(
        s.handle_timeout(t1 + HANDSHAKE_TIMEOUT),
        Some(Timeout::Expired)
    );
}

fn relaying(t0: Instant, seed: u64) -> Session {
    let mut s = Session::new(t0, CHALLENGE, seed);
    admit(&mut s, t0, &v035_connection(&[]));
    s
}

#[test]
fn liveness_on_a_fake_clock() {
    let t0 = Instant::now();
    let mut s = relaying(t0, 9);
    let due = s.poll_timeout().unwrap();
    let jitter = due - t0 - PING_INTERVAL;
    assert!(jitter >= Duration::from_secs(1) && jitter <= Duration::from_secs(PING_JITTER_SECS));
    assert_eq!(s.handle_timeout(due - Duration::from_millis(1)), None);
    let Some(Timeout::Ping(data)) = s.handle_timeout(due) else {
        panic!("no ping when due")
    };
    assert_eq!(s.poll_timeout(), Some(due + PING_TIMEOUT));
    // The matching Pong answers it; a wrong one would not.
    let mut pong = Vec::new();
    stream::encode(&mut pong, &Frame::Pong([0; 8]));
    stream::encode(&mut pong, &Frame::Pong(data));
    let t1 = due + Duration::from_secs(1);
    s.heard(t1);
    s.handle_input(t1, &mut pong, &mut Seen::default()).unwrap();
    assert_eq!(s.poll_timeout(), Some(t1 + (due - t0)));
    // Unanswered: the session expires after PING_TIMEOUT.
    let due = s.poll_timeout().unwrap();
    assert!(matches!(s.handle_timeout(due), Some(Timeout::Ping(_))));
    assert_eq!(s.handle_timeout(due + PING_TIMEOUT), None);
    assert_eq!(
        s.handle_timeout(due + PING_TIMEOUT + Duration::from_millis(1)),
        Some(Timeout::Expired)
    );
    assert!(!s.is_relaying());
}

#[test]
fn receive_limit_pauses_and_tells_once() {
    let t0 = Instant::now();
    let mut s = relaying(t0, 1);
    s.set_rx_limit(
        t0,
        Some(RxLimit {
            bytes_per_second: 1000.0,
            burst_bytes: 1000.0,
        }),
    );
    let mut buf = Vec::new();
    for _ in 0..3 {
        stream::encode(
            &mut buf,
            &Frame::SendPacket {
                dst: &peer(),
                packet: &[0; 600],
            },
        );
    }
    let mut seen = Seen::default();
    let flow = s.handle_input(t0, &mut buf, &mut seen).unwrap();
    // Two frames (2 x 637 bytes) put the bucket in debt; the third waits.
    let Flow::Paused(until) = flow else {
        panic!("{flow:?}")
    };
    assert!(until > t0 && until <= t0 + Duration::from_secs(1));
    assert_eq!(seen.events.len(), 4, "{:?}", seen.events);
    assert!(seen.events[2].starts_with("note RateLimited"));
    assert!(seen.events[2].contains("first: true"));
    assert_eq!(
        seen.events[3],
        format!("send {:?}", ServerFrame::Status(Status::RateLimited))
    );
    // The third goes through once the debt is paid, and puts the bucket
    // in debt again: reading stays paused, without a second notice.
    let mut seen = Seen::default();
    let flow = s.handle_input(until, &mut buf, &mut seen).unwrap();
    assert!(matches!(flow, Flow::Paused(t) if t > until), "{flow:?}");
    assert!(buf.is_empty());
    assert_eq!(seen.events.len(), 2, "{:?}", seen.events);
    assert!(seen.events[0].starts_with("forward"));
    assert!(seen.events[1].contains("first: false"));
}

#[test]
fn invalid_destination_is_a_protocol_error() {
    let t0 = Instant::now();
    let mut s = relaying(t0, 1);
    let mut buf = Vec::new();
    // All-zero y with the sign bit: not a point.
    let mut bad = [0u8; 32];
    bad[0] = 2;
    bad[31] = 0x80;
    assert!(!crate::key::is_valid_point(&bad));
    stream::encode(
        &mut buf,
        &Frame::SendPacket {
            dst: &bad,
            packet: b"x",
        },
    );
    assert_eq!(
        s.handle_input(t0, &mut buf, &mut Seen::default()),
        Err(RelayError::InvalidKey)
    );
}

#[test]
fn duplicate_keys_per_family() {
    assert_eq!(Family::V035.duplicates(), Duplicates::CloseOld);
    assert_eq!(Family::V1x.duplicates(), Duplicates::KeepInactive);
    assert_eq!(Family::V035.default_burst(1000), 1000);
    assert_eq!(Family::V1x.default_burst(1000), 100);
}

/// Feeds `input` in reads cut at `cuts`, admitting then relaying, and
/// returns everything the session wrote and handed out.
fn drive(input: &[u8], cuts: &[usize]) -> (Vec<u8>, Vec<String>) {
    drive_with(input, cuts, false)
}

/// As [`drive`]; with `lent`, relaying reads go through
/// [`Session::handle_slice`] as a ring lends its buffers: a read is
/// handled in place when nothing is pending, and only its unused tail is
/// kept.
fn drive_with(input: &[u8], cuts: &[usize], lent: bool) -> (Vec<u8>, Vec<String>) {
    let t0 = Instant::now();
    let mut s = Session::new(t0, CHALLENGE, 5);
    let mut written = Vec::new();
    let mut seen = Seen::default();
    let mut buf = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(input.len());
    points.sort_unstable();
    let mut from = 0;
    for to in points {
        let mut read = input[from..to.max(from)].to_vec();
        from = to.max(from);
        if s.is_relaying() && lent && buf.is_empty() {
            let (res, used) = s.handle_slice(t0, &mut read, &mut seen);
            res.unwrap();
            buf.extend_from_slice(&read[used..]);
            continue;
        }
        buf.extend_from_slice(&read);
        if s.is_relaying() {
            s.handle_input(t0, &mut buf, &mut seen).unwrap();
            continue;
        }
        let mut step = s.setup(t0, wall(), &mut buf);
        loop {
            step = match step {
                Setup::Write(b) | Setup::Upgrade { reply: b, .. } => {
                    written.extend(b);
                    s.setup(t0, wall(), &mut buf)
                }
                Setup::Verify(sig) => s.signature(sig.verify_strict()),
                Setup::Authorize => s.access(t0, true),
                Setup::Admitted { confirm } => {
                    written.extend(confirm.unwrap_or_default());
                    s.handle_input(t0, &mut buf, &mut seen).unwrap();
                    break;
                }
                Setup::Read(_) => break,
                other => panic!("{other:?}"),
            };
        }
    }
    (written, seen.events)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any split of the same bytes into reads gives the same replies and
    /// the same events, for both families.
    #[test]
    fn any_split_gives_the_same_events(
        cuts in proptest::collection::vec(0usize..2000, 0..12),
        packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..300), 1..6),
        v1x in any::<bool>(),
    ) {
        let input = if v1x {
            let mut b = v1x_upgrade();
            b.extend(ws_message(&v1x_auth::client_auth(&key(), &CHALLENGE)));
            for p in &packets {
                let mut body = Vec::new();
                v1x_client::write_datagram(&mut body, &peer(), 0, p);
                b.extend(ws_message(&body));
                let mut ping = Vec::new();
                v1x_client::write_ping(&mut ping, false, &[3; 8]);
                b.extend(ws_message(&ping));
            }
            b
        } else {
            let frames: Vec<Frame<'_>> = packets
                .iter()
                .flat_map(|p| [Frame::SendPacket { dst: peer_static(), packet: p }, Frame::Ping([3; 8])])
                .collect();
            v035_connection(&frames)
        };
        let whole = drive(&input, &[]);
        prop_assert_eq!(whole.1.len(), packets.len() * 3);
        prop_assert_eq!(&drive(&input, &cuts), &whole);
        prop_assert_eq!(&drive_with(&input, &cuts, true), &whole);
    }
}

fn peer_static() -> &'static [u8; 32] {
    static PEER: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    PEER.get_or_init(peer)
}
