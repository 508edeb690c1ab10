//! Ed25519 signature checks of handshakes, one at a time or many at once.
//!
//! Both families prove key ownership with an ed25519 signature that the
//! references check with `verify_strict`. In a connect storm that check
//! is most of a handshake's cost; checking the signatures that arrive
//! together as one batch (a random linear combination, one multiscalar
//! multiplication) costs about half per signature.
//!
//! [`verify_all`] gives `verify_strict`'s answer for every input a client
//! can produce for a key it does not own: inputs `verify_strict` rejects
//! outright (a small-order key or R, a non-canonical s, an R off the
//! curve) are rejected before batching, and a batch that fails is
//! checked again one by one. The one difference left: a signature whose
//! equation is off by a small-order point only, which takes the secret
//! key of a key with a small-order component to make, is accepted with
//! a probability of at most 1/2 instead of never. Such a client can only
//! ever speak for its own key.

use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, VerifyingKey};

/// Largest batch: the saving per signature is flat beyond a few dozen,
/// and each handshake in a batch waits for all of it.
pub const MAX_BATCH: usize = 64;

/// One signature to check: key, signature and the signed message.
#[derive(Debug, Clone)]
pub struct SigCheck {
    key: VerifyingKey,
    sig: Signature,
    msg: Vec<u8>,
}

impl SigCheck {
    /// A check of `sig` over `msg` by `key` (the message is copied).
    pub fn new(key: VerifyingKey, sig: &[u8; 64], msg: &[u8]) -> Self {
        Self {
            key,
            sig: Signature::from_bytes(sig),
            msg: msg.to_vec(),
        }
    }

    /// The references' check, alone.
    pub fn verify_strict(&self) -> bool {
        self.key.verify_strict(&self.msg, &self.sig).is_ok()
    }

    /// What `verify_strict` rejects before its equation: a weak key, an R
    /// of small order, a non-canonical s. (An R that is no point at all
    /// fails the batch, and then `verify_strict`.)
    fn batchable(&self) -> bool {
        let s_ok: bool = Scalar::from_canonical_bytes(*self.sig.s_bytes())
            .is_some()
            .into();
        s_ok && !small_order_encoding(self.sig.r_bytes()) && !self.key.is_weak()
    }
}

/// The y coordinates (sign bit cleared) of the eight points of small
/// order, canonical and not: 0, 1, the two of order 8, p-1, p (= 0) and
/// p+1 (= 1). Comparing bytes spares decompressing R (a field square
/// root, a tenth of a verification) just to learn its order.
const SMALL_ORDER_Y: [[u8; 32]; 7] = [
    [0; 32],
    {
        let mut y = [0; 32];
        y[0] = 1;
        y
    },
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    p_plus(-1),
    p_plus(0),
    p_plus(1),
];

/// The 255-bit little-endian encoding of p + d, p = 2^255 - 19.
const fn p_plus(d: i8) -> [u8; 32] {
    let mut y = [0xff; 32];
    y[0] = (0xed_i16 + d as i16) as u8;
    y[31] = 0x7f;
    y
}

/// Whether R decompresses (if at all) to a point of small order.
fn small_order_encoding(r: &[u8; 32]) -> bool {
    let mut y = *r;
    y[31] &= 0x7f;
    SMALL_ORDER_Y.contains(&y)
}

/// Whether each signature verifies (see the module notes for how this
/// matches `verify_strict`), and whether the batch equation failed: then
/// the signatures were checked one by one, about one and a half times the
/// work of checking them alone.
pub fn verify_all(checks: &[SigCheck]) -> Outcome {
    let mut out = Outcome {
        valid: checks.iter().map(SigCheck::batchable).collect(),
        batch_failed: false,
    };
    let idx: Vec<usize> = (0..checks.len()).filter(|&i| out.valid[i]).collect();
    if idx.len() >= 2 {
        let msgs: Vec<&[u8]> = idx.iter().map(|&i| &checks[i].msg[..]).collect();
        let sigs: Vec<Signature> = idx.iter().map(|&i| checks[i].sig).collect();
        let keys: Vec<VerifyingKey> = idx.iter().map(|&i| checks[i].key).collect();
        if ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok() {
            return out;
        }
        out.batch_failed = true;
    }
    for &i in &idx {
        out.valid[i] = checks[i].verify_strict();
    }
    out
}

