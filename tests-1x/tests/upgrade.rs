//! The 1.x upgrade beside 0.35's (docs/protocol-1x.md §7, items 1-9): one port,
//! the family told apart by `Sec-WebSocket-Protocol`.

use std::time::Duration;

use tests::http::{self, get_request, read_response, roundtrip};
use tests::{bounded, start_relay};
use tests_1x::raw::{ty, upgrade_request};
use tokio::io::AsyncWriteExt;

const T: Duration = Duration::from_secs(60);

async fn upgrade(
    port: u16,
    addr: std::net::SocketAddr,
    path: &str,
    protocols: Option<&str>,
    extra: &[&str],
) -> (http::Response, tokio::net::TcpStream) {
    let mut s = http::connect(addr).await.unwrap();
    s.write_all(&upgrade_request(port, path, protocols, extra))
        .await
        .unwrap();
    (read_response(&mut s).await.unwrap(), s)
}

#[tokio::test]
async fn subprotocol_negotiation_and_the_first_frame() {
    bounded(T, async {
        let relay = start_relay(2);
        let (addr, port) = (relay.addr(), relay.port());
        let (r, s) = upgrade(port, addr, "/relay", Some("iroh-relay-v2, iroh-relay-v1"), &[]).await;
        assert_eq!(r.status, 101, "{r:?}");
        assert_eq!(r.header("sec-websocket-protocol"), Some("iroh-relay-v2"));
        assert_eq!(r.header("sec-websocket-accept"), Some(http::WS_EXAMPLE_ACCEPT));
        assert_eq!(r.header("upgrade"), Some("websocket"));
        // The server speaks first: `82 11 00 <16 random bytes>`.
        let mut ws = tests::ws::RawWs::from_upgraded(s);
        let (op, m) = ws.read_message(Duration::from_secs(5)).await.unwrap().unwrap();
        assert_eq!(op, tests::ws::op::BINARY);
        assert_eq!(m.len(), 17);
        assert_eq!(m[0], ty::SERVER_CHALLENGE);

        for (offer, want) in [
            ("iroh-relay-v1", "iroh-relay-v1"),
            ("iroh-relay-v1,iroh-relay-v2", "iroh-relay-v2"),
            ("foo, iroh-relay-v2, bar", "iroh-relay-v2"),
            ("baz, iroh-relay-v1, iroh-relay-v2, boo", "iroh-relay-v2"),
            ("foo,  iroh-relay-v1 ", "iroh-relay-v1"),
        ] {
            let (r, _) = upgrade(port, addr, "/relay", Some(offer), &[]).await;
            assert_eq!(r.status, 101, "{offer}: {r:?}");
            assert_eq!(r.header("sec-websocket-protocol"), Some(want), "{offer}");
        }
        // No Connection header, a query string: still 101.
        let mut s = http::connect(addr).await.unwrap();
        let req = format!("GET /relay?foo=bar HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: iroh-relay-v2\r\n\r\n", http::WS_EXAMPLE_KEY);
        s.write_all(req.as_bytes()).await.unwrap();
        assert_eq!(read_response(&mut s).await.unwrap().status, 101);
    })
    .await
}

