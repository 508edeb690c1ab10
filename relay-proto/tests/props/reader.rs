//! The `FrameReader`, in both roles and every dialect: bytes the other
//! side's encoders write, fed in any split the way the relay feeds them
//! (the unconsumed rest carried over to the next read), give the frames
//! that were written, in order, and the same ones as a single read gives.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use relay_proto::reader::{FrameReader, Step};
use relay_proto::v035::{frame, message, stream};
use relay_proto::v1x::{client, frame::decode_client, Version};
use relay_proto::ws::{self, Role};
use relay_proto::{Dialect, Transport, HEADER_LEN};

use crate::common::{
    cases, fill, fragment_ends, quic_varint, reads, split, ws_frame, BINARY, CLOSE, CONT, PING,
    PONG, TEXT,
};
use crate::v035::{self as p035, F035};
use crate::v1x::{self as p1x, C1x, Sf};

/// What a read of the reader amounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Frame(u64, Vec<u8>),
    Reply(Vec<u8>),
    Skip,
    Close,
}

/// Websocket frames around a relay frame: some before it, fragments of it
/// with a control frame after the first, a wider type varint (1.x).
#[derive(Debug, Clone)]
struct Wrap {
    before: Option<Noise>,
    cuts: Vec<u16>,
    between: Option<Noise>,
    wide_type: u8,
}

#[derive(Debug, Clone)]
enum Noise {
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A text message in this many fragments (not allowed between the
    /// fragments of a binary message).
    Text(Vec<u8>, usize),
}

fn noise() -> impl Strategy<Value = Noise> {
    let short = (0..=125usize, any::<u64>()).prop_map(|(n, s)| fill(n, s));
    prop_oneof![
        short.clone().prop_map(Noise::Ping),
        short.clone().prop_map(Noise::Pong),
        (short, 1..=3usize).prop_map(|(t, n)| Noise::Text(t, n)),
    ]
}

fn wrap() -> impl Strategy<Value = Wrap> {
    (
        prop::option::weighted(0.3, noise()),
        prop_oneof![
            3 => Just(vec![]),
            1 => prop::collection::vec(0..=1000u16, 1..4),
        ],
        prop::option::weighted(0.5, noise()),
        0..4u8,
    )
        .prop_map(|(before, cuts, between, wide_type)| Wrap {
            before,
            cuts,
            between: between.filter(|n| !matches!(n, Noise::Text(..))),
            wide_type,
        })
}

/// The bytes a reader is fed, where each websocket or stream frame ends,
/// and what the reader must make of them.
struct Wire {
    role: Role,
    masks: std::vec::IntoIter<u8>,
    bytes: Vec<u8>,
    ends: Vec<usize>,
    want: Vec<Ev>,
}

impl Wire {
    /// `role` is the reader's: frames it reads are masked if it is a server.
    fn new(role: Role, seed: u64) -> Self {
        Self {
            role,
            masks: fill(4 * 4096, seed).into_iter(),
            bytes: Vec::new(),
            ends: Vec::new(),
            want: Vec::new(),
        }
    }

    fn mask(&mut self) -> Option<[u8; 4]> {
        let m = std::array::from_fn(|_| self.masks.next().expect("enough masks"));
        (self.role == Role::Server).then_some(m)
    }

    fn ws(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        let mask = self.mask();
        ws_frame(&mut self.bytes, fin, opcode, payload, mask);
        self.ends.push(self.bytes.len());
    }

    fn noise(&mut self, n: &Noise) {
        match n {
            Noise::Ping(p) => {
                self.ws(true, PING, p);
                // Answered with an unmasked Pong.
                let mut pong = Vec::new();
                ws_frame(&mut pong, true, PONG, p, None);
                self.want.push(Ev::Reply(pong));
            }
            Noise::Pong(p) => {
                self.ws(true, PONG, p);
                self.want.push(Ev::Skip);
            }
            Noise::Text(t, n) => {
                let ends = fragment_ends(t.len(), &vec![500; n - 1]);
                let mut from = 0;
                for (i, &end) in ends.iter().enumerate() {
                    let op = if i == 0 { TEXT } else { CONT };
                    self.ws(i + 1 == ends.len(), op, &t[from..end]);
                    self.want.push(Ev::Skip);
                    from = end;
                }
            }
        }
    }

