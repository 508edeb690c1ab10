//! iroh 1.x: varints, client and server frames, the handshake messages.

use proptest::prelude::*;
use relay_proto::datagram::{Datagram, ServerFrame, Status};
use relay_proto::handshake::Handshake;
use relay_proto::key::NodeKey;
use relay_proto::postcard::{decode_varint, encode_varint};
use relay_proto::v1x::client::{self, ServerMsg};
use relay_proto::v1x::frame::{
    self, decode_client, split_message, ClientFrame, FrameError, FrameType, MAX_PAYLOAD,
};
use relay_proto::v1x::{handshake, serve, varint, Version};
use relay_proto::ws::{Progress, Role, WsDecoder, WsItem};
use relay_proto::{Dialect, Event};

use crate::common::{bytes_between, bytes_upto, cases, quic_varint};

/// Largest datagram contents a client can send: the payload after the type
/// is at most 65,536 bytes (key, ECN byte and, in a batch, two bytes of
/// segment size before the contents).
pub const MAX_CONTENTS: usize = MAX_PAYLOAD - 33;
pub const MAX_BATCH_CONTENTS: usize = MAX_PAYLOAD - 35;

/// A frame a 1.x client sends.
#[derive(Debug, Clone)]
pub enum C1x {
    Datagram {
        dst: NodeKey,
        ecn: u8,
        /// `Some` is sent as a batch (type 5), `Some(0)` included.
        segment: Option<u16>,
        contents: Vec<u8>,
    },
    Ping([u8; 8]),
    Pong([u8; 8]),
    ClientAuth(Vec<u8>),
}

impl C1x {
    /// The message body: the client's encoders where they exist; the batch
    /// (which no client encoder here writes) by docs/protocol-1x.md §2.4.
    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            C1x::Datagram {
                dst,
                ecn,
                segment: None,
                contents,
            } => {
                client::write_datagram(&mut out, dst, *ecn, contents);
                assert_eq!(out.len(), client::datagram_len(contents.len()));
            }
            C1x::Datagram {
                dst,
                ecn,
                segment: Some(seg),
                contents,
            } => {
                out.push(FrameType::ClientToRelayDatagramBatch as u8);
                out.extend_from_slice(dst);
                out.push(*ecn);
                out.extend_from_slice(&seg.to_be_bytes());
                out.extend_from_slice(contents);
            }
            C1x::Ping(d) => client::write_ping(&mut out, false, d),
            C1x::Pong(d) => client::write_ping(&mut out, true, d),
            C1x::ClientAuth(p) => {
                out.push(FrameType::ClientAuth as u8);
                out.extend_from_slice(p);
            }
        }
        out
    }

    /// What the server decodes: ECN cut to two bits, a zero segment size
    /// read as none.
    pub fn expected(&self) -> ClientFrame<'_> {
        match self {
            C1x::Datagram {
                dst,
                ecn,
                segment,
                contents,
            } => ClientFrame::Datagram {
                dst,
                datagram: Datagram {
                    ecn: ecn & 0b11,
                    segment: segment.filter(|&s| s != 0),
                    disco: false,
                    contents,
                },
            },
            C1x::Ping(d) => ClientFrame::Ping(*d),
            C1x::Pong(d) => ClientFrame::Pong(*d),
            C1x::ClientAuth(p) => ClientFrame::ClientAuth(p),
        }
    }
}

fn segment() -> impl Strategy<Value = Option<u16>> + Clone {
    prop_oneof![
        Just(None),
        Just(Some(0)),
        Just(Some(u16::MAX)),
        any::<u16>().prop_map(Some),
    ]
}

/// Every frame a 1.x client sends after the handshake (and a ClientAuth),
/// payloads up to the limit.
pub fn client_frame() -> impl Strategy<Value = C1x> + Clone {
    prop_oneof![
        6 => (any::<NodeKey>(), any::<u8>(), segment()).prop_flat_map(|(dst, ecn, segment)| {
            let max = if segment.is_some() { MAX_BATCH_CONTENTS } else { MAX_CONTENTS };
            bytes_upto(max).prop_map(move |contents| C1x::Datagram {
                dst,
                ecn,
                segment,
                contents,
            })
        }),
        1 => any::<[u8; 8]>().prop_map(C1x::Ping),
        1 => any::<[u8; 8]>().prop_map(C1x::Pong),
        1 => bytes_upto(200).prop_map(C1x::ClientAuth),
    ]
}

