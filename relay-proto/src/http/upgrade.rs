//! The relay upgrade on `GET /relay` (and `/derp`), telling the families
//! apart from the request alone:
//!
//! - `Upgrade: iroh derp http` is the 0.35 stream protocol;
//! - `Upgrade: websocket` with `Sec-WebSocket-Protocol` is 1.x: the highest
//!   known version is echoed, and requests 1.4.1 refuses get its 400s, with
//!   the same texts;
//! - `Upgrade: websocket` without it is the 0.35 websocket protocol.
//!
//! `Connection` and `Host` are not checked, as neither reference checks
//! them.

use std::time::SystemTime;

use super::outcome::Outcome;
use super::request::Head;
use super::response::Response;
use super::token;
use crate::v1x::Version;
use crate::{Dialect, Transport};

pub fn upgrade(head: &Head, now: SystemTime) -> Outcome {
    let consumed = head.len;
    let subprotocol = head.header("sec-websocket-protocol");
    match (head.header("upgrade"), subprotocol) {
        (Some("iroh derp http"), _) => Outcome::Upgrade {
            reply: Response::new(101, "Switching Protocols")
                .header("upgrade", "iroh derp http")
                .encode(now),
            consumed,
            dialect: Dialect::V035(Transport::Derp),
            token: token::of(head),
        },
        // 1.x never uses /derp; 1.4.1 answers it 404.
        (_, Some(_)) if head.path == "/derp" => Outcome::not_found(head, now),
        (_, Some(protocols)) => v1x(head, protocols, now),
        (Some("websocket"), None) => v035_websocket(head, now),
        _ => bad_request(head, now, None),
    }
}

/// A refused upgrade; the connection stays open for another request
/// unless the client asked to close it.
fn bad_request(head: &Head, now: SystemTime, body: Option<String>) -> Outcome {
    refusal(head, Response::new(400, "Bad Request"), body, now)
}

fn refusal(head: &Head, mut r: Response, body: Option<String>, now: SystemTime) -> Outcome {
    if let Some(b) = body {
        r = r.body(b);
    }
    Outcome::Reply {
        reply: r.encode(now),
        consumed: head.len,
        close: !head.keep_alive(),
    }
}

fn accept_key(key: &str) -> String {
    tungstenite::handshake::derive_accept_key(key.as_bytes())
}

/// The 0.35 websocket upgrade: the reference's plain 400s.
fn v035_websocket(head: &Head, now: SystemTime) -> Outcome {
    let consumed = head.len;
    let Some(key) = head.header("sec-websocket-key") else {
        return bad_request(head, now, None);
    };
    match head.header("sec-websocket-version") {
        Some("13") => {}
        Some(_) => {
            let r = Response::new(400, "Bad Request").header("sec-websocket-version", "13");
            return refusal(head, r, None, now);
        }
        None => return bad_request(head, now, None),
    }
    Outcome::Upgrade {
        reply: Response::new(101, "Switching Protocols")
            .header("upgrade", "websocket")
            .header("connection", "upgrade")
            .header("sec-websocket-accept", accept_key(key))
            .encode(now),
        consumed,
        dialect: Dialect::V035(Transport::Websocket),
        token: token::of(head),
    }
}