    /// A relay frame as the crate's encoder wrote it (`encoded`): as is,
    /// or, on websocket, re-framed as `wrap` says.
    fn frame(&mut self, d: Dialect, encoded: &[u8], wrap: &Wrap) {
        if d == Dialect::V035(Transport::Derp) {
            let len = u32::from_be_bytes(encoded[1..5].try_into().unwrap()) as usize;
            assert_eq!(encoded.len(), HEADER_LEN + len);
            self.bytes.extend_from_slice(encoded);
            self.ends.push(self.bytes.len());
            self.want.push(Ev::Frame(
                u64::from(encoded[0]),
                encoded[HEADER_LEN..].to_vec(),
            ));
            return;
        }
        let mut body = unframe(encoded);
        let (ty, n) = match d.type_coding() {
            relay_proto::dialect::TypeCoding::Byte => (u64::from(body[0]), 1),
            relay_proto::dialect::TypeCoding::Varint => {
                // The encoders write types below 64 in one byte.
                assert!(body[0] < 0x40);
                (u64::from(body[0]), 1)
            }
        };
        let want = Ev::Frame(ty, body[n..].to_vec());
        if let Some(noise) = &wrap.before {
            self.noise(noise);
        }
        let wide = matches!(d, Dialect::V1x(_)) && wrap.wide_type > 0;
        if wrap.cuts.is_empty() && !wide {
            self.bytes.extend_from_slice(encoded);
            self.ends.push(self.bytes.len());
            self.want.push(want);
            return;
        }
        if wide {
            body.splice(..1, quic_varint(ty, wrap.wide_type));
        }
        let ends = fragment_ends(body.len(), &wrap.cuts);
        let mut from = 0;
        for (i, &end) in ends.iter().enumerate() {
            let last = i + 1 == ends.len();
            self.ws(last, if i == 0 { BINARY } else { CONT }, &body[from..end]);
            from = end;
            if last {
                self.want.push(want.clone());
            } else {
                self.want.push(Ev::Skip);
                if i == 0 {
                    if let Some(n) = &wrap.between {
                        self.noise(n);
                    }
                }
            }
        }
    }

