//! Writes the seed corpora (`fuzz/corpus/<target>/`) from the bytes real
//! clients send: iroh 0.35 and 1.x upgrade requests, the signed handshakes
//! of the test vectors, relay frames, STUN Binding requests and the
//! commands Delta Chat sends. Every whole-connection seed is checked to
//! get through its handshake. Run with `cargo run --example seeds` in
//! `fuzz/`.

use std::path::Path;

use relay_fuzz::proto::frame::Frame;
use relay_fuzz::proto::v1x::handshake::client_auth;
use relay_fuzz::proto::{client_info, stream, ws};
use relay_fuzz::session::Connection;
use relay_fuzz::{reads, signing_key, with_cuts, CHALLENGE};

/// The RFC 6455 example key, as the conformance tests send it.
const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn derp_upgrade(extra: &str) -> Vec<u8> {
    format!("GET /relay HTTP/1.1\r\nupgrade: iroh derp http\r\nhost: 127.0.0.1:3340\r\n{extra}\r\n")
        .into_bytes()
}

fn ws_upgrade(protocols: Option<&str>, extra: &str) -> Vec<u8> {
    let mut r = format!(
        "GET /relay HTTP/1.1\r\nHost: relay.example.com.\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    if let Some(p) = protocols {
        r.push_str(&format!("sec-websocket-protocol: {p}\r\n"));
    }
    r.push_str(extra);
    r.push_str("\r\n");
    r.into_bytes()
}

/// A masked binary websocket message, as a client sends it.
fn masked(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ws::write_header(&mut out, msg.len(), Some(MASK));
    let at = out.len();
    out.extend_from_slice(msg);
    ws::apply_mask(&mut out[at..], MASK);
    out
}

/// A masked websocket frame with any first byte (fragments, control).
fn masked_raw(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first, 0x80 | payload.len() as u8];
    out.extend_from_slice(&MASK);
    let at = out.len();
    out.extend_from_slice(payload);
    ws::apply_mask(&mut out[at..], MASK);
    out
}

fn key() -> [u8; 32] {
    signing_key().verifying_key().to_bytes()
}

fn derp_frames() -> Vec<Vec<u8>> {
    let k = key();
    let frames = [
        Frame::ClientInfo(&client_info::build(signing_key(), 3)),
        Frame::SendPacket {
            dst: &k,
            packet: b"Hello World!",
        },
        Frame::SendPacket {
            dst: &k,
            packet: b"TS\xf0\x9f\x92\xac disco packet of at least 38 bytes....",
        },
        Frame::Ping([0x2a; 8]),
        Frame::Pong([0x2a; 8]),
        Frame::KeepAlive,
        Frame::NotePreferred(true),
        Frame::PeerGone(&k),
        Frame::Health("Hello? Yes this is dog."),
        Frame::Restarting {
            reconnect_in_ms: 10,
            try_for_ms: 20,
        },
    ];
    frames
        .iter()
        .map(|f| {
            let mut out = Vec::new();
            stream::encode(&mut out, f);
            out
        })
        .collect()
}

/// 1.x client message bodies (PROTOCOL-1X.md §2.8).
fn v1x_messages() -> Vec<Vec<u8>> {
    let k = key();
    let mut datagram = vec![0x04];
    datagram.extend_from_slice(&k);
    datagram.push(0x03);
    datagram.extend_from_slice(b"Hello World!");
    let mut batch = vec![0x05];
    batch.extend_from_slice(&k);
    batch.extend_from_slice(&[0x03, 0x00, 0x06]);
    batch.extend_from_slice(b"Hello World!");
    let ping = [&[0x09][..], &[0x2a; 8]].concat();
    let pong = [&[0x0a][..], &[0x2a; 8]].concat();
    // A non-minimal type varint, as iroh 1.x accepts.
    let ping_long = [&[0x40, 0x09][..], &[5; 8]].concat();
    vec![datagram, batch, ping, pong, ping_long]
}

