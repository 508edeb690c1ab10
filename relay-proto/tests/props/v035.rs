//! iroh 0.35: frames, the stream framing, websocket messages, ClientInfo.

use proptest::prelude::*;
use relay_proto::handshake::Handshake;
use relay_proto::key::NodeKey;
use relay_proto::v035::{client_info, frame, message, serve, stream, HEADER_LEN};
use relay_proto::ws::{Progress, Role, WsDecoder, WsItem};
use relay_proto::{Dialect, Event, Frame, FrameError, Transport, MAX_FRAME_SIZE, MAX_PACKET_SIZE};

use crate::common::{bytes_upto, cases, ws_frame, ws_header_len, BINARY};

/// A 0.35 frame that owns its payload.
#[derive(Debug, Clone)]
pub enum F035 {
    ClientInfo(Vec<u8>),
    SendPacket(NodeKey, Vec<u8>),
    RecvPacket(NodeKey, Vec<u8>),
    KeepAlive,
    NotePreferred(bool),
    PeerGone(NodeKey),
    Ping([u8; 8]),
    Pong([u8; 8]),
    Health(String),
    Restarting(u32, u32),
}

impl F035 {
    pub fn frame(&self) -> Frame<'_> {
        match self {
            F035::ClientInfo(p) => Frame::ClientInfo(p),
            F035::SendPacket(k, p) => Frame::SendPacket { dst: k, packet: p },
            F035::RecvPacket(k, p) => Frame::RecvPacket { src: k, packet: p },
            F035::KeepAlive => Frame::KeepAlive,
            F035::NotePreferred(b) => Frame::NotePreferred(*b),
            F035::PeerGone(k) => Frame::PeerGone(k),
            F035::Ping(d) => Frame::Ping(*d),
            F035::Pong(d) => Frame::Pong(*d),
            F035::Health(t) => Frame::Health(t),
            F035::Restarting(a, b) => Frame::Restarting {
                reconnect_in_ms: *a,
                try_for_ms: *b,
            },
        }
    }
}

/// Health texts: short and arbitrary, or long.
fn health_text() -> impl Strategy<Value = String> + Clone {
    prop_oneof![4 => ".{0,40}", 1 => "[ -~]{0,3000}"]
}

/// Every frame a 0.35 client sends, payloads up to the limits (a
/// ClientInfo is bounded by the stream frame, 1 MiB).
pub fn client_frame() -> impl Strategy<Value = F035> + Clone {
    prop_oneof![
        1 => bytes_upto(MAX_FRAME_SIZE).prop_map(F035::ClientInfo),
        4 => (any::<NodeKey>(), bytes_upto(MAX_PACKET_SIZE))
            .prop_map(|(k, p)| F035::SendPacket(k, p)),
        1 => Just(F035::KeepAlive),
        1 => any::<bool>().prop_map(F035::NotePreferred),
        1 => any::<[u8; 8]>().prop_map(F035::Ping),
        1 => any::<[u8; 8]>().prop_map(F035::Pong),
    ]
}

/// Every frame a 0.35 server sends.
pub fn server_frame() -> impl Strategy<Value = F035> + Clone {
    prop_oneof![
        4 => (any::<NodeKey>(), bytes_upto(MAX_PACKET_SIZE))
            .prop_map(|(k, p)| F035::RecvPacket(k, p)),
        1 => Just(F035::KeepAlive),
        1 => any::<NodeKey>().prop_map(F035::PeerGone),
        1 => any::<[u8; 8]>().prop_map(F035::Ping),
        1 => any::<[u8; 8]>().prop_map(F035::Pong),
        1 => health_text().prop_map(F035::Health),
        1 => any::<(u32, u32)>().prop_map(|(a, b)| F035::Restarting(a, b)),
    ]
}

fn any_frame() -> impl Strategy<Value = F035> {
    prop_oneof![client_frame(), server_frame()]
}

/// The single binary message at the start of `buf`, as `role` decodes it.
fn one_message(buf: &mut [u8], role: Role) -> Result<(std::ops::Range<usize>, usize), String> {
    match WsDecoder::new(role).decode(buf) {
        Ok(Progress::Item {
            item: WsItem::Binary(r),
            consumed,
        }) => Ok((r, consumed)),
        other => Err(format!("{other:?}")),
    }
}

