//! Shared pieces of the fuzz targets: the relay's sans-IO crate, how an
//! input becomes a series of reads, the fixed client key and challenge,
//! and the whole-connection driver ([`session`]).

// The relay's sans-IO crate under the paths the targets use.
pub use relay_proto as proto;
pub use relay_proto::http;

pub mod session;

use std::sync::OnceLock;

use crate::proto::reader::whole_frames;
use crate::proto::ws::Role;
use crate::proto::Dialect;
use ed25519_dalek::SigningKey;

/// The secret of the test vectors (PROTOCOL.md §4.1, PROTOCOL-1X.md §3.6).
pub const SECRET: [u8; 32] = [0x2a; 32];
/// The 1.x challenge the driven server sends (the §3.6 vector's).
pub const CHALLENGE: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// The client key of the vectors, derived once per process.
pub fn signing_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::from_bytes(&SECRET))
}

/// Most cuts one input may ask for.
pub const MAX_CUTS: usize = 7;

/// Splits an input into the reads a server would see:
/// `[n][n × u16 LE read length][stream]`, with `n = first byte & 7`.
/// Each length is taken modulo what is left (plus one); zero-length reads
/// are dropped, and whatever is left after the last cut is one more read.
pub fn reads(data: &[u8]) -> Vec<&[u8]> {
    let Some((&first, rest)) = data.split_first() else {
        return Vec::new();
    };
    let n = usize::from(first) & MAX_CUTS;
    let (cuts, mut stream) = rest.split_at((2 * n).min(rest.len()));
    let mut out = Vec::with_capacity(n + 1);
    for c in cuts.chunks_exact(2) {
        let want = usize::from(u16::from_le_bytes([c[0], c[1]]));
        let take = want % (stream.len() + 1);
        let (read, tail) = stream.split_at(take);
        if !read.is_empty() {
            out.push(read);
        }
        stream = tail;
    }
    if !stream.is_empty() {
        out.push(stream);
    }
    out
}

/// Encodes reads in the form [`reads`] takes (for seeds).
pub fn with_cuts(reads: &[&[u8]]) -> Vec<u8> {
    assert!(!reads.is_empty() && reads.len() <= MAX_CUTS + 1);
    let cuts = &reads[..reads.len() - 1];
    let mut out = vec![cuts.len() as u8];
    for r in cuts {
        out.extend_from_slice(&(r.len() as u16).to_le_bytes());
    }
    for r in reads {
        out.extend_from_slice(r);
    }
    out
}

/// Checks that `bytes`, written by the server, are exactly whole frames a
/// client of `dialect` reads back; returns their (type, payload).
pub fn client_reads(dialect: Dialect, bytes: &[u8]) -> Vec<(u64, Vec<u8>)> {
    match whole_frames(dialect, Role::Client, bytes) {
        Some(frames) => frames,
        None => panic!("server wrote what its client cannot read"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_roundtrip() {
        let parts: [&[u8]; 3] = [b"GET", b" / HTTP/1.1\r\n", b"\r\n"];
        assert_eq!(reads(&with_cuts(&parts)), parts);
        assert_eq!(reads(&[0]), Vec::<&[u8]>::new());
        assert_eq!(reads(b"\x00abc"), vec![&b"abc"[..]]);
    }
}
