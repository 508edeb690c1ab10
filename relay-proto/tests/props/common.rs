//! Strategies and helpers the property tests share.

use proptest::prelude::*;
use proptest::test_runner::Config;

/// A config running `n` cases, times `PROPS_SCALE` if set (to run many
/// more locally: `PROPS_SCALE=50 cargo test -p relay-proto --test props`).
pub fn cases(n: u32) -> Config {
    let scale = std::env::var("PROPS_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    Config {
        cases: n.saturating_mul(scale),
        // Shrinking a failure with a 1 MiB payload takes a while; this
        // bounds it.
        max_shrink_iters: 2048,
        ..Config::default()
    }
}

/// `n` pseudo-random bytes from `seed` (splitmix64), so large payloads
/// cost no value tree per byte and shrink through their length and seed.
pub fn fill(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// A length up to `max`: mostly small, often at the limit or one below.
pub fn len_upto(max: usize) -> impl Strategy<Value = usize> + Clone {
    prop_oneof![
        6 => 0..=64usize,
        1 => Just(max),
        1 => Just(max.saturating_sub(1)),
        2 => 0..=max,
    ]
}

/// Up to `max` bytes, lengths as [`len_upto`].
pub fn bytes_upto(max: usize) -> impl Strategy<Value = Vec<u8>> + Clone {
    (len_upto(max), any::<u64>()).prop_map(|(n, seed)| fill(n, seed))
}

/// Between `min` and `max` bytes, lengths often at either end.
pub fn bytes_between(min: usize, max: usize) -> impl Strategy<Value = Vec<u8>> + Clone {
    let len = prop_oneof![
        6 => min..=(min + 64).min(max),
        1 => Just(min),
        1 => Just(max),
        1 => Just(max.saturating_sub(1).max(min)),
        2 => min..=max,
    ];
    (len, any::<u64>()).prop_map(|(n, seed)| fill(n, seed))
}

/// Sizes of successive reads, used round-robin until the input is
/// exhausted: byte by byte, small, or large.
pub fn reads() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        prop::collection::vec(1..=3usize, 1..8),
        prop::collection::vec(1..=64usize, 1..8),
        prop::collection::vec(1..=100_000usize, 1..4),
    ]
}

/// `input` cut into reads of the sizes in `sizes`, round-robin.
pub fn split<'a>(input: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    for &n in sizes.iter().cycle() {
        if at == input.len() {
            break;
        }
        let end = (at + n.max(1)).min(input.len());
        out.push(&input[at..end]);
        at = end;
    }
    out
}

/// One websocket frame, written from RFC 6455 §5.2 directly (not with the
/// crate's helpers), so the decoder is checked against an independent
/// encoder.
pub fn ws_frame(out: &mut Vec<u8>, fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) {
    out.push(if fin { 0x80 } else { 0 } | opcode);
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n <= 0xffff => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
}

/// Opcodes (RFC 6455 §5.2).
pub const CONT: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xa;

/// Header length of a websocket frame with a payload of `len` bytes.
pub fn ws_header_len(len: usize, masked: bool) -> usize {
    let ext = match len {
        0..=125 => 0,
        126..=0xffff => 2,
        _ => 8,
    };
    2 + ext + if masked { 4 } else { 0 }
}

/// A QUIC varint of `v` in `1 << class` bytes (non-minimal when `class`
/// is larger than needed; `v` must fit).
pub fn quic_varint(v: u64, class: u8) -> Vec<u8> {
    let len = 1usize << class;
    assert!(
        len == 8 || v < 1 << (8 * len - 2),
        "{v} does not fit {len} bytes"
    );
    let mut out = v.to_be_bytes()[8 - len..].to_vec();
    out[0] |= class << 6;
    out
}

/// Where the fragments of a message of `len` bytes end, from per-mille
/// positions; the last fragment always ends at `len`.
pub fn fragment_ends(len: usize, cuts: &[u16]) -> Vec<usize> {
    let mut ends: Vec<usize> = cuts
        .iter()
        .map(|&c| len * usize::from(c.min(1000)) / 1000)
        .collect();
    ends.sort_unstable();
    ends.push(len);
    ends
}
