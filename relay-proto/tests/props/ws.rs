//! Websocket framing: every length class, masked and not, fragmented
//! messages with control frames between the fragments, the size limit.

use proptest::prelude::*;
use relay_proto::ws::{self, Progress, Role, WsDecoder, WsError, WsItem, MAX_MESSAGE};

use crate::common::{
    cases, fill, fragment_ends, ws_frame, ws_header_len, BINARY, CLOSE, CONT, PING, PONG, TEXT,
};

/// A payload length in each of the three length classes, and at their
/// edges.
fn ws_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        prop::sample::select(vec![0usize, 1, 125, 126, 127, 0xffff, 0x1_0000, 0x1_0001]),
        0..=125usize,
        126..=0xffffusize,
        0x1_0000..=0x1_2000usize,
    ]
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Server), Just(Role::Client)]
}

/// Control frames that may sit between the fragments of a message.
#[derive(Debug, Clone)]
enum Control {
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn control() -> impl Strategy<Value = Control> {
    let payload = (0..=125usize, any::<u64>()).prop_map(|(n, s)| fill(n, s));
    prop_oneof![
        payload.clone().prop_map(Control::Ping),
        payload.prop_map(Control::Pong),
    ]
}

/// One message: binary or text, cut into fragments at per-mille points,
/// with a control frame after some fragments.
#[derive(Debug, Clone)]
struct Msg {
    binary: bool,
    payload: Vec<u8>,
    cuts: Vec<u16>,
    controls: Vec<Option<Control>>,
}

fn msg() -> impl Strategy<Value = Msg> {
    (
        prop::bool::weighted(0.8),
        ws_len(),
        any::<u64>(),
        prop::collection::vec(0..=1000u16, 0..4),
        prop::collection::vec(prop::option::weighted(0.3, control()), 4),
    )
        .prop_map(|(binary, len, seed, cuts, controls)| Msg {
            binary,
            payload: fill(len, seed),
            cuts,
            controls,
        })
}

/// What the decoder yields for each frame.
#[derive(Debug, PartialEq, Eq)]
enum Want {
    Binary(Vec<u8>),
    Reassembled(Vec<u8>),
    Ping(Vec<u8>),
    Ignored,
    Close,
}

proptest! {
    #![proptest_config(cases(128))]

    /// A binary message of any length class, masked or not, is written as
    /// RFC 6455 says and reads back; a server refuses it unmasked; every
    /// cut through the header, and one through the payload, asks for more
    /// without asking for bytes past the frame.
    #[test]
    fn length_classes(
        len in ws_len(),
        seed in any::<u64>(),
        mask in prop::option::of(any::<[u8; 4]>()),
        role in role(),
        cut in any::<prop::sample::Index>(),
    ) {
        let payload = fill(len, seed);
        let mut wire = Vec::new();
        ws::write_header(&mut wire, len, mask);
        prop_assert_eq!(wire.len(), ws_header_len(len, mask.is_some()));
        let start = wire.len();
        wire.extend_from_slice(&payload);
        if let Some(m) = mask {
            ws::apply_mask(&mut wire[start..], m);
        }
        let mut want = Vec::new();
        ws_frame(&mut want, true, BINARY, &payload, mask);
        prop_assert!(wire == want, "differs from RFC 6455");

        let mut d = WsDecoder::new(role);
        let cuts = (0..=start.min(wire.len() - 1)).chain([cut.index(wire.len())]);
        for c in cuts {
            let mut part = wire[..c].to_vec();
            match d.decode(&mut part) {
                Ok(Progress::Need(n)) => prop_assert!(c < n && n <= wire.len(), "{} of {}: need {}", c, wire.len(), n),
                other => prop_assert!(false, "{} of {}: {:?}", c, wire.len(), other),
            }
        }
        let got = d.decode(&mut wire);
        if mask.is_none() && role == Role::Server {
            prop_assert_eq!(got, Err(WsError::Unmasked));
        } else {
            prop_assert_eq!(
                got,
                Ok(Progress::Item { item: WsItem::Binary(start..start + len), consumed: start + len })
            );
            prop_assert!(wire[start..] == payload[..]);
        }
    }

    /// Messages fragmented at any points, with pings and pongs between the
    /// fragments and text messages among them, read back in order: a
    /// fragmented binary message whole, texts and pongs ignored, pings
    /// handed up, Close last.
    #[test]
    fn fragmented_messages(
        msgs in prop::collection::vec(msg(), 1..5),
        role in role(),
        close in any::<bool>(),
        mask_seed in any::<u64>(),
    ) {
        let mut masks = fill(4 * 64, mask_seed).into_iter();
        let mut mask = || -> Option<[u8; 4]> {
            let m = [masks.next()?, masks.next()?, masks.next()?, masks.next()?];
            // A client decoder takes masked and unmasked frames alike.
            (role == Role::Server || m[0] & 1 == 0).then_some(m)
        };
        let mut wire = Vec::new();
        let mut want = Vec::new();
        for m in &msgs {
            let ends = fragment_ends(m.payload.len(), &m.cuts);
            let mut from = 0;
            for (i, &end) in ends.iter().enumerate() {
                let last = i + 1 == ends.len();
                let op = match (i, m.binary) {
                    (0, true) => BINARY,
                    (0, false) => TEXT,
                    _ => CONT,
                };
                ws_frame(&mut wire, last, op, &m.payload[from..end], mask());
                want.push(match (m.binary, last, ends.len()) {
                    (true, true, 1) => Want::Binary(m.payload.clone()),
                    (true, true, _) => Want::Reassembled(m.payload.clone()),
                    _ => Want::Ignored,
                });
                from = end;
                if last {
                    break;
                }
                match m.controls.get(i).cloned().flatten() {
                    Some(Control::Ping(p)) => {
                        ws_frame(&mut wire, true, PING, &p, mask());
                        want.push(Want::Ping(p));
                    }
                    Some(Control::Pong(p)) => {
                        ws_frame(&mut wire, true, PONG, &p, mask());
                        want.push(Want::Ignored);
                    }
                    None => {}
                }
            }
        }
        if close {
            ws_frame(&mut wire, true, CLOSE, &[3, 232], mask());
            want.push(Want::Close);
        }

        let mut d = WsDecoder::new(role);
        let mut at = 0;
        let mut got = Vec::new();
        while at < wire.len() {
            let (item, consumed) = match d.decode(&mut wire[at..]) {
                Ok(Progress::Item { item, consumed }) => (item, consumed),
                other => return Err(TestCaseError::fail(format!("at {at}: {other:?}"))),
            };
            got.push(match item {
                WsItem::Binary(r) => Want::Binary(wire[at + r.start..at + r.end].to_vec()),
                WsItem::Reassembled => {
                    let m = d.message().to_vec();
                    d.clear_message();
                    Want::Reassembled(m)
                }
                WsItem::Ping(r) => Want::Ping(wire[at + r.start..at + r.end].to_vec()),
                WsItem::Ignored => Want::Ignored,
                WsItem::Close => Want::Close,
            });
            at += consumed;
        }
        prop_assert_eq!(got, want);
    }

    /// With a limit set, a message (whole or in fragments) is refused as too
    /// large exactly when it is longer than the limit.
    #[test]
    fn the_limit_bounds_whole_and_fragmented_messages(
        limit in prop_oneof![0..=300usize, Just(MAX_MESSAGE), Just(usize::MAX)],
        len in prop_oneof![
            16 => 0..=400usize,
            1 => Just(MAX_MESSAGE),
            1 => Just(MAX_MESSAGE + 1),
        ],
        seed in any::<u64>(),
        cuts in prop::collection::vec(0..=1000u16, 0..4),
        mask in any::<[u8; 4]>(),
    ) {
        let payload = fill(len, seed);
        let ends = fragment_ends(len, &cuts);
        let mut d = WsDecoder::new(Role::Server);
        d.set_limit(limit);
        let mut from = 0;
        let mut outcome = Ok(());
        for (i, &end) in ends.iter().enumerate() {
            let mut frame = Vec::new();
            let last = i + 1 == ends.len();
            ws_frame(&mut frame, last, if i == 0 { BINARY } else { CONT }, &payload[from..end], Some(mask));
            from = end;
            match d.decode(&mut frame) {
                Ok(Progress::Item { consumed, .. }) => prop_assert_eq!(consumed, frame.len()),
                Ok(Progress::Need(n)) => prop_assert!(false, "need {} of {}", n, frame.len()),
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        if len > limit.min(MAX_MESSAGE) {
            prop_assert!(matches!(outcome, Err(WsError::TooLarge(_))), "{:?}", outcome);
        } else {
            prop_assert_eq!(outcome, Ok(()));
        }
    }
}