proptest! {
    #![proptest_config(cases(256))]

    /// A frame's payload decodes to the frame, and is as long as it says.
    #[test]
    fn payload_roundtrip(f in any_frame()) {
        let frame = f.frame();
        let mut payload = Vec::new();
        frame.write_payload(&mut payload);
        prop_assert_eq!(payload.len(), frame.payload_len());
        prop_assert_eq!(frame::decode(frame.frame_type() as u8, &payload), Ok(frame));
    }

    /// The stream header is refused exactly when it announces more than
    /// 1 MiB, whatever the type byte.
    #[test]
    fn stream_header_limit(
        ty in any::<u8>(),
        len in prop_oneof![
            Just(MAX_FRAME_SIZE as u32),
            Just(MAX_FRAME_SIZE as u32 + 1),
            0..=MAX_FRAME_SIZE as u32 + 2,
            any::<u32>(),
        ],
    ) {
        let mut h = Vec::new();
        stream::write_header(&mut h, ty, len as usize);
        prop_assert_eq!(h.len(), HEADER_LEN);
        let got = stream::parse_header(&h);
        if len as usize > MAX_FRAME_SIZE {
            prop_assert_eq!(got, Err(FrameError::TooLarge(len as usize)));
            prop_assert!(stream::next_frame(&h).is_err());
        } else {
            prop_assert_eq!(got, Ok(Some((ty, len as usize))));
            prop_assert_eq!(stream::needed(&h), Ok(HEADER_LEN + len as usize));
        }
    }
}

proptest! {
    #![proptest_config(cases(48))]

    /// Back-to-back stream frames are found one after the other and decode
    /// to what was encoded.
    #[test]
    fn stream_roundtrip(frames in prop::collection::vec(any_frame(), 1..5)) {
        let mut wire = Vec::new();
        for f in &frames {
            stream::encode(&mut wire, &f.frame());
        }
        let mut rest = &wire[..];
        for f in &frames {
            let want = f.frame();
            let raw = stream::next_frame(rest).unwrap().unwrap();
            prop_assert_eq!(raw.ty, want.frame_type() as u8);
            prop_assert_eq!(raw.start, HEADER_LEN);
            prop_assert_eq!(raw.end, HEADER_LEN + want.payload_len());
            prop_assert_eq!(stream::needed(rest), Ok(raw.end));
            prop_assert_eq!(frame::decode(raw.ty, &rest[raw.start..raw.end]), Ok(want));
            rest = &rest[raw.end..];
        }
        prop_assert_eq!(stream::next_frame(rest), Ok(None));
        prop_assert_eq!(stream::needed(rest), Ok(HEADER_LEN));
    }

    /// A frame as a websocket message, unmasked (server) and masked
    /// (client): the bytes RFC 6455 prescribes, read back by the decoder of
    /// the other side. The transports' encoders agree with the framings.
    #[test]
    fn message_roundtrip(f in any_frame(), mask in any::<[u8; 4]>()) {
        let frame = f.frame();
        let mut body = vec![frame.frame_type() as u8];
        frame.write_payload(&mut body);

        let mut plain = Vec::new();
        message::encode(&mut plain, &frame);
        let mut want = Vec::new();
        ws_frame(&mut want, true, BINARY, &body, None);
        prop_assert!(plain == want, "unmasked message differs from RFC 6455");
        let mut via = Vec::new();
        Transport::Websocket.encode(&mut via, &frame);
        prop_assert!(via == plain);

        let mut masked = Vec::new();
        message::encode_masked(&mut masked, &frame, mask);
        want.clear();
        ws_frame(&mut want, true, BINARY, &body, Some(mask));
        prop_assert!(masked == want, "masked message differs from RFC 6455");

        for (mut buf, role) in [(plain, Role::Client), (masked, Role::Server)] {
            let (r, consumed) = one_message(&mut buf, role).map_err(TestCaseError::fail)?;
            prop_assert_eq!(consumed, buf.len());
            prop_assert_eq!(r.start, ws_header_len(body.len(), role == Role::Server));
            let (ty, payload) = message::split_message(&buf[r]).unwrap();
            prop_assert_eq!(frame::decode(ty, payload), Ok(frame.clone()));
        }

        let mut derp = Vec::new();
        Transport::Derp.encode(&mut derp, &frame);
        let mut want = Vec::new();
        stream::encode(&mut want, &frame);
        prop_assert!(derp == want);
    }

    /// A RecvPacket written as header, key and packet (the relay's zero-copy
    /// path) is the frame the encoder writes, and what a client decodes.
    #[test]
    fn relayed_packets(src in any::<NodeKey>(), packet in bytes_upto(MAX_PACKET_SIZE)) {
        let frame = Frame::RecvPacket { src: &src, packet: &packet };
        for t in [Transport::Derp, Transport::Websocket] {
            let mut split = Vec::new();
            serve::write_packet(&mut split, t, &src, &packet);
            let mut whole = Vec::new();
            t.encode(&mut whole, &frame);
            prop_assert!(split == whole, "{:?}", t);
            let mut d = Vec::new();
            Dialect::V035(t).write_datagram(
                &mut d,
                &src,
                &relay_proto::Datagram::plain(&packet),
            );
            prop_assert!(d == whole, "{:?}", t);
            prop_assert!(d.len() <= Dialect::datagram_cost(packet.len()));
        }
    }

    /// What a client's frames mean to the server: packets are forwarded to
    /// their destination as they are, pings answered, the rest ignored.
    #[test]
    fn client_frames_mean_what_they_say(f in client_frame()) {
        let frame = f.frame();
        let mut payload = Vec::new();
        frame.write_payload(&mut payload);
        let got = serve::on_frame(frame.frame_type() as u8, &payload);
        match frame {
            Frame::SendPacket { dst, packet } => {
                let Ok(Event::Forward { dst: d, datagram }) = got else {
                    return Err(TestCaseError::fail(format!("{got:?}")));
                };
                prop_assert_eq!(d, dst);
                prop_assert_eq!(datagram.contents, packet);
                prop_assert_eq!((datagram.ecn, datagram.segment), (0, None));
                prop_assert_eq!(datagram.disco, frame::is_disco(packet));
            }
            Frame::Ping(d) => prop_assert_eq!(got, Ok(Event::Ping(d))),
            Frame::Pong(d) => prop_assert_eq!(got, Ok(Event::Pong(d))),
            // A later ClientInfo must carry the magic and a valid key.
            Frame::ClientInfo(p) => {
                let valid = p.starts_with(&client_info::MAGIC)
                    && p.get(9..41).is_some_and(|k| {
                        relay_proto::key::is_valid_point(k.try_into().unwrap())
                    });
                prop_assert_eq!(got.is_ok(), valid, "{:?}", got);
            }
            _ => prop_assert_eq!(got, Ok(Event::Ignored)),
        }
    }
}

