//! The HTTP/1.1 upgrade exchange, as pure functions: the exact request an
//! iroh 0.35 or 1.x client writes, and the check of the server's 101.

use relay_core::proto::v1x::Version;

use crate::cli::Protocol;

/// Longest response head accepted before giving up.
pub const MAX_HEAD: usize = 8 * 1024;

/// Builds the upgrade request. `ws_key` is the base64 Sec-WebSocket-Key
/// (ignored for the derp upgrade).
pub fn request(protocol: Protocol, host: &str, ws_key: &str) -> Vec<u8> {
    match protocol {
        // Byte for byte what the 0.35 hyper client sends: lower case, no Connection.
        Protocol::Derp => {
            format!("GET /relay HTTP/1.1\r\nupgrade: iroh derp http\r\nhost: {host}\r\n\r\n")
        }
        Protocol::Ws => format!(
            "GET /relay HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {ws_key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ),
        // As iroh 1.x (tokio-websockets) writes it; v1 is what 0.91-0.97 offer.
        Protocol::V2 | Protocol::V1 => format!(
            "GET /relay HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {ws_key}\r\nSec-WebSocket-Version: 13\r\n\
             sec-websocket-protocol: {}\r\n\r\n",
            offered(protocol)
        ),
    }
    .into_bytes()
}

/// The `Sec-WebSocket-Protocol` value a 1.x client offers.
pub fn offered(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::V1 => "iroh-relay-v1",
        _ => "iroh-relay-v2, iroh-relay-v1",
    }
}

/// A fresh random Sec-WebSocket-Key.
pub fn ws_key() -> String {
    data_encoding::BASE64.encode(&rand::random::<[u8; 16]>())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradeError {
    /// Not a valid HTTP response.
    Malformed(String),
    /// The head did not end within [`MAX_HEAD`] bytes.
    TooLong,
    /// A status other than 101.
    Status(u16),
    /// 101 but the Upgrade header or Sec-WebSocket-Accept is wrong.
    BadHeaders(&'static str),
}

impl std::fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpgradeError::Malformed(e) => write!(f, "malformed HTTP response: {e}"),
            UpgradeError::TooLong => write!(f, "HTTP response head too long"),
            UpgradeError::Status(s) => write!(f, "HTTP status {s}, expected 101"),
            UpgradeError::BadHeaders(w) => write!(f, "bad 101 response: {w}"),
        }
    }
}

/// Checks a (possibly partial) response. `Ok(None)`: need more bytes.
/// `Ok(Some(n))`: the head is `n` bytes; anything after is frame data.
pub fn check_response(
    buf: &[u8],
    protocol: Protocol,
    ws_key: &str,
) -> Result<Option<usize>, UpgradeError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let n = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            return Err(UpgradeError::TooLong)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(UpgradeError::Malformed(e.to_string())),
    };
    let code = resp.code.unwrap_or(0);
    if code != 101 {
        return Err(UpgradeError::Status(code));
    }
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    match protocol {
        Protocol::Derp => {
            // The 0.35 client checks only the status; be as lenient.
        }
        Protocol::Ws | Protocol::V2 | Protocol::V1 => {
            let want = tungstenite::handshake::derive_accept_key(ws_key.as_bytes());
            if header("sec-websocket-accept") != Some(want.as_bytes()) {
                return Err(UpgradeError::BadHeaders("Sec-WebSocket-Accept mismatch"));
            }
            let up = header("upgrade").unwrap_or_default();
            if !up.eq_ignore_ascii_case(b"websocket") {
                return Err(UpgradeError::BadHeaders("Upgrade is not websocket"));
            }
        }
    }
    if matches!(protocol, Protocol::V2 | Protocol::V1) {
        // The 1.x client needs a known version echoed; a v1-only client gets v1.
        let echoed = header("sec-websocket-protocol")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(Version::negotiate);
        match (protocol, echoed) {
            (Protocol::V1, Some(Version::V1)) | (Protocol::V2, Some(_)) => {}
            _ => {
                return Err(UpgradeError::BadHeaders(
                    "Sec-WebSocket-Protocol missing or not offered",
                ))
            }
        }
    }
    Ok(Some(n))
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
            Err(UpgradeError::Status(400))
        );
        assert!(matches!(
            check_response(b"garbage\r\n\r\n", Protocol::Derp, ""),
            Err(UpgradeError::Malformed(_))
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
        assert!(matches!(
            check_response(bad, Protocol::Ws, key),
            Err(UpgradeError::BadHeaders(_))
        ));
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
                Err(UpgradeError::BadHeaders(_))
            ));
        }
        // A 0.35 websocket client does not care.
        assert_eq!(
            check_response(none.as_bytes(), Protocol::Ws, key),
            Ok(Some(none.len()))
        );
    }
}
