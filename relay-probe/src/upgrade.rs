//! The probe client's upgrade request on `/relay`, as its protocol's
//! clients write it, and the server's answer in an operator's words.

use std::time::Instant;

use super::codec::Protocol;
use super::conn::{Conn, ConnWriter};
use super::net::{self, Failure, ReadError};
use super::options::Options;
use relay_proto::client_upgrade::{self, Upgrade, UpgradeError};

/// A 101: the bytes that came after its head, and the chosen subprotocol.
pub struct Switched {
    pub pending: Vec<u8>,
    pub protocol: Option<String>,
}

/// Sends the upgrade request and reads the 101.
pub fn upgrade(
    opts: &Options,
    conn: &mut Conn,
    writer: &ConnWriter,
    peer: &str,
    name: &str,
    deadline: Instant,
) -> Result<Switched, Failure> {
    let target = &opts.target;
    let key = client_upgrade::websocket_key();
    let token = opts.token.as_deref().map(|t| format!("Bearer {t}"));
    let (upgrade, path, extra) = match opts.protocol {
        // 0.35 clients dial /relay without the URL's query and send no token.
        Protocol::Derp => (Upgrade::Derp, "/relay".to_owned(), vec![]),
        Protocol::Ws => (
            Upgrade::Websocket {
                key: &key,
                protocols: None,
            },
            "/relay".to_owned(),
            vec![],
        ),
        Protocol::V2 | Protocol::V1 => (
            Upgrade::Websocket {
                key: &key,
                protocols: opts.protocol.version().map(|v| v.token()),
            },
            format!("/relay{}", target.query),
            token
                .as_deref()
                .map(|t| vec![("authorization", t)])
                .unwrap_or_default(),
        ),
    };
    let request = client_upgrade::request(upgrade, &target.host_header, &path, &extra);
    writer.write_all(&request).map_err(|e| {
        Failure::new(format!(
            "client {name}: cannot send the upgrade to {peer}: {e}"
        ))
    })?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let timeout = net::secs(opts.timeout);
    loop {
        match conn.read_some(&mut chunk, deadline) {
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(ReadError::Timeout) => {
                return Err(Failure::new(format!(
                    "{peer} accepted client {name}'s connection but did not answer the relay upgrade (GET /relay) within {timeout}"
                )))
            }
            Err(ReadError::Closed) => {
                return Err(Failure::new(format!(
                    "{peer} closed client {name}'s connection instead of answering the relay upgrade (GET /relay)"
                )))
            }
            Err(ReadError::Io(e)) => {
                return Err(Failure::new(format!(
                    "client {name}: reading the upgrade answer from {peer}: {e}"
                )))
            }
        }
        match client_upgrade::check_response(&buf, upgrade) {
            Ok(Some(s)) => {
                return Ok(Switched {
                    pending: buf.split_off(s.head_len),
                    protocol: s.protocol,
                })
            }
            Ok(None) => {}
            Err(e) => return Err(Failure::new(refusal(opts, peer, e))),
        }
    }
}

/// Why the relay did not switch protocols, in words.
fn refusal(opts: &Options, peer: &str, e: UpgradeError) -> String {
    let at = opts.target.authority();
    let asked = match opts.protocol {
        Protocol::Derp => "`Upgrade: iroh derp http`".to_owned(),
        Protocol::Ws => "a websocket upgrade without a subprotocol".to_owned(),
        p => format!(
            "`Sec-WebSocket-Protocol: {}`",
            p.version().map_or("", |v| v.token())
        ),
    };
    match e {
        UpgradeError::Status {
            status: 404,
            reason,
        } => format!(
            "HTTP server at {at} is not an iroh relay: /relay answered {}",
            status_text(404, &reason)
        ),
        UpgradeError::Status { status, reason } => format!(
            "HTTP server at {at} does not serve {}: /relay answered {} to {asked}",
            if opts.protocol.version().is_some() {
                "iroh 1.x clients"
            } else {
                "iroh 0.35 clients"
            },
            status_text(status, &reason)
        ),
        UpgradeError::Subprotocol { echoed: None, .. } => format!(
            "relay at {at} does not speak iroh 1.x: it switched protocols without \
             choosing {asked} (an iroh 0.35 relay answers so)"
        ),
        e @ UpgradeError::Subprotocol { .. } => format!("relay at {at} {e}"),
        e => format!("{peer} is not an iroh relay: the relay upgrade {e}"),
    }
}

/// `404 Not Found`, or `404` when the server sent no reason phrase.
fn status_text(status: u16, reason: &str) -> String {
    format!("{status} {reason}").trim_end().to_owned()
}
