//! The ClientInfo handshake frame (type 2):
//! magic `RELAY🔑` (9 bytes) ‖ public key (32) ‖ signature (64) ‖ message,
//! where message = postcard(ClientInfo { version: usize }), a LEB128 varint.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

use crate::key::NodeKey;
use crate::postcard::{decode_varint, encode_varint};
use crate::sig::SigCheck;
use crate::KEY_LEN;

/// `RELAY` followed by the UTF-8 key emoji.
pub const MAGIC: [u8; 9] = *b"RELAY\xf0\x9f\x94\x91";
/// The only protocol version 0.35 servers accept.
pub const PROTOCOL_VERSION: u64 = 3;
const SIG_LEN: usize = 64;
const MESSAGE_OFFSET: usize = MAGIC.len() + KEY_LEN + SIG_LEN;

/// A verified handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's public key.
    pub key: NodeKey,
    /// The protocol version it speaks (servers accept [`PROTOCOL_VERSION`]).
    pub version: u64,
}

/// Why a handshake is refused. All are answered by a silent close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// Shorter than magic, key and signature (105 bytes).
    #[error("ClientInfo too short ({0} bytes)")]
    TooShort(usize),
    /// Does not start with [`MAGIC`].
    #[error("bad magic")]
    BadMagic,
    /// The key field is not an ed25519 point.
    #[error("client key is not a valid ed25519 point")]
    InvalidKey,
    /// The signature over the message does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// The message is not a postcard varint.
    #[error("ClientInfo message does not decode")]
    BadMessage,
    /// A version other than [`PROTOCOL_VERSION`].
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u64),
}

/// Checks magic, key and strict signature, and decodes the version, in the
/// reference's order. The version itself is checked by [`check_version`]
/// after access control, as the reference does.
pub fn verify(payload: &[u8]) -> Result<ClientInfo, HandshakeError> {
    let unchecked = decode(payload)?;
    let valid = unchecked.sig.verify_strict();
    unchecked.finish(valid)
}

/// A ClientInfo whose signature is still to be checked (alone or in a
/// batch, see [`crate::sig`]).
#[derive(Debug, Clone)]
pub struct Unchecked {
    /// The signature left to check.
    pub sig: SigCheck,
    key: NodeKey,
    /// Decoded now, reported only after the signature, as the reference.
    version: Option<u64>,
}

impl Unchecked {
    /// The outcome, once the signature was found `valid` or not.
    pub fn finish(self, valid: bool) -> Result<ClientInfo, HandshakeError> {
        if !valid {
            return Err(HandshakeError::BadSignature);
        }
        let version = self.version.ok_or(HandshakeError::BadMessage)?;
        Ok(ClientInfo {
            key: self.key,
            version,
        })
    }
}

/// Everything [`verify`] checks but the signature.
pub fn decode(payload: &[u8]) -> Result<Unchecked, HandshakeError> {
    if payload.len() < MESSAGE_OFFSET {
        return Err(HandshakeError::TooShort(payload.len()));
    }
    if payload[..MAGIC.len()] != MAGIC {
        return Err(HandshakeError::BadMagic);
    }
    let key: NodeKey = payload[MAGIC.len()..MAGIC.len() + KEY_LEN]
        .try_into()
        .map_err(|_| HandshakeError::TooShort(payload.len()))?;
    let sig: [u8; SIG_LEN] = payload[MAGIC.len() + KEY_LEN..MESSAGE_OFFSET]
        .try_into()
        .map_err(|_| HandshakeError::TooShort(payload.len()))?;
    let message = &payload[MESSAGE_OFFSET..];
    let vk = VerifyingKey::from_bytes(&key).map_err(|_| HandshakeError::InvalidKey)?;
    Ok(Unchecked {
        sig: SigCheck::new(vk, &sig, message),
        key,
        version: decode_varint(message),
    })
}

/// The version rule, applied after the access check.
pub fn check_version(info: &ClientInfo) -> Result<(), HandshakeError> {
    if info.version == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(HandshakeError::UnsupportedVersion(info.version))
    }
}

