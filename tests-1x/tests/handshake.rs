//! The 1.x handshake (docs/protocol-1x.md §7, items 10-18): the challenge, its
//! signature, access control and its denials, and the real clients.

use std::time::{Duration, Instant};

use relay_proto::v1x::handshake::client_auth;
use tests::{bounded, start_relay, RelayOptions, RelayProcess};
use tests_1x::raw::{frame, public, signing_key, ty, Raw};
use tests_1x::{v1, v2, Url1x};

const T: Duration = Duration::from_secs(60);
const V2: &str = "iroh-relay-v2, iroh-relay-v1";

fn relay_with(toml: &str) -> RelayProcess {
    RelayProcess::start_with(RelayOptions {
        extra_toml: toml.into(),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("starting relay: {e:#}"))
}

#[tokio::test]
async fn challenge_signature_confirm_and_its_refusals() {
    bounded(T, async {
        let relay = start_relay(2);
        let addr = relay.addr();
        let sk = signing_key();
        // A good signature: Confirm, then the session works.
        let mut c = Raw::handshake(addr, V2, &sk).await.unwrap();
        c.ping_pong(*b"confirm!").await.unwrap();
        // Trailing bytes after ClientAuth are accepted (postcard ignores them).
        let mut c = Raw::upgrade(addr, V2, &[]).await.unwrap();
        let ch = c.challenge().await.unwrap();
        let mut auth = client_auth(&sk, &ch);
        auth.extend_from_slice(b"trailing");
        c.send(&auth).await.unwrap();
        assert_eq!(c.expect_msg().await.unwrap(), [ty::SERVER_CONFIRMS_AUTH]);
        // A zeroed signature: "signature invalid", then close.
        let mut c = Raw::upgrade(addr, V2, &[]).await.unwrap();
        let ch = c.challenge().await.unwrap();
        let mut auth = client_auth(&sk, &ch);
        auth[34..].fill(0);
        c.send(&auth).await.unwrap();
        let got = c.until_closed(Duration::from_secs(10)).await.unwrap();
        let mut deny = vec![ty::SERVER_DENIES_AUTH, 0x11];
        deny.extend_from_slice(b"signature invalid");
        assert_eq!(got, vec![deny]);
        // A Ping instead of ClientAuth: closed without a word.
        let mut c = Raw::upgrade(addr, V2, &[]).await.unwrap();
        c.challenge().await.unwrap();
        c.send(&frame(ty::PING, &[1; 8])).await.unwrap();
        assert!(c
            .until_closed(Duration::from_secs(10))
            .await
            .unwrap()
            .is_empty());
        // A malformed client-auth header over plain HTTP (no TLS, so no key
        // material): the challenge is sent anyway, as a fallback.
        let mut c = Raw::upgrade(addr, V2, &["x-iroh-relay-client-auth-v1: not-base64!"])
            .await
            .unwrap();
        let ch = c.challenge().await.unwrap();
        c.send(&client_auth(&sk, &ch)).await.unwrap();
        assert_eq!(c.expect_msg().await.unwrap(), [ty::SERVER_CONFIRMS_AUTH]);
    })
    .await
}

#[tokio::test]
async fn a_client_that_never_answers_the_challenge_is_closed() {
    bounded(T, async {
        let relay = start_relay(1);
        let mut c = Raw::upgrade(relay.addr(), V2, &[]).await.unwrap();
        c.challenge().await.unwrap();
        let start = Instant::now();
        assert!(c
            .until_closed(Duration::from_secs(30))
            .await
            .unwrap()
            .is_empty());
        // The handshake timeout is 10 s (1.4.1 has none).
        eprintln!("closed {:?} after the challenge", start.elapsed());
    })
    .await
}

#[tokio::test]
async fn access_denials_and_shared_tokens() {
    bounded(T, async {
        let allowed = signing_key();
        let other = signing_key();
        let hex: String = public(&allowed)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let relay = relay_with(&format!("[access]\nallowlist = [\"{hex}\"]\n"));
        Raw::handshake(relay.addr(), V2, &allowed).await.unwrap();
        let mut c = Raw::upgrade(relay.addr(), V2, &[]).await.unwrap();
        let ch = c.challenge().await.unwrap();
        c.send(&client_auth(&other, &ch)).await.unwrap();
        let got = c.until_closed(Duration::from_secs(10)).await.unwrap();
        let mut deny = vec![ty::SERVER_DENIES_AUTH, 0x0e];
        deny.extend_from_slice(b"not authorized");
        assert_eq!(got, vec![deny]);

        let relay = relay_with("access.shared_token = [\"tok-a\", \"tok-b\"]\n");
        let addr = relay.addr();
        for extra in [
            &["Authorization: Bearer tok-a"][..],
            &["authorization: bearer tok-b"],
        ] {
            Raw::handshake_with(addr, V2, &other, extra)
                .await
                .unwrap_or_else(|e| panic!("{extra:?}: {e:#}"));
        }
        // ?token= on the path, as browser clients send it.
        let mut s = tests::http::connect(addr).await.unwrap();
        let req = tests_1x::raw::upgrade_request(addr.port(), "/relay?token=tok-b", Some(V2), &[]);
        tokio::io::AsyncWriteExt::write_all(&mut s, &req)
            .await
            .unwrap();
        assert_eq!(
            tests::http::read_response(&mut s).await.unwrap().status,
            101
        );
        for extra in [&["Authorization: Bearer nope"][..], &[]] {
            let mut c = Raw::upgrade(addr, V2, extra).await.unwrap();
            let ch = c.challenge().await.unwrap();
            c.send(&client_auth(&other, &ch)).await.unwrap();
            let got = c.until_closed(Duration::from_secs(10)).await.unwrap();
            assert_eq!(got.len(), 1, "{extra:?}");
            assert_eq!(got[0][0], ty::SERVER_DENIES_AUTH, "{extra:?}");
        }
        // The real 1.4.1 client with a token gets in.
        let key = iroh_base::SecretKey::from_bytes(&tests_1x::secret());
        let b = v2::builder(&relay.url_1x(), key.clone()).auth_token("tok-a");
        v2::Client::connect_with(b, key).await.unwrap();
    })
    .await
}

#[tokio::test]
async fn real_clients_v2_and_v1_connect_and_relay() {
    bounded(T, async {
        let relay = start_relay(2);
        let url2 = relay.url_1x();
        let start = Instant::now();
        let mut a = v2::Client::connect(&url2).await.unwrap();
        eprintln!(
            "1.4.1 client connected and got its first Pong in {:?}",
            start.elapsed()
        );
        let mut b = v2::Client::connect(&url2).await.unwrap();
        a.send(b.id(), b"v2 to v2").await.unwrap();
        assert_eq!(&b.recv_from(a.id()).await.unwrap()[..], b"v2 to v2");
        // A v1-only client (iroh-relay 0.91.0) is in the same family.
        let url1: base_v1::RelayUrl = relay.url_1x().to_string().parse().unwrap();
        let mut c = v1::Client::connect(&url1).await.unwrap();
        let b_as_v1 = base_v1::PublicKey::from_bytes(b.id().as_bytes()).unwrap();
        c.send(b_as_v1, b"v1 to v2").await.unwrap();
        let (src, d) = b.recv().await.unwrap();
        assert_eq!(
            (src.as_bytes(), &d.contents[..]),
            (c.id().as_bytes(), &b"v1 to v2"[..])
        );
        let c_as_v2 = iroh_base::PublicKey::from_bytes(c.id().as_bytes()).unwrap();
        b.send(c_as_v2, b"v2 to v1").await.unwrap();
        let (src, d) = c.recv().await.unwrap();
        assert_eq!(
            (src.as_bytes(), &d.contents[..]),
            (b.id().as_bytes(), &b"v2 to v1"[..])
        );
    })
    .await
}
