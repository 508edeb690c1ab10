//! Measurement header at the start of every packet payload (little endian):
//! magic u32 ‖ sender index u32 ‖ sequence u64 ‖ send time u64 (ns since
//! the loadgen's clock base). The rest of the payload is zero filler.

/// Bytes the header occupies; the smallest allowed `--size`.
pub const HEADER_LEN: usize = 24;
/// Marks packets made by this tool (and not, say, a disco probe).
pub const MAGIC: u32 = 0x4c47_7631; // "LGv1"

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub sender: u32,
    pub seq: u64,
    pub sent_ns: u64,
}

/// Writes `h` into the first [`HEADER_LEN`] bytes of `buf`.
/// `buf` must be at least `HEADER_LEN` long (checked at startup via `--size`).
pub fn write(buf: &mut [u8], h: &Header) {
    buf[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    buf[4..8].copy_from_slice(&h.sender.to_le_bytes());
    buf[8..16].copy_from_slice(&h.seq.to_le_bytes());
    buf[16..24].copy_from_slice(&h.sent_ns.to_le_bytes());
}

/// Reads the header of a received payload; `None` if it is not ours.
pub fn read(buf: &[u8]) -> Option<Header> {
    let b = buf.get(..HEADER_LEN)?;
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let u64_at = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(w)
    };
    (u32_at(0) == MAGIC).then(|| Header {
        sender: u32_at(4),
        seq: u64_at(8),
        sent_ns: u64_at(16),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let mut buf = vec![0u8; 1200];
        let h = Header {
            sender: 7,
            seq: 1 << 40,
            sent_ns: 123_456_789,
        };
        write(&mut buf, &h);
        assert_eq!(read(&buf), Some(h));
        assert_eq!(read(&buf[..HEADER_LEN - 1]), None);
        buf[0] ^= 1;
        assert_eq!(read(&buf), None);
    }
}