/// A server frame or relayed datagram that owns its bytes, for either
/// family.
#[derive(Debug, Clone)]
pub enum Sf {
    Frame(OwnedFrame),
    Datagram {
        src: NodeKey,
        ecn: u8,
        segment: Option<u16>,
        contents: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
pub enum OwnedFrame {
    Ping([u8; 8]),
    Pong([u8; 8]),
    Gone(NodeKey),
    Health(String),
    Status(Status),
    Restarting(u32, u32),
}

impl OwnedFrame {
    pub fn frame(&self) -> ServerFrame<'_> {
        match self {
            OwnedFrame::Ping(d) => ServerFrame::Ping(*d),
            OwnedFrame::Pong(d) => ServerFrame::Pong(*d),
            OwnedFrame::Gone(k) => ServerFrame::Gone(k),
            OwnedFrame::Health(t) => ServerFrame::Health(t),
            OwnedFrame::Status(s) => ServerFrame::Status(*s),
            OwnedFrame::Restarting(a, b) => ServerFrame::Restarting {
                reconnect_in_ms: *a,
                try_for_ms: *b,
            },
        }
    }
}

impl Sf {
    pub fn datagram(&self) -> Option<(&NodeKey, Datagram<'_>)> {
        match self {
            Sf::Datagram {
                src,
                ecn,
                segment,
                contents,
            } => Some((
                src,
                Datagram {
                    ecn: *ecn,
                    segment: *segment,
                    disco: false,
                    contents,
                },
            )),
            Sf::Frame(_) => None,
        }
    }

    /// What the server writes for it in dialect `d`.
    pub fn write(&self, d: Dialect, out: &mut Vec<u8>) {
        match (self, self.datagram()) {
            (_, Some((src, datagram))) => d.write_datagram(out, src, &datagram),
            (Sf::Frame(f), None) => d.encode(out, &f.frame()),
            (Sf::Datagram { .. }, None) => unreachable!(),
        }
    }

    /// What a 1.x client must decode, if `version` carries the frame.
    pub fn expected_v1x(&self, version: Version) -> Option<ServerMsg<'_>> {
        if let Some((src, d)) = self.datagram() {
            return Some(ServerMsg::Datagram {
                src,
                datagram: Datagram {
                    ecn: d.ecn & 0b11,
                    segment: d.segment.filter(|&s| s != 0),
                    disco: false,
                    contents: d.contents,
                },
            });
        }
        let Sf::Frame(f) = self else { unreachable!() };
        Some(match (f, version) {
            (OwnedFrame::Ping(d), _) => ServerMsg::Ping(*d),
            (OwnedFrame::Pong(d), _) => ServerMsg::Pong(*d),
            (OwnedFrame::Gone(k), _) => ServerMsg::Gone(k),
            (OwnedFrame::Restarting(a, b), _) => ServerMsg::Restarting {
                reconnect_in_ms: *a,
                try_for_ms: *b,
            },
            (OwnedFrame::Status(s), Version::V2) => ServerMsg::Status(*s as u8),
            (OwnedFrame::Status(s), Version::V1) => ServerMsg::Health(s.v1_text()?.as_bytes()),
            (OwnedFrame::Health(t), Version::V1) => ServerMsg::Health(t.as_bytes()),
            (OwnedFrame::Health(_), Version::V2) => return None,
        })
    }
}

fn status() -> impl Strategy<Value = Status> + Clone {
    prop::sample::select(vec![
        Status::Healthy,
        Status::SameEndpointIdConnected,
        Status::RateLimited,
    ])
}

/// Every frame a server sends in either family; datagrams are ones the
/// server forwards (contents not empty, within every limit).
pub fn server_frame() -> impl Strategy<Value = Sf> + Clone {
    prop_oneof![
        1 => any::<[u8; 8]>().prop_map(|d| Sf::Frame(OwnedFrame::Ping(d))),
        1 => any::<[u8; 8]>().prop_map(|d| Sf::Frame(OwnedFrame::Pong(d))),
        1 => any::<NodeKey>().prop_map(|k| Sf::Frame(OwnedFrame::Gone(k))),
        1 => ".{0,40}".prop_map(|t| Sf::Frame(OwnedFrame::Health(t))),
        1 => status().prop_map(|s| Sf::Frame(OwnedFrame::Status(s))),
        1 => any::<(u32, u32)>().prop_map(|(a, b)| Sf::Frame(OwnedFrame::Restarting(a, b))),
        6 => (
            any::<NodeKey>(),
            any::<u8>(),
            segment(),
            bytes_between(1, MAX_BATCH_CONTENTS),
        )
            .prop_map(|(src, ecn, segment, contents)| Sf::Datagram {
                src,
                ecn,
                segment,
                contents,
            }),
    ]
}

