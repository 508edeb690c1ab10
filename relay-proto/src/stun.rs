//! STUN Binding responder (docs/protocol-0.35.md §8), pure: request bytes and
//! source address in, response bytes out.

use std::net::{IpAddr, SocketAddr};

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const HEADER: usize = 20;
const BINDING: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;
const ATTR_FINGERPRINT: u16 = 0x8028;
const FINGERPRINT_XOR: u32 = 0x5354_554e;

/// Why a datagram gets no STUN answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StunError {
    /// Not STUN at all (fails the quick filter).
    NotStun,
    /// STUN, but not an acceptable Binding request.
    Rejected(&'static str),
}

/// Answers a Binding request from `src`, or says why not.
pub fn respond(req: &[u8], src: SocketAddr) -> Result<Vec<u8>, StunError> {
    if req.len() < HEADER || req[0] & 0xc0 != 0 || req[4..8] != MAGIC_COOKIE {
        return Err(StunError::NotStun);
    }
    let ty = u16::from_be_bytes([req[0], req[1]]);
    // Method bits only: the class is not checked, as the reference does.
    if ty & 0x3eef != BINDING {
        return Err(StunError::Rejected("not a Binding"));
    }
    let len = u16::from_be_bytes([req[2], req[3]]) as usize;
    if !len.is_multiple_of(4) || HEADER + len != req.len() {
        return Err(StunError::Rejected("bad length"));
    }
    check_attributes(req)?;
    let mut tx = [0u8; 12];
    tx.copy_from_slice(&req[8..20]);
    Ok(success(&tx, src))
}

/// Attributes must be well formed; if any exist, the last must be a valid
/// FINGERPRINT.
fn check_attributes(req: &[u8]) -> Result<(), StunError> {
    let mut pos = HEADER;
    let mut last = None;
    while pos < req.len() {
        let head = req
            .get(pos..pos + 4)
            .ok_or(StunError::Rejected("truncated attribute"))?;
        let ty = u16::from_be_bytes([head[0], head[1]]);
        let alen = u16::from_be_bytes([head[2], head[3]]) as usize;
        let end = pos + 4 + alen;
        if end > req.len() {
            return Err(StunError::Rejected("truncated attribute"));
        }
        last = Some((ty, pos, alen));
        pos = end + (4 - alen % 4) % 4;
    }
    match last {
        None => Ok(()),
        Some((ATTR_FINGERPRINT, at, 4)) => {
            let want = crc32fast::hash(&req[..at]) ^ FINGERPRINT_XOR;
            let got = u32::from_be_bytes([req[at + 4], req[at + 5], req[at + 6], req[at + 7]]);
            if want == got {
                Ok(())
            } else {
                Err(StunError::Rejected("bad fingerprint"))
            }
        }
        Some(_) => Err(StunError::Rejected("last attribute is not FINGERPRINT")),
    }
}

/// Binding success with a single XOR-MAPPED-ADDRESS.
fn success(tx: &[u8; 12], src: SocketAddr) -> Vec<u8> {
    let ip = src.ip().to_canonical();
    let addr_len = if ip.is_ipv4() { 4 } else { 16 };
    let mut out = Vec::with_capacity(HEADER + 8 + addr_len);
    out.extend_from_slice(&BINDING_SUCCESS.to_be_bytes());
    out.extend_from_slice(&((8 + addr_len) as u16).to_be_bytes());
    out.extend_from_slice(&MAGIC_COOKIE);
    out.extend_from_slice(tx);
    out.extend_from_slice(&ATTR_XOR_MAPPED_ADDRESS.to_be_bytes());
    out.extend_from_slice(&((4 + addr_len) as u16).to_be_bytes());
    out.push(0);
    let port = src.port() ^ 0x2112;
    match ip {
        IpAddr::V4(v4) => {
            out.push(0x01);
            out.extend_from_slice(&port.to_be_bytes());
            for (b, m) in v4.octets().iter().zip(MAGIC_COOKIE) {
                out.push(b ^ m);
            }
        }
        IpAddr::V6(v6) => {
            out.push(0x02);
            out.extend_from_slice(&port.to_be_bytes());
            let mask = MAGIC_COOKIE.iter().chain(tx.iter());
            for (b, m) in v6.octets().iter().zip(mask) {
                out.push(b ^ m);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 28-byte request iroh 0.35 sends: Binding with only FINGERPRINT.
    fn iroh_request(tx: [u8; 12]) -> Vec<u8> {
        let mut r = vec![0x00, 0x01, 0x00, 0x08];
        r.extend_from_slice(&MAGIC_COOKIE);
        r.extend_from_slice(&tx);
        let crc = crc32fast::hash(&r) ^ FINGERPRINT_XOR;
        r.extend_from_slice(&ATTR_FINGERPRINT.to_be_bytes());
        r.extend_from_slice(&4u16.to_be_bytes());
        r.extend_from_slice(&crc.to_be_bytes());
        r
    }

    #[test]
    fn ipv4_and_ipv6_replies() {
        let tx = [7u8; 12];
        let req = iroh_request(tx);
        assert_eq!(req.len(), 28);
        let r = respond(&req, "192.0.2.1:32853".parse().unwrap()).unwrap();
        assert_eq!(r.len(), 32);
        assert_eq!(&r[..4], &[0x01, 0x01, 0x00, 0x0c]);
        assert_eq!(&r[8..20], &tx);
        // port 32853 ^ 0x2112 = 0xa147; 192.0.2.1 ^ cookie = e1 12 a6 43
        assert_eq!(
            &r[20..32],
            &[0, 0x20, 0, 8, 0, 1, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43]
        );
        let r6 = respond(&req, "[2001:db8::1]:1".parse().unwrap()).unwrap();
        assert_eq!(r6.len(), 44);
        assert_eq!(r6[25], 0x02);
        let mapped = respond(&req, "[::ffff:192.0.2.1]:32853".parse().unwrap()).unwrap();
        assert_eq!(mapped, r);
    }

    #[test]
    fn rejections() {
        let src: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(respond(b"hello", src), Err(StunError::NotStun));
        let mut bad_fp = iroh_request([1; 12]);
        bad_fp[27] ^= 1;
        assert!(matches!(respond(&bad_fp, src), Err(StunError::Rejected(_))));
        let mut not_binding = iroh_request([1; 12]);
        not_binding[1] = 0x02;
        assert!(respond(&not_binding, src).is_err());
        // No attributes at all is accepted.
        let mut bare = vec![0, 1, 0, 0];
        bare.extend_from_slice(&MAGIC_COOKIE);
        bare.extend_from_slice(&[3; 12]);
        assert!(respond(&bare, src).is_ok());
        // Trailing non-fingerprint attribute is refused.
        let mut soft = vec![0, 1, 0, 8];
        soft.extend_from_slice(&MAGIC_COOKIE);
        soft.extend_from_slice(&[3; 12]);
        soft.extend_from_slice(&[0x80, 0x22, 0, 4, b'a', b'b', b'c', b'd']);
        assert!(respond(&soft, src).is_err());
    }
}
