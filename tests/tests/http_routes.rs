//! HTTP layer conformance (docs/protocol-0.35.md §2, §15 "HTTP layer"),
//! over raw TCP with exact request bytes.

use std::time::Duration;

use tests::{
    bounded,
    http::{self, get_request, relay_upgrade_request, request, roundtrip, ws_upgrade_request},
    raw::{self, RawRelay},
    skip_on_reference, start_relay, wire,
};
use tokio::io::AsyncWriteExt;

const T: Duration = Duration::from_secs(60);

#[tokio::test]
async fn custom_upgrade_on_relay_and_derp() {
    bounded(T, async {
        let relay = start_relay(1);
        for path in ["/relay", "/derp"] {
            let mut s = http::connect(relay.addr()).await.unwrap();
            s.write_all(&relay_upgrade_request(path, relay.port()))
                .await
                .unwrap();
            let resp = http::read_response(&mut s).await.unwrap();
            assert_eq!(resp.status, 101, "{path}: {resp:?}");
            assert_eq!(resp.header("upgrade"), Some("iroh derp http"), "{path}");
            // The upgraded stream speaks the relay protocol.
            let mut c = RawRelay::from_upgraded(s);
            let sk = wire::random_signing_key();
            c.send_frame(wire::ty::CLIENT_INFO, &wire::client_info(&sk))
                .await
                .unwrap();
            c.ping_pong(*b"derp-ok!").await.unwrap();
        }
    })
    .await
}

#[tokio::test]
async fn websocket_upgrade_accept_key() {
    bounded(T, async {
        let relay = start_relay(1);
        let resp = roundtrip(relay.addr(), &ws_upgrade_request("/relay", relay.port()))
            .await
            .unwrap();
        assert_eq!(resp.status, 101, "{resp:?}");
        assert_eq!(
            resp.header("sec-websocket-accept"),
            Some(http::WS_EXAMPLE_ACCEPT)
        );
        assert!(
            resp.header("upgrade")
                .is_some_and(|v| v.eq_ignore_ascii_case("websocket")),
            "{resp:?}"
        );
        assert_eq!(resp.header("sec-websocket-protocol"), None);
    })
    .await
}

#[tokio::test]
async fn bad_upgrades_get_400() {
    bounded(T, async {
        let relay = start_relay(1);
        let host = format!("127.0.0.1:{}", relay.port());
        let cases: Vec<(&str, Vec<&str>)> = vec![
            ("no upgrade header", vec![]),
            (
                "Upgrade: WebSocket (case differs)",
                vec![
                    "Upgrade: WebSocket",
                    "Connection: Upgrade",
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                    "Sec-WebSocket-Version: 13",
                ],
            ),
            ("Upgrade: h2c", vec!["Upgrade: h2c", "Connection: Upgrade"]),
            (
                "Upgrade: IROH DERP HTTP (case differs)",
                vec!["Upgrade: IROH DERP HTTP"],
            ),
            (
                "websocket without key",
                vec![
                    "Upgrade: websocket",
                    "Connection: Upgrade",
                    "Sec-WebSocket-Version: 13",
                ],
            ),
            (
                "websocket without version",
                vec![
                    "Upgrade: websocket",
                    "Connection: Upgrade",
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                ],
            ),
        ];
        for (name, headers) in cases {
            let resp = roundtrip(relay.addr(), &get_request("/relay", &host, &headers))
                .await
                .unwrap();
            assert_eq!(resp.status, 400, "{name}: {resp:?}");
        }
        let resp = roundtrip(
            relay.addr(),
            &get_request(
                "/relay",
                &host,
                &[
                    "Upgrade: websocket",
                    "Connection: Upgrade",
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                    "Sec-WebSocket-Version: 8",
                ],
            ),
        )
        .await
        .unwrap();
        assert_eq!(resp.status, 400, "{resp:?}");
        assert_eq!(resp.header("sec-websocket-version"), Some("13"));
    })
    .await
}