fn sessions() -> Vec<Vec<u8>> {
    let info = client_info::build(signing_key(), 3);
    let derp = derp_frames();
    let derp_session = [derp_upgrade(""), derp.concat()].concat();
    let derp_token = [
        derp_upgrade("authorization: Bearer deny\r\n"),
        derp[0].clone(),
    ]
    .concat();

    let ws035 = |frames: &[Frame<'_>]| -> Vec<u8> {
        let mut out = ws_upgrade(None, "");
        for f in frames {
            ws::encode_masked(&mut out, f, MASK);
        }
        out
    };
    let k = key();
    let ws_session = ws035(&[
        Frame::ClientInfo(&info),
        Frame::SendPacket {
            dst: &k,
            packet: b"Hello World!",
        },
        Frame::Ping([1; 8]),
    ]);

    let auth = client_auth(signing_key(), &CHALLENGE);
    let mut v1x = ws_upgrade(Some("iroh-relay-v2, iroh-relay-v1"), "");
    v1x.extend_from_slice(&masked(&auth));
    for m in v1x_messages() {
        v1x.extend_from_slice(&masked(&m));
    }
    // A fragmented ping, a websocket ping in between, then Close.
    let ping = [&[0x09][..], &[7; 8]].concat();
    v1x.extend_from_slice(&masked_raw(0x02, &ping[..3]));
    v1x.extend_from_slice(&masked_raw(0x89, b"hi"));
    v1x.extend_from_slice(&masked_raw(0x80, &ping[3..]));
    v1x.extend_from_slice(&masked_raw(0x88, &[0x03, 0xe8]));
    let v1 = [
        ws_upgrade(Some("iroh-relay-v1"), "authorization: Bearer t0ken\r\n"),
        masked(&auth),
        masked(&v1x_messages()[2]),
    ]
    .concat();
    // Plain requests first, then the upgrade on the same connection.
    let pipelined = [
        b"GET /generate_204 HTTP/1.1\r\nHost: x\r\nX-Tailscale-Challenge: ts_abc\r\n\r\n".to_vec(),
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        derp_session.clone(),
    ]
    .concat();

    let mut out = Vec::new();
    for (s, must_relay) in [
        (derp_session, true),
        (derp_token, false),
        (ws_session, true),
        (v1x, true),
        (v1, true),
        (pipelined, true),
    ] {
        for cuts in [vec![], vec![1], vec![40, 3, 120, 7, 1000]] {
            let seed = cut(&s, &cuts);
            let mut session = Connection::new();
            for r in reads(&seed) {
                session.feed(r);
            }
            if must_relay {
                assert!(session.frames > 0, "a seed stopped early: {session:?}");
            } else {
                assert!(session.is_closed());
            }
            out.push(seed);
        }
    }
    out
}

/// `stream` as reads of the given lengths, then the rest.
fn cut(stream: &[u8], lengths: &[usize]) -> Vec<u8> {
    let mut parts = Vec::new();
    let mut rest = stream;
    for &n in lengths {
        let (a, b) = rest.split_at(n.min(rest.len()));
        parts.push(a);
        rest = b;
    }
    parts.push(rest);
    with_cuts(&parts)
}