    fn close(&mut self) {
        self.ws(true, CLOSE, &[3, 232]);
        self.want.push(Ev::Close);
    }
}

/// The payload of one websocket frame (the crate's encoders write one
/// frame per message), unmasked.
fn unframe(msg: &[u8]) -> Vec<u8> {
    assert_eq!(msg[0], 0x80 | BINARY);
    let (len, mut at) = match msg[1] & 0x7f {
        126 => (u16::from_be_bytes([msg[2], msg[3]]) as usize, 4),
        127 => (
            u64::from_be_bytes(msg[2..10].try_into().unwrap()) as usize,
            10,
        ),
        n => (usize::from(n), 2),
    };
    let mask = (msg[1] & 0x80 != 0).then(|| {
        at += 4;
        [msg[at - 4], msg[at - 3], msg[at - 2], msg[at - 1]]
    });
    assert_eq!(msg.len(), at + len);
    let mut body = msg[at..].to_vec();
    if let Some(m) = mask {
        for (i, b) in body.iter_mut().enumerate() {
            *b ^= m[i % 4];
        }
    }
    body
}

/// Feeds `wire` in reads of `sizes`, as the relay's connection loop does:
/// each read is appended to what is left, every complete frame taken,
/// the consumed bytes dropped. Checks on the way that each step consumes
/// whole frames and that `Need` asks for more than there is but never for
/// bytes past the frame being read (a peer that sent everything would
/// otherwise be waited on forever).
fn feed(d: Dialect, role: Role, wire: &Wire, sizes: &[usize]) -> Result<Vec<Ev>, TestCaseError> {
    let mut reader = FrameReader::new(d, role);
    let mut buf: Vec<u8> = Vec::new();
    // Offset in the wire of buf[0].
    let mut base = 0;
    let mut got = Vec::new();
    for read in split(&wire.bytes, sizes) {
        buf.extend_from_slice(read);
        let mut pos = 0;
        loop {
            let at = base + pos;
            let step = reader
                .next_with(&mut buf[pos..], |ty, p| (ty, p.to_vec()))
                .map_err(|e| TestCaseError::fail(format!("at {at}: {e}")))?;
            let consumed = match step {
                Step::Frame {
                    out: (ty, p),
                    consumed,
                } => {
                    got.push(Ev::Frame(ty, p));
                    consumed
                }
                Step::Skip { consumed } => {
                    got.push(Ev::Skip);
                    consumed
                }
                Step::Reply { bytes, consumed } => {
                    got.push(Ev::Reply(bytes));
                    consumed
                }
                Step::Close => {
                    got.push(Ev::Close);
                    return Ok(got);
                }
                Step::Need(n) => {
                    let have = buf.len() - pos;
                    prop_assert!(n > have, "at {}: need {} with {} at hand", at, n, have);
                    if let Some(&end) = wire.ends.iter().find(|&&e| e > at) {
                        prop_assert!(
                            at + n <= end,
                            "at {}: need {} bytes, but the frame ends at {}",
                            at,
                            n,
                            end
                        );
                    }
                    break;
                }
            };
            prop_assert!(
                wire.ends.contains(&(at + consumed)),
                "at {}: consumed {}, not up to a frame's end",
                at,
                consumed
            );
            pos += consumed;
        }
        buf.drain(..pos);
        base += pos;
    }
    prop_assert_eq!(base, wire.bytes.len(), "bytes left unread");
    Ok(got)
}

/// Reads `wire` in one go and in the reads `sizes` says; both must give
/// what was written.
fn read_back(
    d: Dialect,
    role: Role,
    wire: &Wire,
    sizes: &[usize],
) -> Result<Vec<Ev>, TestCaseError> {
    let whole = feed(d, role, wire, &[usize::MAX])?;
    prop_assert_eq!(&whole, &wire.want, "one read");
    let parts = feed(d, role, wire, sizes)?;
    prop_assert_eq!(&parts, &wire.want, "split reads");
    Ok(parts)
}

fn dialect() -> impl Strategy<Value = Dialect> {
    prop::sample::select(vec![
        Dialect::V035(Transport::Derp),
        Dialect::V035(Transport::Websocket),
        Dialect::V1x(Version::V1),
        Dialect::V1x(Version::V2),
    ])
}

fn frames(d: &[Ev]) -> impl Iterator<Item = (u64, &[u8])> {
    d.iter().filter_map(|e| match e {
        Ev::Frame(ty, p) => Some((*ty, &p[..])),
        _ => None,
    })
}

proptest! {
    #![proptest_config(cases(64))]

    /// What the server writes (frames and relayed datagrams), in every
    /// dialect, the client-role reader reads back and the client decodes
    /// to what was sent.
    #[test]
    fn server_frames_read_back_in_any_split(
        d in dialect(),
        items in prop::collection::vec((p1x::server_frame(), wrap()), 1..6),
        sizes in reads(),
        close in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut wire = Wire::new(Role::Client, seed);
        let mut sent = Vec::new();
        for (f, w) in &items {
            let mut encoded = Vec::new();
            f.write(d, &mut encoded);
            // Frames the dialect lacks are not written at all.
            let carried = match d {
                Dialect::V035(_) => !matches!(f, Sf::Frame(p1x::OwnedFrame::Status(_))),
                Dialect::V1x(v) => f.expected_v1x(v).is_some(),
            };
            prop_assert_eq!(!encoded.is_empty(), carried, "{:?}", f);
            if carried {
                wire.frame(d, &encoded, w);
                sent.push(f);
            }
        }
        if close && d.is_websocket() {
            wire.close();
        }
        let got = read_back(d, Role::Client, &wire, &sizes)?;
        let got: Vec<_> = frames(&got).collect();
        prop_assert_eq!(got.len(), sent.len());
        for ((ty, payload), f) in got.into_iter().zip(sent) {
            match d {
                Dialect::V035(_) => {
                    let ty = u8::try_from(ty).unwrap();
                    prop_assert_eq!(frame::decode(ty, payload), Ok(expected_v035(f)));
                }
                Dialect::V1x(v) => {
                    prop_assert_eq!(client::decode_server(ty, payload), Ok(f.expected_v1x(v).unwrap()));
                }
            }
        }
    }

    /// What a 0.35 client writes (its encoders, masked on websocket) the
    /// server-role reader reads back and decodes to what was sent.
    #[test]
    fn v035_client_frames_read_back_in_any_split(
        t in prop_oneof![Just(Transport::Derp), Just(Transport::Websocket)],
        items in prop::collection::vec((p035::client_frame(), wrap()), 1..5),
        sizes in reads(),
        close in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let d = Dialect::V035(t);
        let mut wire = Wire::new(Role::Server, seed);
        for (f, w) in &items {
            let mut encoded = Vec::new();
            match t {
                Transport::Derp => stream::encode(&mut encoded, &f.frame()),
                Transport::Websocket => {
                    let mask = wire.mask().unwrap();
                    message::encode_masked(&mut encoded, &f.frame(), mask);
                }
            }
            wire.frame(d, &encoded, w);
        }
        if close && t == Transport::Websocket {
            wire.close();
        }
        let got = read_back(d, Role::Server, &wire, &sizes)?;
        let got: Vec<_> = frames(&got).collect();
        prop_assert_eq!(got.len(), items.len());
        for ((ty, payload), (f, _)) in got.into_iter().zip(&items) {
            prop_assert_eq!(frame::decode(u8::try_from(ty).unwrap(), payload), Ok(f.frame()));
            if !matches!(f, F035::ClientInfo(_)) {
                prop_assert!(d.on_client_frame(ty, payload).is_ok());
            }
        }
    }

    /// What a 1.x client writes, masked, the server-role reader reads back
    /// and decodes to what was sent.
    #[test]
    fn v1x_client_frames_read_back_in_any_split(
        v in p1x::version(),
        items in prop::collection::vec((p1x::client_frame(), wrap()), 1..6),
        sizes in reads(),
        close in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let d = Dialect::V1x(v);
        let mut wire = Wire::new(Role::Server, seed);
        for (f, w) in &items {
            let body = f.body();
            let mask = wire.mask().unwrap();
            let mut encoded = Vec::new();
            ws::write_header(&mut encoded, body.len(), Some(mask));
            let start = encoded.len();
            encoded.extend_from_slice(&body);
            ws::apply_mask(&mut encoded[start..], mask);
            wire.frame(d, &encoded, w);
        }
        if close {
            wire.close();
        }
        let got = read_back(d, Role::Server, &wire, &sizes)?;
        let got: Vec<_> = frames(&got).collect();
        prop_assert_eq!(got.len(), items.len());
        for ((ty, payload), (f, _)) in got.into_iter().zip(&items) {
            prop_assert_eq!(decode_client(ty, payload), Ok(f.expected()));
            if !matches!(f, C1x::ClientAuth(_)) {
                prop_assert!(d.on_client_frame(ty, payload).is_ok());
            }
        }
    }
}

/// What a 0.35 client decodes for a server frame (Status is never sent).
fn expected_v035(f: &Sf) -> frame::Frame<'_> {
    use p1x::OwnedFrame as O;
    match f {
        Sf::Datagram { src, contents, .. } => frame::Frame::RecvPacket {
            src,
            packet: contents,
        },
        Sf::Frame(O::Ping(d)) => frame::Frame::Ping(*d),
        Sf::Frame(O::Pong(d)) => frame::Frame::Pong(*d),
        Sf::Frame(O::Gone(k)) => frame::Frame::PeerGone(k),
        Sf::Frame(O::Health(t)) => frame::Frame::Health(t),
        Sf::Frame(O::Restarting(a, b)) => frame::Frame::Restarting {
            reconnect_in_ms: *a,
            try_for_ms: *b,
        },
        Sf::Frame(O::Status(_)) => unreachable!("not written"),
    }
}