#[tokio::test]
async fn relay_path_needs_get_and_exact_path() {
    bounded(T, async {
        let relay = start_relay(1);
        let host = format!("127.0.0.1:{}", relay.port());
        let up = ["upgrade: iroh derp http", "content-length: 0"];
        let resp = roundtrip(relay.addr(), &request("POST", "/relay", &host, &up))
            .await
            .unwrap();
        assert_eq!(resp.status, 404, "POST /relay: {resp:?}");
        let resp = roundtrip(relay.addr(), &get_request("/relay/", &host, &up[..1]))
            .await
            .unwrap();
        assert_eq!(resp.status, 404, "GET /relay/: {resp:?}");
    })
    .await
}

#[tokio::test]
async fn index_pages() {
    bounded(T, async {
        let relay = start_relay(1);
        let host = format!("127.0.0.1:{}", relay.port());
        for path in ["/", "/index.html"] {
            let resp = roundtrip(relay.addr(), &get_request(path, &host, &[]))
                .await
                .unwrap();
            assert_eq!(resp.status, 200, "{path}: {resp:?}");
            assert_eq!(
                resp.header("content-type"),
                Some("text/html; charset=utf-8"),
                "{path}"
            );
            assert!(
                resp.body_text().contains("Iroh Relay"),
                "{path} body: {}",
                resp.body_text()
            );
        }
    })
    .await
}

#[tokio::test]
async fn default_security_headers() {
    bounded(T, async {
        let relay = start_relay(1);
        let host = format!("127.0.0.1:{}", relay.port());
        for path in ["/", "/ping", "/nope"] {
            let resp = roundtrip(relay.addr(), &get_request(path, &host, &[]))
                .await
                .unwrap();
            assert_eq!(
                resp.header("strict-transport-security"),
                Some("max-age=63072000; includeSubDomains"),
                "{path}: {resp:?}"
            );
            assert_eq!(
                resp.header("content-security-policy"),
                Some(
                    "default-src 'none'; frame-ancestors 'none'; form-action 'none'; \
                     base-uri 'self'; block-all-mixed-content; plugin-types 'none'"
                ),
                "{path}"
            );
        }
    })
    .await
}

#[tokio::test]
async fn robots_ping_and_not_found() {
    bounded(T, async {
        let relay = start_relay(1);
        let host = format!("127.0.0.1:{}", relay.port());
        let resp = roundtrip(relay.addr(), &get_request("/robots.txt", &host, &[]))
            .await
            .unwrap();
        assert_eq!(resp.status, 200, "{resp:?}");
        assert_eq!(resp.body, b"User-agent: *\nDisallow: /\n");

        for path in ["/ping", "/ping?probe=1"] {
            let resp = roundtrip(relay.addr(), &get_request(path, &host, &[]))
                .await
                .unwrap();
            assert_eq!(resp.status, 200, "{path}: {resp:?}");
            assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
            assert!(resp.body.is_empty(), "{path}: {resp:?}");
        }

        // 1.x relays (and ours) answer /healthz; 0.35 does not.
        let resp = roundtrip(relay.addr(), &get_request("/healthz", &host, &[]))
            .await
            .unwrap();
        if tests::flavor() == tests::Flavor::Uring {
            assert_eq!(resp.status, 200, "{resp:?}");
            assert_eq!(resp.header("content-type"), Some("application/json"));
            let body = String::from_utf8_lossy(&resp.body);
            assert!(
                body.starts_with("{\"status\":\"ok\",\"version\":\""),
                "{body}"
            );
        } else {
            assert_eq!(resp.status, 404, "{resp:?}");
        }
        for path in ["/nope", "/ping/", "/RELAY"] {
            let resp = roundtrip(relay.addr(), &get_request(path, &host, &[]))
                .await
                .unwrap();
            assert_eq!(resp.status, 404, "{path}: {resp:?}");
            assert_eq!(resp.body, b"Not Found", "{path}");
        }
    })
    .await
}

