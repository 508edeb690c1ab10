//! Hand-built relay protocol bytes (docs/protocol-0.35.md §3 and 4), independent
//! of any relay implementation.

use ed25519_dalek::{Signer, SigningKey};

/// Frame type numbers (docs/protocol-0.35.md §3.3).
pub mod ty {
    pub const CLIENT_INFO: u8 = 2;
    pub const SEND_PACKET: u8 = 4;
    pub const RECV_PACKET: u8 = 5;
    pub const KEEP_ALIVE: u8 = 6;
    pub const NOTE_PREFERRED: u8 = 7;
    pub const PEER_GONE: u8 = 8;
    pub const PING: u8 = 12;
    pub const PONG: u8 = 13;
    pub const HEALTH: u8 = 14;
    pub const RESTARTING: u8 = 15;
}

/// `RELAY🔑`, 9 bytes.
pub const MAGIC: [u8; 9] = [0x52, 0x45, 0x4c, 0x41, 0x59, 0xf0, 0x9f, 0x94, 0x91];
/// Largest frame payload on the TCP stream.
pub const MAX_FRAME_SIZE: usize = 1024 * 1024;
/// Largest SendPacket / RecvPacket packet (after the 32-byte key).
pub const MAX_PACKET_SIZE: usize = 64 * 1024;
/// `postcard(ClientInfo { version: 3 })`.
pub const VERSION_3_MSG: [u8; 1] = [0x03];

/// A signing key from fixed secret bytes.
pub fn signing_key(secret: [u8; 32]) -> SigningKey {
    SigningKey::from_bytes(&secret)
}

/// A fresh random signing key.
pub fn random_signing_key() -> SigningKey {
    SigningKey::from_bytes(&rand::random::<[u8; 32]>())
}

/// The public key bytes of `sk`.
pub fn public(sk: &SigningKey) -> [u8; 32] {
    sk.verifying_key().to_bytes()
}

/// ClientInfo payload: magic ‖ key ‖ sig(message) ‖ message.
pub fn client_info_payload(sk: &SigningKey, message: &[u8]) -> Vec<u8> {
    let sig = sk.sign(message).to_bytes();
    client_info_payload_raw(&MAGIC, &public(sk), &sig, message)
}

/// ClientInfo payload from explicit parts (for malformed variants).
pub fn client_info_payload_raw(
    magic: &[u8],
    key: &[u8; 32],
    sig: &[u8; 64],
    message: &[u8],
) -> Vec<u8> {
    let mut p = Vec::with_capacity(magic.len() + 96 + message.len());
    p.extend_from_slice(magic);
    p.extend_from_slice(key);
    p.extend_from_slice(sig);
    p.extend_from_slice(message);
    p
}

/// A valid version-3 ClientInfo payload for `sk`.
pub fn client_info(sk: &SigningKey) -> Vec<u8> {
    client_info_payload(sk, &VERSION_3_MSG)
}

/// A TCP-stream frame: type ‖ u32 BE length ‖ payload.
pub fn frame(typ: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(5 + payload.len());
    f.push(typ);
    // Test payloads are far below 4 GiB; saturate rather than wrap just in case.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    f.extend_from_slice(&len.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A frame header claiming `len` payload bytes (no payload).
pub fn frame_header(typ: u8, len: u32) -> [u8; 5] {
    let l = len.to_be_bytes();
    [typ, l[0], l[1], l[2], l[3]]
}

/// SendPacket payload: dst ‖ packet.
pub fn send_packet_payload(dst: &[u8; 32], packet: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(32 + packet.len());
    p.extend_from_slice(dst);
    p.extend_from_slice(packet);
    p
}

/// A WebSocket relay message: type ‖ payload (no length).
pub fn ws_relay_message(typ: u8, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(1 + payload.len());
    m.push(typ);
    m.extend_from_slice(payload);
    m
}

/// 32 bytes that are not a valid (decompressible) ed25519 point.
pub fn invalid_point() -> [u8; 32] {
    for i in 0u8..=255 {
        let mut b = [0x11u8; 32];
        b[0] = i;
        b[31] = 0x2a;
        if ed25519_dalek::VerifyingKey::from_bytes(&b).is_err() {
            return b;
        }
    }
    // Unreachable in practice: about half of all encodings are invalid.
    panic!("no invalid point found");
}

/// A deterministic packet of `len` bytes whose content depends on `seed`.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ ((i >> 8) as u8))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// docs/protocol-0.35.md §4.1 test vector.
    #[test]
    fn client_info_test_vector() {
        let sk = signing_key([0x2a; 32]);
        assert_eq!(
            hex(&public(&sk)),
            "197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61"
        );
        let p = client_info(&sk);
        assert_eq!(p.len(), 106);
        assert_eq!(&p[..9], &MAGIC);
        assert_eq!(
            hex(&p[41..105]),
            "88e77b22f292ab37435da8de0bc8cb84e288f4e73b3582a52731e9ff9865465c\
             87e05e8d427df422bb6e85e1c05f6f749837baa4a5c7eba3230d77569910430e"
        );
        assert_eq!(p[105], 0x03);
        assert_eq!(&frame(ty::CLIENT_INFO, &p)[..5], &[2, 0, 0, 0, 0x6a]);
        assert_eq!(ws_relay_message(ty::CLIENT_INFO, &p).len(), 107);
    }

    #[test]
    fn ping_frame_bytes() {
        assert_eq!(
            frame(ty::PING, &[0x2a; 8]),
            [0x0c, 0, 0, 0, 8, 0x2a, 0x2a, 0x2a, 0x2a, 0x2a, 0x2a, 0x2a, 0x2a]
        );
    }

    #[test]
    fn invalid_point_is_invalid() {
        assert!(ed25519_dalek::VerifyingKey::from_bytes(&invalid_point()).is_err());
    }
}