pub fn version() -> impl Strategy<Value = Version> + Clone {
    prop_oneof![Just(Version::V1), Just(Version::V2)]
}

/// Values at every varint length boundary, and any below 2^62.
fn varint_value() -> impl Strategy<Value = u64> {
    let edges: Vec<u64> = [1u64 << 6, 1 << 14, 1 << 30, 1 << 62]
        .iter()
        .flat_map(|&b| [b - 2, b - 1, b, b + 1])
        .chain([0, 1])
        .filter(|&v| v < 1 << 62)
        .collect();
    prop_oneof![prop::sample::select(edges), 0..(1u64 << 62)]
}

/// The shortest varint class (length `1 << class`) for `v`.
fn min_class(v: u64) -> u8 {
    match v {
        0..0x40 => 0,
        0x40..0x4000 => 1,
        0x4000..0x4000_0000 => 2,
        _ => 3,
    }
}

/// The one complete binary message in `wire`, as a client reads it.
pub fn server_body(mut wire: Vec<u8>) -> Result<Vec<u8>, String> {
    match WsDecoder::new(Role::Client).decode(&mut wire) {
        Ok(Progress::Item {
            item: WsItem::Binary(r),
            consumed,
        }) if consumed == wire.len() => Ok(wire[r].to_vec()),
        other => Err(format!("{other:?} of {} bytes", wire.len())),
    }
}

fn decoded(body: &[u8]) -> Result<ServerMsg<'_>, FrameError> {
    let (ty, payload) = split_message(body)?;
    client::decode_server(ty, payload)
}

proptest! {
    #![proptest_config(cases(256))]

    /// QUIC varints: the shortest form is written, and every form at least
    /// that long reads back, with whatever follows left alone.
    #[test]
    fn quic_varints(v in varint_value(), wider in 0..4u8, rest in bytes_upto(8)) {
        let class = min_class(v);
        let mut out = Vec::new();
        varint::encode(&mut out, v);
        prop_assert_eq!(&out, &quic_varint(v, class));
        for c in class..4 {
            let mut enc = quic_varint(v, c);
            let len = enc.len();
            prop_assert_eq!(varint::decode(&enc[..len - 1]), None);
            enc.extend_from_slice(&rest);
            prop_assert_eq!(varint::decode(&enc), Some((v, len)));
        }
        // As a frame type: any form, any payload.
        let mut msg = quic_varint(v, class.max(wider));
        msg.extend_from_slice(&rest);
        prop_assert_eq!(split_message(&msg), Ok((v, &rest[..])));
    }

    /// Postcard's varints (ClientInfo version, denial length) round-trip
    /// for every u64, trailing bytes ignored.
    #[test]
    fn postcard_varints(
        v in prop_oneof![
            any::<u64>(),
            (0..64u32).prop_map(|b| 1u64 << b),
            (1..64u32).prop_map(|b| (1u64 << b) - 1),
        ],
        rest in bytes_upto(4),
    ) {
        let mut out = Vec::new();
        encode_varint(v, &mut out);
        let bits = 64 - v.leading_zeros() as usize;
        prop_assert_eq!(out.len(), bits.div_ceil(7).max(1));
        prop_assert_eq!(decode_varint(&out[..out.len() - 1]), None);
        out.extend_from_slice(&rest);
        prop_assert_eq!(decode_varint(&out), Some(v));
    }

    /// A denial reason reads back as sent, whatever its length.
    #[test]
    fn denial_reasons(reason in prop_oneof![".{0,20}", ".{100,300}"]) {
        let mut body = Vec::new();
        handshake::write_deny(&mut body, &reason);
        prop_assert_eq!(decoded(&body), Ok(ServerMsg::Denied(reason.clone())));
    }
}

