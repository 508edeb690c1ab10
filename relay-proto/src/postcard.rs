//! The pieces of postcard's encoding the handshakes use: unsigned varints
//! (LEB128: 7 bits per byte, low first).

/// Decodes a varint at the start of `buf`; trailing bytes are tolerated,
/// as postcard tolerates them.
pub fn decode_varint(buf: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for (i, b) in buf.iter().enumerate().take(10) {
        let bits = u64::from(b & 0x7f);
        if i == 9 && *b > 1 {
            return None;
        }
        v |= bits << (7 * i);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Appends `v` as a varint in its shortest form (1 to 10 bytes).
pub fn encode_varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_overflow() {
        for v in [0u64, 1, 127, 128, 300, u64::MAX] {
            let mut out = Vec::new();
            encode_varint(v, &mut out);
            assert_eq!(decode_varint(&out), Some(v), "{v}");
        }
        assert_eq!(decode_varint(&[0x80; 10]), None);
        assert_eq!(
            decode_varint(&[0xff; 9].iter().chain(&[2]).copied().collect::<Vec<_>>()),
            None
        );
        assert_eq!(decode_varint(&[0x0e, 0xff]), Some(14));
    }
}