/// Builds the ClientInfo payload a 0.35 client sends (106 bytes for v3).
pub fn build(secret: &SigningKey, version: u64) -> Vec<u8> {
    let mut message = Vec::with_capacity(10);
    encode_varint(version, &mut message);
    let sig = secret.sign(&message);
    let mut out = Vec::with_capacity(MESSAGE_OFFSET + message.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(secret.verifying_key().as_bytes());
    out.extend_from_slice(&sig.to_bytes());
    out.extend_from_slice(&message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// docs/protocol-0.35.md §4.1: secret key 32 x 0x2a.
    #[test]
    fn test_vector() {
        let sk = SigningKey::from_bytes(&[0x2a; 32]);
        let p = build(&sk, 3);
        assert_eq!(p.len(), 106);
        assert_eq!(&p[..9], &MAGIC);
        assert_eq!(
            &p[9..41],
            &hex("197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61")[..]
        );
        assert_eq!(
            &p[41..105],
            &hex("88e77b22f292ab37435da8de0bc8cb84e288f4e73b3582a52731e9ff9865465c87e05e8d427df422bb6e85e1c05f6f749837baa4a5c7eba3230d77569910430e")[..]
        );
        assert_eq!(p[105], 3);
        let info = verify(&p).unwrap();
        assert_eq!(info.version, 3);
        assert_eq!(check_version(&info), Ok(()));
        // On the stream: 02 00 00 00 6a ...
        let mut framed = Vec::new();
        crate::v035::stream::write_header(&mut framed, 2, p.len());
        assert_eq!(framed, [2, 0, 0, 0, 0x6a]);
    }

    #[test]
    fn rejections() {
        let sk = SigningKey::from_bytes(&[7; 32]);
        let good = build(&sk, 3);
        assert_eq!(verify(&good[..104]), Err(HandshakeError::TooShort(104)));
        let mut bad_magic = good.clone();
        bad_magic[0] = b'X';
        assert_eq!(verify(&bad_magic), Err(HandshakeError::BadMagic));
        let mut bad_sig = good.clone();
        bad_sig[50] ^= 1;
        assert_eq!(verify(&bad_sig), Err(HandshakeError::BadSignature));
        // Signature over [3] but message changed to [4].
        let mut bad_msg = good.clone();
        bad_msg[105] = 4;
        assert_eq!(verify(&bad_msg), Err(HandshakeError::BadSignature));
        // No message at all: signature cannot match, and no varint anyway.
        let mut empty = good[..105].to_vec();
        assert!(verify(&empty).is_err());
        empty.push(0x80); // unterminated varint
        assert!(verify(&empty).is_err());
        let v4 = verify(&build(&sk, 4)).unwrap();
        assert_eq!(
            check_version(&v4),
            Err(HandshakeError::UnsupportedVersion(4))
        );
        // Multi-byte varint and trailing bytes.
        assert_eq!(verify(&build(&sk, 300)).unwrap().version, 300);
    }

    #[test]
    fn undecodable_and_small_order_keys() {
        let sk = SigningKey::from_bytes(&[7; 32]);
        let mut p = build(&sk, 3);
        // y = 2 is not on the curve... search a non-point deterministically.
        let mut k = [0u8; 32];
        for i in 0u8..=255 {
            k[0] = i;
            if VerifyingKey::from_bytes(&k).is_err() {
                break;
            }
        }
        p[9..41].copy_from_slice(&k);
        assert_eq!(verify(&p), Err(HandshakeError::InvalidKey));
        // The identity point (small order) must fail strict verification.
        let mut ident = [0u8; 32];
        ident[0] = 1;
        p[9..41].copy_from_slice(&ident);
        assert!(verify(&p).is_err());
    }

    #[test]
    fn varint() {
        for v in [0u64, 1, 3, 127, 128, 300, u64::MAX] {
            let mut b = Vec::new();
            encode_varint(v, &mut b);
            assert_eq!(decode_varint(&b), Some(v));
        }
        assert_eq!(decode_varint(&[0x80; 11]), None);
    }
}
