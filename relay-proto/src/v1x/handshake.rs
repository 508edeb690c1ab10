//! The 1.x handshake: the server sends a 16-byte challenge, the client
//! answers with its key and an ed25519 signature over
//! `blake3::derive_key("iroh-relay handshake v1 challenge signature",
//! challenge)`, and the server confirms or denies.
//!
//! Encodings are postcard's: the challenge is 16 raw bytes, ClientAuth is
//! `key[32] ‖ 0x40 ‖ signature[64]` (trailing bytes ignored, as postcard
//! does), a denial is `varint(len) ‖ utf8`.

use ed25519_dalek::VerifyingKey;

use super::frame::FrameType;
use crate::key::NodeKey;
use crate::postcard::encode_varint;
use crate::sig::SigCheck;
use crate::KEY_LEN;

/// The blake3 key-derivation context of the challenge signature.
pub const SIGNATURE_CONTEXT: &str = "iroh-relay handshake v1 challenge signature";
/// The reason sent when the signature does not verify.
pub const SIGNATURE_INVALID: &str = "signature invalid";
/// The reason sent when access control says no.
pub const NOT_AUTHORIZED: &str = "not authorized";

const SIG_LEN: usize = 64;

/// Why a ClientAuth was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Not a ClientAuth, or it does not decode: closed without a reply.
    #[error("ClientAuth does not decode")]
    Malformed,
    /// The key or signature is bad: answered with `signature invalid`.
    #[error("ClientAuth signature does not verify")]
    BadSignature,
}

/// Appends the ServerChallenge message.
pub fn write_challenge(out: &mut Vec<u8>, challenge: &[u8; 16]) {
    out.push(FrameType::ServerChallenge as u8);
    out.extend_from_slice(challenge);
}

/// Appends the ServerConfirmsAuth message.
pub fn write_confirm(out: &mut Vec<u8>) {
    out.push(FrameType::ServerConfirmsAuth as u8);
}

/// Appends a ServerDeniesAuth message with `reason`.
pub fn write_deny(out: &mut Vec<u8>, reason: &str) {
    out.push(FrameType::ServerDeniesAuth as u8);
    encode_varint(reason.len() as u64, out);
    out.extend_from_slice(reason.as_bytes());
}

/// What the client must sign for `challenge`.
pub fn signed_message(challenge: &[u8; 16]) -> [u8; 32] {
    blake3::derive_key(SIGNATURE_CONTEXT, challenge)
}

/// Checks a ClientAuth payload against the challenge that was sent; the
/// client's key on success.
pub fn verify(challenge: &[u8; 16], payload: &[u8]) -> Result<NodeKey, AuthError> {
    let (key, sig) = decode(challenge, payload)?;
    finish(key, sig.verify_strict())
}

/// Everything [`verify`] checks but the signature: the key and what is
/// left to check (alone or in a batch, see [`crate::sig`]).
pub fn decode(challenge: &[u8; 16], payload: &[u8]) -> Result<(NodeKey, SigCheck), AuthError> {
    let key: NodeKey = payload
        .get(..KEY_LEN)
        .and_then(|k| k.try_into().ok())
        .ok_or(AuthError::Malformed)?;
    if payload.get(KEY_LEN) != Some(&(SIG_LEN as u8)) {
        return Err(AuthError::Malformed);
    }
    let sig: [u8; SIG_LEN] = payload
        .get(KEY_LEN + 1..KEY_LEN + 1 + SIG_LEN)
        .and_then(|s| s.try_into().ok())
        .ok_or(AuthError::Malformed)?;
    let vk = VerifyingKey::from_bytes(&key).map_err(|_| AuthError::BadSignature)?;
    Ok((key, SigCheck::new(vk, &sig, &signed_message(challenge))))
}

/// The outcome once the signature was found `valid` or not.
pub fn finish(key: NodeKey, valid: bool) -> Result<NodeKey, AuthError> {
    if valid {
        Ok(key)
    } else {
        Err(AuthError::BadSignature)
    }
}

/// Builds the ClientAuth message a 1.x client sends (loadgen, tests).
pub fn client_auth(secret: &ed25519_dalek::SigningKey, challenge: &[u8; 16]) -> Vec<u8> {
    use ed25519_dalek::Signer;
    let sig = secret.sign(&signed_message(challenge));
    let mut out = Vec::with_capacity(2 + KEY_LEN + SIG_LEN);
    out.push(FrameType::ClientAuth as u8);
    out.extend_from_slice(secret.verifying_key().as_bytes());
    out.push(SIG_LEN as u8);
    out.extend_from_slice(&sig.to_bytes());
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

    /// docs/protocol-1x.md §3.6, computed with the real 1.4.1 crates.
    #[test]
    fn pinned_vectors() {
        let challenge: [u8; 16] = std::array::from_fn(|i| i as u8);
        assert_eq!(
            signed_message(&challenge).to_vec(),
            hex("b7b16e505d2cb5dbaf494800092c3b05a6c45d8d3fd4f1b888c6a77240b876c0")
        );
        let sk = ed25519_dalek::SigningKey::from_bytes(&[0x2a; 32]);
        let auth = client_auth(&sk, &challenge);
        assert_eq!(
            auth,
            hex(concat!(
                "01197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d6140",
                "a28b5ebc6a930b5d80ad5aca2a8e48ad4a064e699c0866674c8b8e61a5f4ea94",
                "0ee8b9f06732930250ac0735555abe77e8df740165edc3163be432f0e4f3cf0f"
            ))
        );
        assert_eq!(
            verify(&challenge, &auth[1..]),
            Ok(*sk.verifying_key().as_bytes())
        );
        let mut out = Vec::new();
        write_challenge(&mut out, &challenge);
        assert_eq!(out, hex("00000102030405060708090a0b0c0d0e0f"));
        out.clear();
        write_confirm(&mut out);
        assert_eq!(out, [0x02]);
        out.clear();
        write_deny(&mut out, NOT_AUTHORIZED);
        assert_eq!(out, hex("030e6e6f7420617574686f72697a6564"));
        out.clear();
        write_deny(&mut out, SIGNATURE_INVALID);
        assert_eq!(out, hex("03117369676e617475726520696e76616c6964"));
    }

    #[test]
    fn refusals() {
        let challenge = [9u8; 16];
        let sk = ed25519_dalek::SigningKey::from_bytes(&[0x2a; 32]);
        let auth = client_auth(&sk, &challenge);
        // Trailing bytes are ignored, as postcard ignores them.
        let mut long = auth[1..].to_vec();
        long.extend_from_slice(b"garbage");
        assert!(verify(&challenge, &long).is_ok());
        // Another challenge, a zeroed signature, a bad length prefix.
        assert_eq!(verify(&[0; 16], &auth[1..]), Err(AuthError::BadSignature));
        let mut zeroed = auth[1..].to_vec();
        zeroed[33..].fill(0);
        assert_eq!(verify(&challenge, &zeroed), Err(AuthError::BadSignature));
        let mut prefix = auth[1..].to_vec();
        prefix[32] = 0x41;
        assert_eq!(verify(&challenge, &prefix), Err(AuthError::Malformed));
        assert_eq!(verify(&challenge, &auth[1..60]), Err(AuthError::Malformed));
        // A key that is not a point.
        let mut bad_key = auth[1..].to_vec();
        bad_key[..32].copy_from_slice(&hex(
            "0200000000000000000000000000000000000000000000000000000000000000",
        ));
        assert_eq!(verify(&challenge, &bad_key), Err(AuthError::BadSignature));
    }
}