/// What [`verify_all`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Per signature, in order.
    pub valid: Vec<bool>,
    /// A signature that passed the early checks failed the batch.
    pub batch_failed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn check(seed: u8, msg: &[u8]) -> SigCheck {
        let sk = SigningKey::from_bytes(&[seed; 32]);
        SigCheck::new(sk.verifying_key(), &sk.sign(msg).to_bytes(), msg)
    }

    #[test]
    fn a_batch_of_good_signatures_all_verify() {
        let checks: Vec<_> = (0..10).map(|i| check(i, &[i; 40])).collect();
        let all = verify_all(&checks);
        assert_eq!(all.valid, vec![true; 10]);
        assert!(!all.batch_failed);
        assert_eq!(verify_all(&checks[..1]).valid, vec![true]);
        assert!(verify_all(&[]).valid.is_empty());
    }

    #[test]
    fn bad_signatures_in_a_batch_are_found_and_the_rest_pass() {
        let mut checks: Vec<_> = (0..8).map(|i| check(i, &[i; 40])).collect();
        // Signed another message.
        checks[2].msg = vec![9; 40];
        // R of small order (the identity), s zero: verify_strict rejects.
        let mut sig = [0u8; 64];
        sig[0] = 1;
        checks[5].sig = Signature::from_bytes(&sig);
        // s not reduced mod l.
        let mut s = checks[6].sig.to_bytes();
        s[63] |= 0xf0;
        checks[6].sig = Signature::from_bytes(&s);
        let got = verify_all(&checks);
        let want: Vec<bool> = checks.iter().map(SigCheck::verify_strict).collect();
        assert_eq!(got.valid, want);
        assert_eq!(
            got.valid,
            vec![true, true, false, true, true, false, false, true]
        );
        assert!(got.batch_failed, "the wrong message fails the equation");
        // Rejected by the early checks alone: the batch itself passes.
        let early = vec![checks[0].clone(), checks[5].clone(), checks[1].clone()];
        assert_eq!(
            verify_all(&early),
            Outcome {
                valid: vec![true, false, true],
                batch_failed: false
            }
        );
    }

    #[test]
    fn the_small_order_list_is_exactly_the_points_of_small_order() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        use curve25519_dalek::edwards::CompressedEdwardsY;
        for p in EIGHT_TORSION {
            let mut b = p.compress().to_bytes();
            assert!(small_order_encoding(&b));
            b[31] ^= 0x80;
            assert!(small_order_encoding(&b));
        }
        for y in SMALL_ORDER_Y {
            let p = CompressedEdwardsY(y).decompress().expect("on the curve");
            assert!(p.is_small_order(), "{y:02x?}");
        }
        for i in 0..2000u32 {
            let mut b = [0u8; 32];
            b[..4].copy_from_slice(&i.to_le_bytes());
            b[31] = (i % 256) as u8;
            if let Some(p) = CompressedEdwardsY(b).decompress() {
                assert_eq!(small_order_encoding(&b), p.is_small_order(), "{b:02x?}");
            }
        }
    }

    #[test]
    fn a_weak_key_is_rejected_as_verify_strict_does() {
        // The identity point as key: every s·B = R signature "verifies"
        // under the plain equation; verify_strict rejects it.
        let mut id = [0u8; 32];
        id[0] = 1;
        let key = VerifyingKey::from_bytes(&id).unwrap();
        let r = curve25519_dalek::constants::ED25519_BASEPOINT_POINT.compress();
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(r.as_bytes());
        sig[32] = 1;
        let weak = SigCheck::new(key, &sig, b"anything");
        let checks = vec![check(1, b"a"), weak, check(2, b"b")];
        assert_eq!(verify_all(&checks).valid, vec![true, false, true]);
        assert!(!checks[1].verify_strict());
    }
}
