//! Routing of the relay listener (docs/protocol-0.35.md and
//! docs/protocol-1x.md, HTTP sections): plain routes here, the relay
//! upgrade in [`super::upgrade`].

use std::time::SystemTime;

use super::request::{parse_head, Head, HeadError};
use super::response::Response;
use crate::Dialect;

const INDEX_HTML: &str = "<html><body>\n<h1>Iroh Relay</h1>\n<p>\n  This is an <a href=\"https://iroh.computer/\">Iroh</a> Relay server.\n</p>\n</body></html>\n";
const ROBOTS_TXT: &str = "User-agent: *\nDisallow: /\n";
/// `/healthz` as 1.4.1 answers it, with this server's name and version.
const HEALTHZ: &str = concat!(
    "{\"status\":\"ok\",\"version\":\"",
    env!("CARGO_PKG_VERSION"),
    "\",\"git_hash\":\"unknown\",\"server\":\"uring-relay\"}"
);

/// What the connection does after the bytes at the start of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The head is not complete yet.
    Partial,
    /// Write `reply`, drop `consumed` bytes, then read the next request
    /// (or close, if `close`).
    Reply {
        /// The whole response, head and body.
        reply: Vec<u8>,
        /// Bytes of the buffer this took: the head, or the whole buffer when
        /// the head is refused (400, 431).
        consumed: usize,
        /// Whether to close after writing `reply`.
        close: bool,
    },
    /// Write `reply` (a 101); bytes after `consumed` begin the frame stream.
    Upgrade {
        /// The 101 response.
        reply: Vec<u8>,
        /// Length of the request head.
        consumed: usize,
        /// What the connection speaks from now on.
        dialect: Dialect,
        /// The access token presented (`Authorization: Bearer`, `?token=`).
        token: Option<String>,
    },
}

impl Outcome {
    pub(super) fn not_found(head: &Head, now: SystemTime) -> Outcome {
        Outcome::Reply {
            reply: Response::new(404, "Not Found")
                .body("Not Found")
                .encode(now),
            consumed: head.len,
            close: !head.keep_alive(),
        }
    }
}

/// Handles the request head at the start of `buf`.
pub fn handle(buf: &[u8], now: SystemTime) -> Outcome {
    let head = match parse_head(buf) {
        Ok(Some(h)) => h,
        Ok(None) => return Outcome::Partial,
        Err(e) => {
            let (status, reason) = match e {
                HeadError::Bad => (400, "Bad Request"),
                HeadError::TooLarge => (431, "Request Header Fields Too Large"),
            };
            return Outcome::Reply {
                reply: Response::new(status, reason).encode(now),
                consumed: buf.len(),
                close: true,
            };
        }
    };
    let close = !head.keep_alive();
    let reply = match (head.method.as_str(), head.path.as_str()) {
        ("GET", "/relay" | "/derp") => return super::upgrade::upgrade(&head, now),
        ("GET", "/" | "/index.html") => Response::new(200, "OK")
            .header("content-type", "text/html; charset=utf-8")
            .body(INDEX_HTML),
        ("GET", "/robots.txt") => Response::new(200, "OK").body(ROBOTS_TXT),
        ("GET", "/ping") => Response::new(200, "OK").header("access-control-allow-origin", "*"),
        ("GET", "/generate_204") => generate_204(&head),
        ("GET", "/healthz") => Response::new(200, "OK")
            .header("content-type", "application/json")
            .body(HEALTHZ),
        _ => Response::new(404, "Not Found").body("Not Found"),
    };
    Outcome::Reply {
        reply: reply.encode(now),
        consumed: head.len,
        close,
    }
}

/// Captive-portal probe: echo a well-formed challenge, under 0.35's
/// `X-Tailscale-*` names and 1.x's `X-Iroh-*` ones.
fn generate_204(head: &Head) -> Response {
    let mut resp = Response::new(204, "No Content");
    for (ask, answer) in [
        ("x-tailscale-challenge", "x-tailscale-response"),
        ("x-iroh-challenge", "x-iroh-response"),
    ] {
        if let Some(c) = head.header(ask).filter(|c| valid_challenge(c)) {
            resp = resp.header(answer, format!("response {c}"));
        }
    }
    resp
}