fn http_requests() -> Vec<Vec<u8>> {
    let mut out = vec![
        derp_upgrade(""),
        ws_upgrade(None, ""),
        ws_upgrade(Some("iroh-relay-v2, iroh-relay-v1"), ""),
        ws_upgrade(Some("iroh-relay-v1"), "authorization: Bearer secret\r\n"),
        b"GET /relay?token=abc HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-protocol: iroh-relay-v3\r\n\r\n"
            .to_vec(),
        b"GET /derp HTTP/1.1\r\nUpgrade: websocket\r\nsec-websocket-protocol: iroh-relay-v2\r\n\r\n"
            .to_vec(),
    ];
    for path in [
        "/",
        "/index.html",
        "/robots.txt",
        "/ping",
        "/healthz",
        "/nope",
    ] {
        out.push(format!("GET {path} HTTP/1.1\r\nHost: relay.example.org\r\n\r\n").into_bytes());
    }
    out.push(
        b"GET /generate_204 HTTP/1.1\r\nHost: x\r\nX-Tailscale-Challenge: ts_abc\r\n\
          X-Iroh-Challenge: iroh-1.2\r\n\r\n"
            .to_vec(),
    );
    out.push(b"HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".to_vec());
    out.push(b"POST /relay HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec());
    out
}

fn websocket_streams() -> Vec<Vec<u8>> {
    let mut ping = Vec::new();
    ws::encode_masked(&mut ping, &Frame::Ping([5; 8]), MASK);
    let long = masked(&vec![0x04; 300]);
    let fragments = [
        masked_raw(0x02, &[12, 1, 2, 3]),
        masked_raw(0x89, b"hi"),
        masked_raw(0x80, &[4, 5, 6, 7, 8]),
        masked_raw(0x81, b"text"),
        masked_raw(0x01, b"te"),
        masked_raw(0x80, b"xt"),
        masked_raw(0x8a, b""),
        masked_raw(0x88, &[3, 232]),
    ]
    .concat();
    let mut unmasked = Vec::new();
    ws::encode(&mut unmasked, &Frame::KeepAlive);
    let mut out = Vec::new();
    for mode in [0u8, 2, 4] {
        for s in [&ping, &long, &fragments] {
            out.push([&[mode][..], &cut(s, &[3, 9])].concat());
        }
    }
    out.push([&[1u8][..], &cut(&unmasked, &[])].concat());
    out
}

fn stun_requests() -> Vec<Vec<u8>> {
    let tx = [7u8; 12];
    let mut plain = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    plain.extend_from_slice(&tx);
    let mut iroh = plain.clone();
    iroh[3] = 8;
    let crc = crc32fast::hash(&iroh) ^ 0x5354_554e;
    iroh.extend_from_slice(&[0x80, 0x28, 0x00, 0x04]);
    iroh.extend_from_slice(&crc.to_be_bytes());
    // SOFTWARE before FINGERPRINT (padded), as other clients send.
    let mut sw = plain.clone();
    sw[3] = 8 + 12;
    sw.extend_from_slice(&[0x80, 0x22, 0x00, 0x05]);
    sw.extend_from_slice(b"iroh\0\0\0\0");
    let crc = crc32fast::hash(&sw) ^ 0x5354_554e;
    sw.extend_from_slice(&[0x80, 0x28, 0x00, 0x04]);
    sw.extend_from_slice(&crc.to_be_bytes());
    vec![plain, iroh, sw]
}

fn imap_commands() -> Vec<&'static [u8]> {
    vec![
        b"A0005 GETMETADATA \"\" (/shared/comment /shared/admin /shared/vendor/deltachat/irohrelay \
          /shared/vendor/deltachat/turn /shared/vendor/deltachat/maxsmtprecipients \
          /shared/vendor/deltachat/appversions)\r\n",
        b"a GETMETADATA \"\" /shared/vendor/deltachat/irohrelay\r\n",
        b"a GETMETADATA {0}\r\n (\"/shared/admin\" {15+}\r\n/shared/comment)\r\n",
        b"a GETMETADATA (MAXSIZE 1024 DEPTH infinity) \"\" (/shared)\r\n",
        b"a GETMETADATA (depth 1) \"\" /shared/vendor\r\n",
        b"a GETMETADATA INBOX /private/comment\r\n",
        b"a SETMETADATA \"\" (/shared/comment \"hello\")\r\n",
        b"a SETMETADATA INBOX (/private/comment {5}\r\nhello)\r\n",
        b"a1 LOGIN {4}\r\nuser pass\r\n",
        b"a2 CAPABILITY\r\n",
        b"a3 ID (\"name\" \"Delta Chat\" \"version\" NIL)\r\n",
        b"a4 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n",
        b"a5 NOOP\r\na6 LOGOUT\r\n",
        b"a7 STARTTLS\r\n",
    ]
}

fn write(dir: &Path, target: &str, seeds: &[Vec<u8>]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).unwrap();
    for (i, s) in seeds.iter().enumerate() {
        std::fs::write(d.join(format!("seed-{i:02}")), s).unwrap();
    }
    println!("{target}: {} seeds", seeds.len());
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let derp = derp_frames();
    let derp_seeds: Vec<Vec<u8>> = derp
        .iter()
        .map(|f| cut(f, &[]))
        .chain([cut(&derp.concat(), &[3, 100, 2, 30])])
        .collect();
    write(&dir, "derp_stream", &derp_seeds);
    write(&dir, "websocket", &websocket_streams());
    write(&dir, "http_head", &http_requests());
    let info = client_info::build(signing_key(), 3);
    write(
        &dir,
        "client_info",
        &[[&[0][..], &info].concat(), vec![1, 3], vec![1, 2], vec![1]],
    );
    write(&dir, "stun", &stun_requests());
    let cmds = imap_commands();
    let decoder: Vec<Vec<u8>> = cmds
        .iter()
        .map(|c| [&[0, 0][..], &cut(c, &[5, 11])].concat())
        .chain([[&[1, 0x41][..], &cut(&cmds.concat(), &[])].concat()])
        .collect();
    write(&dir, "imap_decoder", &decoder);
    write(
        &dir,
        "imap_parse",
        &cmds.iter().map(|c| c.to_vec()).collect::<Vec<_>>(),
    );
    let v1x: Vec<Vec<u8>> = v1x_messages()
        .into_iter()
        .flat_map(|m| [[&[0][..], &m].concat(), [&[1][..], &m].concat()])
        .collect();
    write(&dir, "v1x_frames", &v1x);
    let auth = client_auth(signing_key(), &CHALLENGE);
    // Odd modes keep the first (mode >> 1) bytes of a valid ClientAuth.
    let whole = (auth.len() as u8) << 1 | 1;
    write(
        &dir,
        "v1x_handshake",
        &[
            [&[0][..], &auth].concat(),
            vec![whole],
            vec![whole | 2],
            vec![(33 << 1) | 1, 0x40],
        ],
    );
    write(&dir, "connection", &sessions());
}
