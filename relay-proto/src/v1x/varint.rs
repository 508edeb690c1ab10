//! QUIC variable-length integers (RFC 9000 section 16): the top two bits of
//! the first byte give the length (1, 2, 4 or 8 bytes). Non-minimal
//! encodings are accepted, as iroh 1.x accepts them.

/// Decodes a varint at the start of `buf`: the value and its length.
pub fn decode(buf: &[u8]) -> Option<(u64, usize)> {
    let first = *buf.first()?;
    let len = 1usize << (first >> 6);
    let bytes = buf.get(..len)?;
    let mut v = u64::from(first & 0x3f);
    for b in &bytes[1..] {
        v = (v << 8) | u64::from(*b);
    }
    Some((v, len))
}

/// Appends `v` in its shortest encoding; `v` must be below 2^62.
pub fn encode(out: &mut Vec<u8>, v: u64) {
    if v < 1 << 6 {
        out.push(v as u8);
    } else if v < 1 << 14 {
        out.extend_from_slice(&((v as u16) | 0x4000).to_be_bytes());
    } else if v < 1 << 30 {
        out.extend_from_slice(&((v as u32) | 0x8000_0000).to_be_bytes());
    } else {
        out.extend_from_slice(&(v | 0xc000_0000_0000_0000).to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_examples_and_non_minimal_forms() {
        // RFC 9000 appendix A.1.
        assert_eq!(
            decode(&[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c]),
            Some((151_288_809_941_952_652, 8))
        );
        assert_eq!(decode(&[0x9d, 0x7f, 0x3e, 0x7d]), Some((494_878_333, 4)));
        assert_eq!(decode(&[0x7b, 0xbd]), Some((15_293, 2)));
        assert_eq!(decode(&[0x25]), Some((37, 1)));
        assert_eq!(decode(&[0x40, 0x25]), Some((37, 2)));
        assert_eq!(decode(&[0x40, 0x04]), Some((4, 2)));
        assert_eq!(decode(&[0x80, 0, 0, 0x04]), Some((4, 4)));
        assert_eq!(decode(&[0x80, 0, 0]), None);
        assert_eq!(decode(&[]), None);
        for v in [
            0u64,
            63,
            64,
            16_383,
            16_384,
            (1 << 30) - 1,
            1 << 30,
            (1 << 62) - 1,
        ] {
            let mut out = Vec::new();
            encode(&mut out, v);
            assert_eq!(decode(&out), Some((v, out.len())), "{v}");
        }
    }
}