#[tokio::test]
async fn generate_204_challenge() {
    bounded(T, async {
        let relay = start_relay(1);
        let host = format!("127.0.0.1:{}", relay.port());
        let ok63 = "a".repeat(63);
        let long64 = "a".repeat(64);
        let cases: Vec<(Option<&str>, Option<String>)> = vec![
            (
                Some("ts_host.example"),
                Some("response ts_host.example".into()),
            ),
            (Some("A-z_0.9"), Some("response A-z_0.9".into())),
            (Some(ok63.as_str()), Some(format!("response {ok63}"))),
            (Some(long64.as_str()), None),
            (Some("ts_host!example"), None),
            (Some("ts host"), None),
            (None, None),
        ];
        for (challenge, expected) in cases {
            let hdr = challenge.map(|c| format!("X-Tailscale-Challenge: {c}"));
            let extra: Vec<&str> = hdr.iter().map(String::as_str).collect();
            let resp = roundtrip(relay.addr(), &get_request("/generate_204", &host, &extra))
                .await
                .unwrap();
            assert_eq!(resp.status, 204, "{challenge:?}: {resp:?}");
            assert_eq!(
                resp.header("x-tailscale-response").map(str::to_owned),
                expected,
                "{challenge:?}"
            );
            assert!(resp.body.is_empty());
        }
    })
    .await
}

#[tokio::test]
async fn keep_alive_then_upgrade() {
    bounded(T, async {
        let relay = start_relay(1);
        let host = format!("127.0.0.1:{}", relay.port());
        let mut s = http::connect(relay.addr()).await.unwrap();
        for _ in 0..2 {
            s.write_all(&get_request("/ping", &host, &[]))
                .await
                .unwrap();
            let resp = http::read_response(&mut s).await.unwrap();
            assert_eq!(resp.status, 200, "{resp:?}");
        }
        s.write_all(&relay_upgrade_request("/relay", relay.port()))
            .await
            .unwrap();
        let resp = http::read_response(&mut s).await.unwrap();
        assert_eq!(resp.status, 101, "{resp:?}");
        let mut c = RawRelay::from_upgraded(s);
        let sk = wire::random_signing_key();
        c.send_frame(wire::ty::CLIENT_INFO, &wire::client_info(&sk))
            .await
            .unwrap();
        c.ping_pong(*b"kept-ali").await.unwrap();
    })
    .await
}

#[tokio::test]
async fn pipelined_client_info_after_upgrade_request() {
    if skip_on_reference("bytes pipelined after the upgrade request") {
        return;
    }
    bounded(T, async {
        let relay = start_relay(1);
        let sk = wire::random_signing_key();
        let mut bytes = relay_upgrade_request("/relay", relay.port());
        bytes.extend(wire::frame(wire::ty::CLIENT_INFO, &wire::client_info(&sk)));
        bytes.extend(wire::frame(wire::ty::PING, b"pipeline"));
        let mut s = http::connect(relay.addr()).await.unwrap();
        s.write_all(&bytes).await.unwrap();
        let resp = http::read_response(&mut s).await.unwrap();
        assert_eq!(resp.status, 101, "{resp:?}");
        let mut c = RawRelay::from_upgraded(s);
        let (typ, payload) = c.expect_frame(raw::FRAME_TIMEOUT).await.unwrap();
        assert_eq!(
            (typ, payload.as_slice()),
            (wire::ty::PONG, &b"pipeline"[..])
        );
    })
    .await
}

#[tokio::test]
async fn incomplete_request_head_times_out() {
    if skip_on_reference("an HTTP request head timeout") {
        return;
    }
    bounded(T, async {
        let relay = start_relay(1);
        let mut s = http::connect(relay.addr()).await.unwrap();
        s.write_all(b"GET /relay HTTP/1.1\r\nHost: 127.0.0.1\r\nupgrade: iro")
            .await
            .unwrap();
        let mut got = Vec::new();
        raw::read_until_closed(&mut s, &mut got, Duration::from_secs(30))
            .await
            .unwrap();
        // The server may answer with an error status (e.g. 408) before closing.
        assert!(
            got.is_empty() || got.starts_with(b"HTTP/1.1 4"),
            "unexpected bytes before close: {:?}",
            String::from_utf8_lossy(&got)
        );
    })
    .await
}
