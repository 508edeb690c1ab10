//! 0.35 ClientInfo verification. Even first byte: the rest is a payload as
//! received. Odd: the rest is the signed message, wrapped in a ClientInfo
//! correctly signed by the test key, so the checks after the signature
//! (the postcard version) are reached too.
#![no_main]

use ed25519_dalek::Signer;
use libfuzzer_sys::fuzz_target;
use relay_fuzz::proto::client_info::{self, ClientInfo, HandshakeError, MAGIC};
use relay_fuzz::proto::handshake::Handshake;
use relay_fuzz::proto::postcard::{decode_varint, encode_varint};
use relay_fuzz::proto::sig;
use relay_fuzz::proto::{v035, Dialect, Transport};
use relay_fuzz::signing_key;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let payload = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let sk = signing_key();
        let mut p = MAGIC.to_vec();
        p.extend_from_slice(sk.verifying_key().as_bytes());
        p.extend_from_slice(&sk.sign(rest).to_bytes());
        p.extend_from_slice(rest);
        let got = client_info::verify(&p);
        let key = sk.verifying_key().to_bytes();
        match decode_varint(rest) {
            Some(version) => assert_eq!(got, Ok(ClientInfo { key, version })),
            None => assert_eq!(got, Err(HandshakeError::BadMessage)),
        }
        p
    };
    let verified = client_info::verify(&payload);
    let hs = Handshake::new(Dialect::V035(Transport::Derp), [0; 16]);
    let first = hs.on_frame(2, &payload);
    assert_eq!(verified.is_ok(), first.is_ok());
    if let (Ok(info), Ok(v)) = (&verified, &first) {
        assert_eq!(&info.key[..], &payload[MAGIC.len()..MAGIC.len() + 32]);
        assert_eq!(v.key, info.key);
        let confirmed = hs.confirm(v);
        assert_eq!(confirmed.is_ok(), client_info::check_version(info).is_ok());
        // A second ClientInfo after the handshake is accepted and ignored.
        assert!(v035::serve::on_frame(2, &payload).is_ok());
    }
    assert!(first.is_err_and(|f| f.reply.is_none()) || verified.is_ok());
    // Checked in a batch beside a good one, the signature gets the answer
    // it gets alone, and the good one still passes.
    if let Ok(signed) = hs.decode(2, &payload) {
        let good = hs.decode(2, &client_info::build(signing_key(), 3)).unwrap();
        let out = sig::verify_all(&[signed.sig().clone(), good.sig().clone()]);
        assert_eq!(out.valid[0], signed.sig().verify_strict());
        assert!(out.valid[1]);
    }
    // The version varint reads back after re-encoding.
    if let Some(v) = decode_varint(rest) {
        let mut e = Vec::new();
        encode_varint(v, &mut e);
        assert_eq!(decode_varint(&e), Some(v));
        assert!(e.len() <= 10);
    }
});
