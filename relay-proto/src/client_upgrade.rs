//! The client's side of the relay upgrade, pure: the request a client
//! writes and the check of the server's answer, for both families. The
//! derp upgrade is byte for byte what the iroh 0.35 client writes
//! (docs/protocol-0.35.md §2.3); the websocket one is what iroh 1.x
//! (tokio-websockets) writes (docs/protocol-1x.md §1.3), and without a
//! subprotocol what a 0.35 websocket client writes (§2.4).

/// Longest response head a client reads before giving up.
pub const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// The upgrade a client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade<'a> {
    /// `Upgrade: iroh derp http`: 0.35 stream frames.
    Derp,
    /// `Upgrade: websocket` with the base64 `key`; `protocols` is the
    /// `Sec-WebSocket-Protocol` offer (1.x), `None` for 0.35.
    Websocket {
        /// The base64 `Sec-WebSocket-Key` (16 random bytes, see [`websocket_key`]).
        key: &'a str,
        /// The `Sec-WebSocket-Protocol` offer, comma-separated (1.x); `None` for a
        /// 0.35 client.
        protocols: Option<&'a str>,
    },
}

/// The request head. `host` is the URL host (for the derp upgrade without
/// a trailing dot), with `:port` for a non-default port; `path` is
/// `/relay`, with the URL's query for 1.x clients; `extra` headers go
/// last (an `Authorization` for 1.x tokens).
pub fn request(upgrade: Upgrade<'_>, host: &str, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut head = match upgrade {
        // Lower case and no Connection, as the 0.35 hyper client sends it.
        Upgrade::Derp => {
            format!("GET {path} HTTP/1.1\r\nupgrade: iroh derp http\r\nhost: {host}\r\n")
        }
        Upgrade::Websocket { key, protocols } => {
            let mut h = format!(
                "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            );
            if let Some(p) = protocols {
                h.push_str(&format!("sec-websocket-protocol: {p}\r\n"));
            }
            h
        }
    };
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// The request an iroh 0.35 client writes: the derp upgrade on `/relay`.
pub fn upgrade_request(host: &str) -> Vec<u8> {
    request(Upgrade::Derp, host, "/relay", &[])
}

/// A fresh random `Sec-WebSocket-Key`.
pub fn websocket_key() -> String {
    data_encoding::BASE64.encode(&rand::random::<[u8; 16]>())
}

/// Why the server did not switch protocols as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeError {
    /// The answer does not parse as an HTTP response head (httparse's reason).
    #[error("the answer is not HTTP ({0})")]
    NotHttp(String),
    /// No complete head within [`MAX_RESPONSE_HEAD`] bytes.
    #[error("the response head is longer than {MAX_RESPONSE_HEAD} bytes")]
    TooLong,
    /// Any status but 101.
    #[error("answered {status} {reason}")]
    Status {
        /// The status code.
        status: u16,
        /// The reason phrase as sent.
        reason: String,
    },
    /// `Sec-WebSocket-Accept` is not the value derived from the key sent.
    #[error("answered 101 with a wrong Sec-WebSocket-Accept")]
    BadAccept,
    /// A 101 to a websocket upgrade without `Upgrade: websocket`.
    #[error("answered 101 without `Upgrade: websocket`")]
    NotWebsocket,
    /// Protocols were offered and the 101 echoed none of them.
    #[error("answered 101 with Sec-WebSocket-Protocol {echoed:?}, not one of {offered:?}")]
    Subprotocol {
        /// The answer's `Sec-WebSocket-Protocol`, if it had one.
        echoed: Option<String>,
        /// What the request offered.
        offered: String,
    },
}

/// A 101: the head's length (what follows is frame data) and the
/// subprotocol the server chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switched {
    /// Length of the response head: the frame stream starts at this offset.
    pub head_len: usize,
    /// The `Sec-WebSocket-Protocol` the server chose, if it sent one.
    pub protocol: Option<String>,
}

