//! The HTTP surface: a request head parses to what was written, and gives
//! the same outcome whatever reads it arrives in; any bytes give an
//! outcome, never a panic.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use relay_proto::http::{handle, parse_head, token, Head, Outcome, MAX_HEAD_LEN};

use crate::common::{cases, reads, split};

/// A request head as its parts, and the bytes that follow it.
#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    query: Option<String>,
    version: u8,
    headers: Vec<(String, String)>,
    /// `\r\n` or a bare `\n` (both are accepted).
    eol: &'static str,
    after: Vec<u8>,
}

impl Req {
    fn head(&self) -> Vec<u8> {
        let mut s = format!("{} {}", self.method, self.path);
        if let Some(q) = &self.query {
            s.push('?');
            s.push_str(q);
        }
        s.push_str(&format!(" HTTP/1.{}{}", self.version, self.eol));
        for (n, v) in &self.headers {
            s.push_str(&format!("{n}: {v}{}", self.eol));
        }
        s.push_str(self.eol);
        s.into_bytes()
    }

    fn bytes(&self) -> Vec<u8> {
        let mut b = self.head();
        b.extend_from_slice(&self.after);
        b
    }
}

/// Any ASCII-case variant of `name`.
fn any_case(name: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<bool>(), name.len()).prop_map(move |up| {
        name.chars()
            .zip(up)
            .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

fn protocols() -> impl Strategy<Value = String> + Clone {
    prop::collection::vec(
        prop::sample::select(vec![
            "iroh-relay-v1",
            "iroh-relay-v2",
            "iroh-relay-v3",
            "foo",
        ]),
        1..4,
    )
    .prop_map(|p| p.join(", "))
}

/// Headers the relay looks at, with the values that choose its paths,
/// and others.
fn header() -> impl Strategy<Value = (String, String)> {
    let named = |name: &'static str, values: Vec<&'static str>| {
        (any_case(name), prop::sample::select(values)).prop_map(|(n, v)| (n, v.to_string()))
    };
    prop_oneof![
        named(
            "upgrade",
            vec!["iroh derp http", "websocket", "WebSocket", "h2c"]
        ),
        named("sec-websocket-key", vec!["dGhlIHNhbXBsZSBub25jZQ==", "a"]),
        named("sec-websocket-version", vec!["13", "8"]),
        (any_case("sec-websocket-protocol"), protocols()),
        named(
            "connection",
            vec!["close", "keep-alive", "Upgrade", "upgrade, close"]
        ),
        (
            any_case("authorization"),
            "(Bearer|bearer|Basic) [a-zA-Z0-9%]{1,12}"
        ),
        (
            prop::sample::select(vec!["X-Tailscale-Challenge", "x-iroh-challenge"]),
            "[a-zA-Z0-9._-]{0,70}",
        )
            .prop_map(|(n, v)| (n.to_string(), v)),
        named("host", vec!["relay.example.com.", "127.0.0.1:3340"]),
        ("[A-Za-z][A-Za-z0-9-]{0,15}", "([!-~]([ -~]{0,30}[!-~])?)?"),
    ]
}

/// The headers of a relay upgrade as the clients of either family send
/// them.
fn upgrade_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let h = |n: &str, v: &str| (n.to_string(), v.to_string());
    prop_oneof![
        Just(vec![
            h("upgrade", "iroh derp http"),
            h("host", "relay.example.com")
        ]),
        prop::option::of(protocols()).prop_map(move |p| {
            let mut v = vec![
                h("Host", "relay.example.com"),
                h("Upgrade", "websocket"),
                h("Connection", "Upgrade"),
                h("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                h("Sec-WebSocket-Version", "13"),
            ];
            if let Some(p) = p {
                v.push(h("sec-websocket-protocol", &p));
            }
            v
        }),
    ]
}

fn request() -> impl Strategy<Value = Req> {
    (
        prop_oneof![
            4 => Just("GET"),
            1 => prop::sample::select(vec!["POST", "HEAD", "PUT"]),
        ],
        prop_oneof![
            3 => Just("/relay"),
            1 => prop::sample::select(vec![
                "/derp",
                "/",
                "/index.html",
                "/robots.txt",
                "/ping",
                "/generate_204",
                "/healthz",
                "/relay/",
                "/nope",
            ]),
        ],
        prop::option::weighted(
            0.3,
            "(token=[a-zA-Z0-9%+]{0,10}|[a-z]{1,5}=[a-z0-9]{0,5})(&[a-z]{1,5}=[a-z0-9%]{0,5}){0,2}",
        ),
        prop_oneof![4 => Just(1u8), 1 => Just(0u8)],
        (
            prop_oneof![Just(vec![]), upgrade_headers()],
            prop::collection::vec(header(), 0..6),
            any::<prop::sample::Index>(),
        )
            .prop_map(|(mut base, extra, at)| {
                let at = at.index(base.len() + 1);
                base.splice(at..at, extra);
                base
            }),
        prop_oneof![4 => Just("\r\n"), 1 => Just("\n")],
        prop::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(method, path, query, version, headers, eol, after)| Req {
            method: method.to_string(),
            path: path.to_string(),
            query,
            version,
            headers,
            eol,
            after,
        })
}

/// A fixed clock, so replies compare byte for byte.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// Feeds `input` to `handle` in reads of `sizes`, as the listener does,
/// until it is not `Partial`; `None` if it never is.
fn handle_in_reads(input: &[u8], sizes: &[usize]) -> Option<(Outcome, usize)> {
    let mut buf = Vec::new();
    for read in split(input, sizes) {
        buf.extend_from_slice(read);
        match handle(&buf, now()) {
            Outcome::Partial => continue,
            o => return Some((o, buf.len())),
        }
    }
    None
}

/// An outcome with what may depend on how much was read blanked: a
/// malformed head is answered and closed whatever came after it.
fn normalized(o: Outcome) -> Outcome {
    match o {
        Outcome::Reply {
            reply, close: true, ..
        } => Outcome::Reply {
            reply,
            consumed: 0,
            close: true,
        },
        o => o,
    }
}

/// Mutations of a valid request: bytes replaced, inserted or removed.
fn mangled() -> impl Strategy<Value = Vec<u8>> {
    (
        request(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..4),
    )
        .prop_map(|(req, edits)| {
            let mut b = req.bytes();
            for (at, byte, kind) in edits {
                let i = at.index(b.len() + 1);
                match kind {
                    0 if i < b.len() => b[i] = byte,
                    1 => b.insert(i, byte),
                    _ if i < b.len() => {
                        b.remove(i);
                    }
                    _ => b.push(byte),
                }
            }
            b
        })
}

proptest! {
    #![proptest_config(cases(192))]

    /// A well-formed head parses to its parts (names lower-cased, order
    /// kept, the query apart), and is `Partial` until its last byte.
    #[test]
    fn heads_parse_to_their_parts(req in request()) {
        let head = req.head();
        let bytes = req.bytes();
        let want = Head {
            method: req.method.clone(),
            path: req.path.clone(),
            query: req.query.clone().unwrap_or_default(),
            version: req.version,
            headers: req
                .headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .collect(),
            len: head.len(),
        };
        prop_assert_eq!(parse_head(&bytes), Ok(Some(want)));
        for cut in 0..head.len() {
            prop_assert_eq!(parse_head(&head[..cut]), Ok(None), "cut at {}", cut);
        }
    }

    /// Any split of a valid request into reads gives the outcome of the
    /// whole request, as soon as the head is complete.
    #[test]
    fn any_split_of_a_request_gives_one_outcome(req in request(), sizes in reads()) {
        let bytes = req.bytes();
        let whole = handle(&bytes, now());
        prop_assert!(!matches!(whole, Outcome::Partial));
        let (got, read) = handle_in_reads(&bytes, &sizes).unwrap();
        prop_assert_eq!(&got, &whole);
        // Decided by the read that completed the head, not a later one.
        let head = req.head().len();
        prop_assert!(read >= head);
        prop_assert!(read - head < sizes.iter().copied().max().unwrap());
        match whole {
            Outcome::Reply { consumed, reply, .. } | Outcome::Upgrade { consumed, reply, .. } => {
                prop_assert_eq!(consumed, head);
                prop_assert!(reply.starts_with(b"HTTP/1.1 "));
            }
            Outcome::Partial => unreachable!(),
        }
    }

    /// Any bytes give an outcome without panicking; a reply consumes at
    /// least one byte and no more than there are; and reading them in
    /// pieces decides the same as reading them whole.
    #[test]
    fn any_bytes_give_an_outcome(
        input in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            mangled(),
        ],
        sizes in reads(),
    ) {
        let whole = handle(&input, now());
        match &whole {
            Outcome::Partial => {}
            Outcome::Reply { reply, consumed, .. } | Outcome::Upgrade { reply, consumed, .. } => {
                prop_assert!((1..=input.len()).contains(consumed), "consumed {}", consumed);
                prop_assert!(reply.starts_with(b"HTTP/1.1 "));
            }
        }
        let parts = handle_in_reads(&input, &sizes);
        match parts {
            None => prop_assert_eq!(whole, Outcome::Partial),
            Some((o, _)) => prop_assert_eq!(normalized(o), normalized(whole)),
        }
    }
}

proptest! {
    #![proptest_config(cases(16))]

    /// A head too large is refused with 431 whatever the reads, once more
    /// than the limit has arrived.
    #[test]
    fn oversized_heads_are_refused(
        extra in 1..2000usize,
        sizes in prop::collection::vec(1..=5000usize, 1..4),
    ) {
        let mut req = b"GET /relay HTTP/1.1\r\nx-pad: ".to_vec();
        req.resize(MAX_HEAD_LEN + extra, b'a');
        let (o, read) = handle_in_reads(&req, &sizes).unwrap();
        let Outcome::Reply { reply, close, .. } = o else {
            return Err(TestCaseError::fail(format!("{o:?}")));
        };
        prop_assert!(reply.starts_with(b"HTTP/1.1 431 "));
        prop_assert!(close);
        prop_assert!(read > MAX_HEAD_LEN);
    }
}

/// `s` as a client puts it in a query: unreserved bytes as they are,
/// spaces as `+` or `%20`, the rest as `%XX` in either case.
fn percent_encode(s: &str, upper: bool, plus: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b))
            }
            b' ' if plus => out.push('+'),
            _ if upper => out.push_str(&format!("%{b:02X}")),
            _ => out.push_str(&format!("%{b:02x}")),
        }
    }
    out
}