/// The 1.x upgrade, checked in 1.4.1's order; the first failure wins.
fn v1x(head: &Head, protocols: &str, now: SystemTime) -> Outcome {
    let consumed = head.len;
    let refuse = |body: &str| bad_request(head, now, Some(body.to_string()));
    match head.header("upgrade") {
        None => return refuse("missing header: upgrade"),
        Some("websocket") => {}
        Some(_) => return refuse("invalid header value for upgrade: value must be websocket"),
    }
    let Some(key) = head.header("sec-websocket-key") else {
        return refuse("missing header: sec-websocket-key");
    };
    match head.header("sec-websocket-version") {
        None => return refuse("missing header: sec-websocket-version"),
        Some("13") => {}
        Some(_) => {
            let r = Response::new(400, "Bad Request").header("sec-websocket-version", "13");
            let body = "invalid header value for sec-websocket-version: unsupported websocket version, only supporting 13";
            return refusal(head, r, Some(body.into()), now);
        }
    }
    if !protocols
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        return refuse(
            "invalid header value for sec-websocket-protocol: header value is not ascii",
        );
    }
    let Some(version) = Version::negotiate(protocols) else {
        return refuse(&format!(
            "invalid header value for sec-websocket-protocol: unsupported relay version: we support iroh-relay-v2, iroh-relay-v1 but you only provide {protocols}"
        ));
    };
    Outcome::Upgrade {
        reply: Response::new(101, "Switching Protocols")
            .header("upgrade", "websocket")
            .header("sec-websocket-accept", accept_key(key))
            .header("sec-websocket-protocol", version.token())
            .header("connection", "upgrade")
            .encode(now),
        consumed,
        dialect: Dialect::V1x(version),
        token: token::of(head),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{handle, Outcome};

    const BASE: &str = "GET /relay HTTP/1.1\r\nHost: relay.example.com.\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

    fn outcome(req: &str) -> Outcome {
        handle(req.as_bytes(), SystemTime::UNIX_EPOCH)
    }

    fn refused(req: &str) -> String {
        match outcome(req) {
            Outcome::Reply { reply, .. } => String::from_utf8(reply).unwrap(),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn refusals_close_only_when_asked() {
        let close = |req: &str| match outcome(req) {
            Outcome::Reply { close, .. } => close,
            o => panic!("{o:?}"),
        };
        let no_key = "GET /relay HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
        assert!(!close(&format!("{no_key}\r\n")));
        assert!(close(&format!("{no_key}Connection: close\r\n\r\n")));
        let v1x_bad = BASE.replace("Connection: Upgrade", "Connection: close");
        assert!(close(&format!(
            "{v1x_bad}sec-websocket-protocol: nope\r\n\r\n"
        )));
    }

    #[test]
    fn subprotocols_choose_the_family_and_version() {
        let with = |p: &str| format!("{BASE}sec-websocket-protocol: {p}\r\n\r\n");
        let Outcome::Upgrade { reply, dialect, .. } =
            outcome(&with("iroh-relay-v2, iroh-relay-v1"))
        else {
            panic!()
        };
        let reply = String::from_utf8(reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(reply.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(reply.contains("sec-websocket-protocol: iroh-relay-v2\r\n"));
        assert!(reply.contains("upgrade: websocket\r\n"));
        assert_eq!(dialect, Dialect::V1x(Version::V2));
        for (p, v) in [
            ("iroh-relay-v1", Version::V1),
            ("iroh-relay-v1,iroh-relay-v2", Version::V2),
            ("foo, iroh-relay-v2, bar", Version::V2),
            ("foo,  iroh-relay-v1 ", Version::V1),
        ] {
            let Outcome::Upgrade { dialect, .. } = outcome(&with(p)) else {
                panic!("{p}")
            };
            assert_eq!(dialect, Dialect::V1x(v), "{p}");
        }
        // No subprotocol: the 0.35 websocket path, nothing echoed.
        let Outcome::Upgrade { reply, dialect, .. } = outcome(&format!("{BASE}\r\n")) else {
            panic!()
        };
        assert_eq!(dialect, Dialect::V035(Transport::Websocket));
        assert!(!String::from_utf8(reply)
            .unwrap()
            .contains("sec-websocket-protocol"));
        // No Connection header and a query: still 101.
        let req = "GET /relay?foo=bar HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Key: a\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: iroh-relay-v2\r\nAuthorization: Bearer tok\r\n\r\n";
        let Outcome::Upgrade { token, .. } = outcome(req) else {
            panic!()
        };
        assert_eq!(token.as_deref(), Some("tok"));
    }

    #[test]
    fn every_1x_refusal_with_its_text() {
        let p = "Sec-WebSocket-Protocol: iroh-relay-v2\r\n";
        let cases = [
            (format!("GET /relay HTTP/1.1\r\n{p}\r\n"), "missing header: upgrade"),
            (format!("GET /relay HTTP/1.1\r\nUpgrade: WebSocket\r\n{p}\r\n"), "invalid header value for upgrade: value must be websocket"),
            (format!("GET /relay HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n{p}\r\n"), "missing header: sec-websocket-key"),
            (format!("GET /relay HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Key: a\r\n{p}\r\n"), "missing header: sec-websocket-version"),
            (format!("{BASE}Sec-WebSocket-Protocol: caf\u{e9}\r\n\r\n"), "invalid header value for sec-websocket-protocol: header value is not ascii"),
            (format!("{BASE}Sec-WebSocket-Protocol: iroh-relay-v3, foo\r\n\r\n"), "invalid header value for sec-websocket-protocol: unsupported relay version: we support iroh-relay-v2, iroh-relay-v1 but you only provide iroh-relay-v3, foo"),
            (format!("{BASE}Sec-WebSocket-Protocol: iroh-relay-v2 iroh-relay-v1\r\n\r\n"), "unsupported relay version"),
        ];
        for (req, text) in cases {
            let r = refused(&req);
            assert!(r.starts_with("HTTP/1.1 400 "), "{req}");
            assert!(r.contains(text), "{req}: {r}");
            assert!(r.contains("content-length: "), "{req}");
        }
        let r = refused(&format!("GET /relay HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Key: a\r\nSec-WebSocket-Version: 8\r\n{p}\r\n"));
        assert!(r.contains("sec-websocket-version: 13\r\n"));
        assert!(r.ends_with("unsupported websocket version, only supporting 13"));
        // 1.x never uses /derp.
        let r = refused(&format!("GET /derp HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Key: a\r\nSec-WebSocket-Version: 13\r\n{p}\r\n"));
        assert!(r.starts_with("HTTP/1.1 404 "));
        // The custom upgrade is 0.35 whatever else is sent.
        let Outcome::Upgrade { dialect, .. } = outcome(&format!(
            "GET /relay HTTP/1.1\r\nUpgrade: iroh derp http\r\n{p}\r\n"
        )) else {
            panic!()
        };
        assert_eq!(dialect, Dialect::V035(Transport::Derp));
    }
}