/// ClientInfo versions: the one servers accept, varint boundaries, any.
fn version() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(client_info::PROTOCOL_VERSION),
        prop::sample::select(vec![0, 127, 128, 16_383, 16_384, u64::MAX >> 1, u64::MAX]),
        any::<u64>(),
    ]
}

proptest! {
    // Each case signs and verifies a few times (slow without optimisation).
    #![proptest_config(cases(16))]

    /// A ClientInfo signed with any key decodes and verifies to that key
    /// and version, on both transports; one flipped bit anywhere and it
    /// does not.
    #[test]
    fn client_info_roundtrip(
        secret in any::<[u8; 32]>(),
        version in version(),
        flip in any::<prop::sample::Index>(),
        bit in 0..8u8,
    ) {
        let sk = ed25519_dalek::SigningKey::from_bytes(&secret);
        let key = *sk.verifying_key().as_bytes();
        let p = client_info::build(&sk, version);
        let mut varint = Vec::new();
        relay_proto::postcard::encode_varint(version, &mut varint);
        prop_assert_eq!(p.len(), 9 + 32 + 64 + varint.len());
        let info = client_info::verify(&p).unwrap();
        prop_assert_eq!(&info, &client_info::ClientInfo { key, version });
        prop_assert_eq!(
            client_info::check_version(&info).is_ok(),
            version == client_info::PROTOCOL_VERSION
        );

        let transport = if bit % 2 == 0 { Transport::Derp } else { Transport::Websocket };
        let hs = Handshake::new(Dialect::V035(transport), [0; 16]);
        prop_assert_eq!(hs.greeting(), None);
        let v = hs.on_frame(frame::FrameType::ClientInfo as u64, &p).unwrap();
        prop_assert_eq!(v.key, key);
        prop_assert_eq!(hs.confirm(&v).is_ok(), version == client_info::PROTOCOL_VERSION);
        // A second ClientInfo after the handshake is ignored.
        prop_assert_eq!(serve::on_frame(2, &p), Ok(Event::Ignored));

        let mut bad = p.clone();
        bad[flip.index(p.len())] ^= 1 << bit;
        prop_assert!(client_info::verify(&bad).is_err(), "flipped byte {}", flip.index(p.len()));
    }
}