proptest! {
    #![proptest_config(cases(128))]

    /// Client frames decode on the server to what was sent; the server
    /// forwards exactly the datagrams a receiver accepts; one byte over
    /// the limit is refused.
    #[test]
    fn client_frames_roundtrip(f in client_frame(), version in version()) {
        let body = f.body();
        let (ty, payload) = split_message(&body).unwrap();
        prop_assert_eq!(decode_client(ty, payload), Ok(f.expected()));

        let event = serve::on_frame(ty, payload);
        prop_assert_eq!(&Dialect::V1x(version).on_client_frame(ty, payload), &event.clone().map_err(Into::into));
        match f.expected() {
            ClientFrame::Datagram { dst, datagram } if frame::forwardable(&datagram) => {
                prop_assert_eq!(event, Ok(Event::Forward { dst, datagram }));
                // What the receiver gets is a message its client accepts.
                let mut wire = Vec::new();
                serve::write_datagram(&mut wire, &[1; 32], &datagram);
                let body = server_body(wire).map_err(TestCaseError::fail)?;
                prop_assert!(body.len() <= MAX_PAYLOAD);
                prop_assert!(decoded(&body).is_ok());
            }
            ClientFrame::Datagram { datagram, .. } => {
                prop_assert!(datagram.contents.is_empty() || body.len() > MAX_PAYLOAD);
                prop_assert_eq!(event, Ok(Event::Unforwardable));
            }
            ClientFrame::Ping(d) => prop_assert_eq!(event, Ok(Event::Ping(d))),
            ClientFrame::Pong(d) => prop_assert_eq!(event, Ok(Event::Pong(d))),
            ClientFrame::ClientAuth(_) => prop_assert!(event.is_err()),
        }

        if let C1x::Datagram { .. } = f {
            // One byte past the 65,536 after the type.
            let mut over = body.clone();
            over.resize(1 + MAX_PAYLOAD + 1, 0);
            let (ty, payload) = split_message(&over).unwrap();
            prop_assert_eq!(decode_client(ty, payload), Err(FrameError::TooLarge(payload.len())));
        }
    }

    /// Every server frame reads back on the client as what it means in
    /// that version (v1: Status as Health text; v2: no Health), or is not
    /// written at all.
    #[test]
    fn server_frames_roundtrip(f in server_frame(), version in version()) {
        let d = Dialect::V1x(version);
        let mut wire = Vec::new();
        f.write(d, &mut wire);
        match f.expected_v1x(version) {
            None => prop_assert!(wire.is_empty(), "{:?}", wire),
            Some(want) => {
                let body = server_body(wire.clone()).map_err(TestCaseError::fail)?;
                prop_assert_eq!(decoded(&body), Ok(want));
                if let Some((_, datagram)) = f.datagram() {
                    prop_assert_eq!(body.len(), frame::datagram_len(&datagram));
                    prop_assert!(wire.len() <= Dialect::datagram_cost(datagram.contents.len()));
                }
            }
        }
    }
}

proptest! {
    // Each case signs once and verifies a few times.
    #![proptest_config(cases(16))]

    /// The handshake: the challenge the server sends reads back, a
    /// ClientAuth signed with any key for it verifies to that key (trailing
    /// bytes ignored), for another challenge it is denied with "signature
    /// invalid"; confirm and deny read back.
    #[test]
    fn handshake_messages(
        secret in any::<[u8; 32]>(),
        challenge in any::<[u8; 16]>(),
        other in any::<[u8; 16]>(),
        trailing in bytes_upto(8),
        version in version(),
    ) {
        let sk = ed25519_dalek::SigningKey::from_bytes(&secret);
        let key = *sk.verifying_key().as_bytes();
        let hs = Handshake::new(Dialect::V1x(version), challenge);
        let greeting = server_body(hs.greeting().unwrap()).map_err(TestCaseError::fail)?;
        prop_assert_eq!(decoded(&greeting), Ok(ServerMsg::Challenge(challenge)));

        let mut auth = handshake::client_auth(&sk, &challenge);
        prop_assert_eq!(auth.len(), 1 + 32 + 1 + 64);
        auth.extend_from_slice(&trailing);
        let (ty, payload) = split_message(&auth).unwrap();
        prop_assert_eq!(ty, FrameType::ClientAuth as u64);
        prop_assert_eq!(handshake::verify(&challenge, payload), Ok(key));
        let v = hs.on_frame(ty, payload).unwrap();
        prop_assert_eq!(v.key, key);
        let confirm = server_body(hs.confirm(&v).unwrap().unwrap()).map_err(TestCaseError::fail)?;
        prop_assert_eq!(decoded(&confirm), Ok(ServerMsg::Confirmed));
        let deny = server_body(hs.deny()).map_err(TestCaseError::fail)?;
        prop_assert_eq!(
            decoded(&deny),
            Ok(ServerMsg::Denied(handshake::NOT_AUTHORIZED.into()))
        );

        if other != challenge {
            let f = Handshake::new(Dialect::V1x(version), other)
                .on_frame(ty, payload)
                .unwrap_err();
            let reply = server_body(f.reply.unwrap()).map_err(TestCaseError::fail)?;
            prop_assert_eq!(
                decoded(&reply),
                Ok(ServerMsg::Denied(handshake::SIGNATURE_INVALID.into()))
            );
        }
    }
}
