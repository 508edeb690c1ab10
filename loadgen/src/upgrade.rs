//! The HTTP/1.1 upgrade exchange for each `--protocol`: the exact request
//! an iroh 0.35 or 1.x client writes and the check of the server's 101,
//! from relay-core's `proto::client_upgrade`.

use relay_proto::client_upgrade::{self, Upgrade};
pub use relay_proto::client_upgrade::{websocket_key as ws_key, UpgradeError};

use crate::protocol::Protocol;

/// The upgrade `protocol` asks for. `ws_key` is the base64
/// Sec-WebSocket-Key (ignored for the derp upgrade).
fn upgrade(protocol: Protocol, ws_key: &str) -> Upgrade<'_> {
    match protocol {
        Protocol::Derp => Upgrade::Derp,
        Protocol::Ws => Upgrade::Websocket {
            key: ws_key,
            protocols: None,
        },
        Protocol::V2 | Protocol::V1 => Upgrade::Websocket {
            key: ws_key,
            protocols: Some(offered(protocol)),
        },
    }
}

/// Builds the upgrade request on `/relay`.
pub fn request(protocol: Protocol, host: &str, ws_key: &str) -> Vec<u8> {
    client_upgrade::request(upgrade(protocol, ws_key), host, "/relay", &[])
}

/// The `Sec-WebSocket-Protocol` value a 1.x client offers: what 1.4.1
/// offers, or only v1 as 0.91-0.97 do.
pub fn offered(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::V1 => "iroh-relay-v1",
        _ => "iroh-relay-v2, iroh-relay-v1",
    }
}

/// Checks a (possibly partial) response. `Ok(None)`: need more bytes.
/// `Ok(Some(n))`: the head is `n` bytes; anything after is frame data.
pub fn check_response(
    buf: &[u8],
    protocol: Protocol,
    ws_key: &str,
) -> Result<Option<usize>, UpgradeError> {
    client_upgrade::check_response(buf, upgrade(protocol, ws_key)).map(|s| s.map(|s| s.head_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derp_request_bytes() {
        let r = request(Protocol::Derp, "127.0.0.1:3340", "");
        assert_eq!(
            r,
            b"GET /relay HTTP/1.1\r\nupgrade: iroh derp http\r\nhost: 127.0.0.1:3340\r\n\r\n"
        );
    }

    #[test]
    fn derp_response() {
        let resp = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: iroh derp http\r\n\r\n\x0c";
        assert_eq!(
            check_response(resp, Protocol::Derp, ""),
            Ok(Some(resp.len() - 1))
        );
        assert_eq!(check_response(&resp[..20], Protocol::Derp, ""), Ok(None));
        assert_eq!(
            check_response(b"HTTP/1.1 400 Bad Request\r\n\r\n", Protocol::Derp, ""),
            Err(UpgradeError::Status {
                status: 400,
                reason: "Bad Request".into()
            })
        );
        assert!(matches!(
            check_response(b"garbage\r\n\r\n", Protocol::Derp, ""),
            Err(UpgradeError::NotHttp(_))
        ));
    }

    #[test]
    fn ws_accept_is_verified() {
        // RFC 6455 section 1.3 example.
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let good =
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\
                     sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert_eq!(
            check_response(good, Protocol::Ws, key),
            Ok(Some(good.len()))
        );
        let bad = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\
                    sec-websocket-accept: AAAA\r\n\r\n";
        assert_eq!(
            check_response(bad, Protocol::Ws, key),
            Err(UpgradeError::BadAccept)
        );
        let req = String::from_utf8(request(Protocol::Ws, "h:1", key)).unwrap();
        assert!(req.contains("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
        assert!(req.contains("Sec-WebSocket-Version: 13\r\n"));
        assert_eq!(ws_key().len(), 24);
    }

    #[test]
    fn one_x_offers_and_checks_the_subprotocol() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let req = String::from_utf8(request(Protocol::V2, "h:1", key)).unwrap();
        assert!(req.contains("\r\nsec-websocket-protocol: iroh-relay-v2, iroh-relay-v1\r\n\r\n"));
        assert!(req.starts_with("GET /relay HTTP/1.1\r\nHost: h:1\r\nUpgrade: websocket\r\n"));
        let req = String::from_utf8(request(Protocol::V1, "h:1", key)).unwrap();
        assert!(req.contains("sec-websocket-protocol: iroh-relay-v1\r\n"));
        let resp = |proto: &str| {
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\
                 sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n{proto}\r\n"
            )
        };
        let v2 = resp("sec-websocket-protocol: iroh-relay-v2\r\n");
        let v1 = resp("sec-websocket-protocol: iroh-relay-v1\r\n");
        let none = resp("");
        assert_eq!(
            check_response(v2.as_bytes(), Protocol::V2, key),
            Ok(Some(v2.len()))
        );
        assert_eq!(
            check_response(v1.as_bytes(), Protocol::V2, key),
            Ok(Some(v1.len()))
        );
        assert_eq!(
            check_response(v1.as_bytes(), Protocol::V1, key),
            Ok(Some(v1.len()))
        );
        for (r, p) in [(&v2, Protocol::V1), (&none, Protocol::V2)] {
            assert!(matches!(
                check_response(r.as_bytes(), p, key),
                Err(UpgradeError::Subprotocol { .. })
            ));
        }
        // A 0.35 websocket client does not care.
        assert_eq!(
            check_response(none.as_bytes(), Protocol::Ws, key),
            Ok(Some(none.len()))
        );
    }
}