/// Checks a (possibly partial) response; `Ok(None)`: more bytes needed.
/// For the derp upgrade only the status counts, as for the 0.35 client;
/// a websocket answer needs the right accept value and, when protocols
/// were offered, one of them echoed (as the 1.x client requires).
pub fn check_response(buf: &[u8], upgrade: Upgrade<'_>) -> Result<Option<Switched>, UpgradeError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_RESPONSE_HEAD => {
            return Err(UpgradeError::TooLong)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(UpgradeError::NotHttp(e.to_string())),
    };
    if resp.code != Some(101) {
        return Err(UpgradeError::Status {
            status: resp.code.unwrap_or(0),
            reason: resp.reason.unwrap_or_default().to_owned(),
        });
    }
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_owned())
    };
    let protocol = header("sec-websocket-protocol");
    let Upgrade::Websocket { key, protocols } = upgrade else {
        return Ok(Some(Switched { head_len, protocol }));
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    if header("sec-websocket-accept").as_deref() != Some(accept.as_str()) {
        return Err(UpgradeError::BadAccept);
    }
    if !header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
        return Err(UpgradeError::NotWebsocket);
    }
    if let Some(offered) = protocols {
        let known = protocol
            .as_deref()
            .is_some_and(|p| offered.split(',').any(|o| o.trim() == p));
        if !known {
            return Err(UpgradeError::Subprotocol {
                echoed: protocol,
                offered: offered.to_owned(),
            });
        }
    }
    Ok(Some(Switched { head_len, protocol }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    #[test]
    fn request_bytes() {
        assert_eq!(
            upgrade_request("127.0.0.1:3340"),
            b"GET /relay HTTP/1.1\r\nupgrade: iroh derp http\r\nhost: 127.0.0.1:3340\r\n\r\n"
        );
        let ws = Upgrade::Websocket {
            key: KEY,
            protocols: Some("iroh-relay-v2"),
        };
        let req = request(
            ws,
            "h:1",
            "/relay?token=t",
            &[("authorization", "Bearer t")],
        );
        assert_eq!(
            String::from_utf8(req).unwrap(),
            "GET /relay?token=t HTTP/1.1\r\nHost: h:1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             sec-websocket-protocol: iroh-relay-v2\r\nauthorization: Bearer t\r\n\r\n"
        );
        assert_eq!(websocket_key().len(), 24);
    }

    #[test]
    fn derp_responses() {
        let ok = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: iroh derp http\r\n\r\n\x0c";
        let switched = check_response(ok, Upgrade::Derp).unwrap().unwrap();
        assert_eq!(switched.head_len, ok.len() - 1);
        assert_eq!(check_response(&ok[..20], Upgrade::Derp), Ok(None));
        assert_eq!(
            check_response(b"HTTP/1.1 404 Not Found\r\n\r\n", Upgrade::Derp),
            Err(UpgradeError::Status {
                status: 404,
                reason: "Not Found".into()
            })
        );
        assert!(matches!(
            check_response(b"SSH-2.0-OpenSSH_9.6\r\n", Upgrade::Derp),
            Err(UpgradeError::NotHttp(_))
        ));
        let mut partial = b"HTTP/1.1 101 OK\r\nx: ".to_vec();
        partial.extend_from_slice(&[b'a'; MAX_RESPONSE_HEAD]);
        assert_eq!(
            check_response(&partial, Upgrade::Derp),
            Err(UpgradeError::TooLong)
        );
    }

    #[test]
    fn websocket_responses() {
        // RFC 6455 §1.3's example key and accept value.
        let resp = |extra: &str| {
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\
                 sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n{extra}\r\n"
            )
        };
        let ws = |protocols| Upgrade::Websocket {
            key: KEY,
            protocols,
        };
        let v2 = resp("sec-websocket-protocol: iroh-relay-v2\r\n");
        let v1 = resp("sec-websocket-protocol: iroh-relay-v1\r\n");
        let none = resp("");
        let both = Some("iroh-relay-v2, iroh-relay-v1");
        let ok = |r: &str, p| check_response(r.as_bytes(), ws(p)).map(|s| s.map(|s| s.protocol));
        assert_eq!(ok(&v2, both), Ok(Some(Some("iroh-relay-v2".into()))));
        assert_eq!(ok(&v1, both), Ok(Some(Some("iroh-relay-v1".into()))));
        assert_eq!(ok(&none, None), Ok(Some(None)));
        for (r, p) in [(&v1, Some("iroh-relay-v2")), (&none, both)] {
            assert!(matches!(ok(r, p), Err(UpgradeError::Subprotocol { .. })));
        }
        let bad = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nsec-websocket-accept: AAAA\r\n\r\n";
        assert_eq!(check_response(bad, ws(None)), Err(UpgradeError::BadAccept));
        let derp = none.replace("upgrade: websocket", "upgrade: iroh derp http");
        assert_eq!(
            check_response(derp.as_bytes(), ws(None)),
            Err(UpgradeError::NotWebsocket)
        );
    }
}