#[tokio::test]
async fn refusals_as_1_4_1_words_them() {
    bounded(T, async {
        let relay = start_relay(2);
        let addr = relay.addr();
        let p = "Sec-WebSocket-Protocol: iroh-relay-v2\r\n";
        let key = format!("Sec-WebSocket-Key: {}\r\n", http::WS_EXAMPLE_KEY);
        let cases = [
            (format!("GET /relay HTTP/1.1\r\n{p}\r\n"), "missing header: upgrade"),
            (format!("GET /relay HTTP/1.1\r\nUpgrade: WebSocket\r\n{p}\r\n"), "invalid header value for upgrade: value must be websocket"),
            (format!("GET /relay HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n{p}\r\n"), "missing header: sec-websocket-key"),
            (format!("GET /relay HTTP/1.1\r\nUpgrade: websocket\r\n{key}{p}\r\n"), "missing header: sec-websocket-version"),
            (format!("GET /relay HTTP/1.1\r\nUpgrade: websocket\r\n{key}Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: iroh-relay-v3\r\n\r\n"), "invalid header value for sec-websocket-protocol: unsupported relay version: we support iroh-relay-v2, iroh-relay-v1 but you only provide iroh-relay-v3"),
        ];
        for (req, body) in cases {
            let r = roundtrip(addr, req.as_bytes()).await.unwrap();
            assert_eq!(r.status, 400, "{req}");
            assert_eq!(r.body_text(), body, "{req}");
        }
        let r = roundtrip(addr, format!("GET /relay HTTP/1.1\r\nUpgrade: websocket\r\n{key}Sec-WebSocket-Version: 8\r\n{p}\r\n").as_bytes()).await.unwrap();
        assert_eq!(r.status, 400);
        assert_eq!(r.header("sec-websocket-version"), Some("13"));
        assert_eq!(r.body_text(), "invalid header value for sec-websocket-version: unsupported websocket version, only supporting 13");
        for req in [
            format!("POST /relay HTTP/1.1\r\nUpgrade: websocket\r\n{key}Sec-WebSocket-Version: 13\r\n{p}\r\n"),
            format!("GET /relay/ HTTP/1.1\r\nUpgrade: websocket\r\n{key}Sec-WebSocket-Version: 13\r\n{p}\r\n"),
            format!("GET /derp HTTP/1.1\r\nUpgrade: websocket\r\n{key}Sec-WebSocket-Version: 13\r\n{p}\r\n"),
            "HEAD /ping HTTP/1.1\r\n\r\n".to_string(),
        ] {
            let r = roundtrip(addr, req.as_bytes()).await.unwrap();
            assert_eq!(r.status, 404, "{req}");
        }
    })
    .await
}

#[tokio::test]
async fn plain_routes_for_both_families() {
    bounded(T, async {
        let relay = start_relay(1);
        let addr = relay.addr();
        let r = roundtrip(addr, &get_request("/healthz", "h", &[]))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body = r.body_text();
        assert!(
            body.contains("\"status\":\"ok\"")
                && body.contains("\"version\":")
                && body.contains("\"git_hash\":"),
            "{body}"
        );
        let r = roundtrip(addr, &get_request("/ping", "h", &[]))
            .await
            .unwrap();
        assert_eq!(
            (r.status, r.header("access-control-allow-origin")),
            (200, Some("*"))
        );
        // Captive portal: 1.x names and 0.35 names, each answered in kind.
        let r = roundtrip(
            addr,
            &get_request(
                "/generate_204",
                "h",
                &["X-Iroh-Challenge: ts_relay.example.com"],
            ),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 204);
        assert_eq!(
            r.header("x-iroh-response"),
            Some("response ts_relay.example.com")
        );
        assert_eq!(r.header("x-tailscale-response"), None);
        let r = roundtrip(
            addr,
            &get_request(
                "/generate_204",
                "h",
                &["X-Tailscale-Challenge: ts_relay.example.com"],
            ),
        )
        .await
        .unwrap();
        assert_eq!(
            r.header("x-tailscale-response"),
            Some("response ts_relay.example.com")
        );
        let long = "a".repeat(64);
        for bad in [long.as_str(), "a/b"] {
            let r = roundtrip(
                addr,
                &get_request("/generate_204", "h", &[&format!("X-Iroh-Challenge: {bad}")]),
            )
            .await
            .unwrap();
            assert_eq!(
                (r.status, r.header("x-iroh-response")),
                (204, None),
                "{bad}"
            );
        }
        // Keep-alive: /ping, then the upgrade on the same connection.
        let mut s = http::connect(addr).await.unwrap();
        s.write_all(&get_request("/ping", "h", &[])).await.unwrap();
        assert_eq!(read_response(&mut s).await.unwrap().status, 200);
        s.write_all(&upgrade_request(
            relay.port(),
            "/relay",
            Some("iroh-relay-v2"),
            &[],
        ))
        .await
        .unwrap();
        let r = read_response(&mut s).await.unwrap();
        assert_eq!(
            (r.status, r.header("sec-websocket-protocol")),
            (101, Some("iroh-relay-v2"))
        );
        // 0.35's upgrades still reach 0.35: no subprotocol echoed.
        let (r, _) = upgrade(relay.port(), addr, "/relay", None, &[]).await;
        assert_eq!((r.status, r.header("sec-websocket-protocol")), (101, None));
    })
    .await
}