fn valid_challenge(c: &str) -> bool {
    !c.is_empty()
        && c.len() < 64
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Transport;

    fn reply(req: &str) -> (String, usize, bool) {
        match handle(req.as_bytes(), SystemTime::UNIX_EPOCH) {
            Outcome::Reply {
                reply,
                consumed,
                close,
            } => (String::from_utf8(reply).unwrap(), consumed, close),
            o => panic!("{o:?}"),
        }
    }

    fn upgraded(req: &str) -> (String, usize, Dialect) {
        match handle(req.as_bytes(), SystemTime::UNIX_EPOCH) {
            Outcome::Upgrade {
                reply,
                consumed,
                dialect,
                ..
            } => (String::from_utf8(reply).unwrap(), consumed, dialect),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn derp_upgrade_without_connection_header() {
        for path in ["/relay", "/derp"] {
            let req = format!("GET {path} HTTP/1.1\r\nupgrade: iroh derp http\r\nhost: h\r\n\r\n");
            let (r, used, t) = upgraded(&format!("{req}\x02\x00"));
            assert!(r.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
            assert!(r.contains("\r\nupgrade: iroh derp http\r\n"));
            assert!(!r.contains("content-length"));
            assert_eq!(used, req.len());
            assert_eq!(t, Dialect::V035(Transport::Derp));
        }
    }

    #[test]
    fn websocket_upgrade_accept_key() {
        let (r, _, t) = upgraded("GET /relay HTTP/1.1\r\nHost: h.\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        assert!(r.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(r.contains("upgrade: websocket\r\n"));
        assert!(!r.to_ascii_lowercase().contains("sec-websocket-protocol"));
        assert_eq!(t, Dialect::V035(Transport::Websocket));
    }

    #[test]
    fn upgrade_refusals() {
        let cases = [
            "GET /relay HTTP/1.1\r\n\r\n",
            "GET /relay HTTP/1.1\r\nUpgrade: WebSocket\r\nSec-WebSocket-Key: a\r\nSec-WebSocket-Version: 13\r\n\r\n",
            "GET /relay HTTP/1.1\r\nUpgrade: h2c\r\n\r\n",
            "GET /relay HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n",
            "GET /relay HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Key: a\r\n\r\n",
        ];
        for c in cases {
            let (r, _, _) = reply(c);
            assert!(r.starts_with("HTTP/1.1 400 "), "{c}");
            assert!(!r.contains("sec-websocket-version"));
        }
        let (r, _, _) = reply("GET /relay HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Key: a\r\nSec-WebSocket-Version: 8\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 400 ") && r.contains("sec-websocket-version: 13\r\n"));
    }

    #[test]
    fn plain_routes() {
        let (r, _, close) = reply("GET / HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 ") && r.contains("text/html; charset=utf-8"));
        assert!(r.contains("This is an <a href=\"https://iroh.computer/\">Iroh</a> Relay server."));
        assert!(!close);
        assert!(reply("GET /index.html HTTP/1.1\r\n\r\n")
            .0
            .starts_with("HTTP/1.1 200 "));
        let (r, _, _) = reply("GET /robots.txt HTTP/1.1\r\n\r\n");
        assert!(r.ends_with("\r\n\r\nUser-agent: *\nDisallow: /\n"));
        let (r, _, _) = reply("GET /ping?x HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 ") && r.contains("access-control-allow-origin: *\r\n"));
        for req in [
            "POST /relay HTTP/1.1\r\n\r\n",
            "GET /relay/ HTTP/1.1\r\n\r\n",
            "HEAD / HTTP/1.1\r\n\r\n",
            "GET /x HTTP/1.1\r\n\r\n",
        ] {
            let (r, _, _) = reply(req);
            assert!(
                r.starts_with("HTTP/1.1 404 ") && r.ends_with("\r\n\r\nNot Found"),
                "{req}"
            );
        }
        for r in [
            reply("GET / HTTP/1.1\r\n\r\n").0,
            reply("GET /x HTTP/1.1\r\n\r\n").0,
        ] {
            assert!(
                r.contains("strict-transport-security: max-age=63072000; includeSubDomains\r\n")
            );
            assert!(r.contains("content-security-policy: default-src 'none';"));
            assert!(r.contains("date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"));
        }
    }

    #[test]
    fn captive_portal() {
        let (r, _, _) =
            reply("GET /generate_204 HTTP/1.1\r\nX-Tailscale-Challenge: ts_host.example\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 204 "));
        assert!(r.contains("x-tailscale-response: response ts_host.example\r\n"));
        assert!(!r.contains("content-length"));
        let long = "a".repeat(64);
        for bad in [long.as_str(), "a b", "a/b", ""] {
            let (r, _, _) = reply(&format!(
                "GET /generate_204 HTTP/1.1\r\nX-Tailscale-Challenge: {bad}\r\n\r\n"
            ));
            assert!(
                r.starts_with("HTTP/1.1 204 ") && !r.contains("x-tailscale-response"),
                "{bad}"
            );
        }
        assert!(valid_challenge(&"a".repeat(63)));
        let (r, _, _) =
            reply("GET /generate_204 HTTP/1.1\r\nX-Iroh-Challenge: ts_relay.example.com\r\n\r\n");
        assert!(r.contains("x-iroh-response: response ts_relay.example.com\r\n"));
        assert!(!r.contains("x-tailscale-response"));
    }

    #[test]
    fn malformed_and_partial() {
        assert_eq!(
            handle(b"GET / HTTP/1.1\r\n", SystemTime::UNIX_EPOCH),
            Outcome::Partial
        );
        let (r, _, close) = reply("G\x01T / HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 400 ") && close);
        let (_, used, close) = reply("GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET");
        assert_eq!(used, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n".len());
        assert!(close);
    }
}
