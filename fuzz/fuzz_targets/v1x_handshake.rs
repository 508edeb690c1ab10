//! The 1.x handshake, server side: the client's first message (normally a
//! ClientAuth) against a fixed challenge. Even first byte: the rest is the
//! message as received. Odd: the rest replaces the tail of a ClientAuth
//! correctly signed by the test key, so valid signatures are reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relay_fuzz::proto::handshake::Handshake;
use relay_fuzz::proto::v1x::frame::split_message;
use relay_fuzz::proto::v1x::{handshake as auth, Version};
use relay_fuzz::proto::{sig, Dialect};
use relay_fuzz::{client_reads, signing_key, CHALLENGE};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let msg = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let mut m = auth::client_auth(signing_key(), &CHALLENGE);
        let at = usize::from(mode >> 1) % (m.len() + 1);
        m.truncate(at);
        m.extend_from_slice(rest);
        m
    };
    let version = if mode & 2 == 0 {
        Version::V1
    } else {
        Version::V2
    };
    let dialect = Dialect::V1x(version);
    let hs = Handshake::new(dialect, CHALLENGE);
    client_reads(dialect, &hs.greeting().expect("1.x servers speak first"));
    let Ok((ty, payload)) = split_message(&msg) else {
        return;
    };
    let direct = auth::verify(&CHALLENGE, payload);
    // Checked in a batch beside a good one, the signature gets the answer
    // it gets alone, and the good one still passes.
    if let Ok(signed) = hs.decode(ty, payload) {
        let good_msg = auth::client_auth(signing_key(), &CHALLENGE);
        let (gty, gp) = split_message(&good_msg).unwrap();
        let good = hs.decode(gty, gp).unwrap();
        let out = sig::verify_all(&[signed.sig().clone(), good.sig().clone()]);
        assert_eq!(out.valid[0], signed.sig().verify_strict());
        assert!(out.valid[1]);
    }
    match hs.on_frame(ty, payload) {
        Ok(v) => {
            assert_eq!(ty, 1);
            assert_eq!(direct, Ok(v.key));
            assert_eq!(&v.key[..], &payload[..32]);
            let confirm = hs.confirm(&v).unwrap().unwrap();
            assert_eq!(client_reads(dialect, &confirm), vec![(2, vec![])]);
        }
        Err(f) => {
            if let Some(reply) = f.reply {
                // Only a ClientAuth that decodes but does not verify is
                // answered, with ServerDeniesAuth.
                assert_eq!(direct, Err(auth::AuthError::BadSignature));
                let frames = client_reads(dialect, &reply);
                assert_eq!(frames.len(), 1);
                assert_eq!(frames[0].0, 3);
            }
        }
    }
    let deny = hs.deny();
    assert_eq!(client_reads(dialect, &deny)[0].0, 3);
});