proptest! {
    #![proptest_config(cases(128))]

    /// A `token=` query parameter reads back as the client encoded it,
    /// among other parameters.
    #[test]
    fn query_tokens_percent_decode(
        tok in ".{0,20}",
        upper in any::<bool>(),
        plus in any::<bool>(),
        before in "([a-su-z]{1,5}=[a-z0-9%]{0,5}&){0,2}",
        after in "(&[a-z]{1,5}=[a-z0-9%]{0,5}){0,2}",
    ) {
        let q = format!("{before}token={}{after}", percent_encode(&tok, upper, plus));
        prop_assert_eq!(token::from_query(&q), Some(tok));
    }

    /// Any token value gives a token (lossy for bytes that are not UTF-8),
    /// never a panic, whatever escapes are cut short.
    #[test]
    fn any_query_token_decodes(v in prop_oneof!["[%0-9a-fA-F+]{0,12}", ".{0,24}"]) {
        let q = format!("token={v}");
        prop_assert!(token::from_query(&q).is_some());
    }

    /// A Bearer token in an `Authorization` header comes before the query.
    #[test]
    fn bearer_header_before_query(
        tok in "[!-~]{1,20}",
        scheme in any_case("bearer"),
        query in "[a-z0-9]{0,8}",
    ) {
        let req = format!(
            "GET /relay?token={query} HTTP/1.1\r\nAuthorization: Basic x\r\nAuthorization: {scheme} {tok}\r\n\r\n"
        );
        let head = parse_head(req.as_bytes()).unwrap().unwrap();
        prop_assert_eq!(token::of(&head), Some(tok));
    }
}
