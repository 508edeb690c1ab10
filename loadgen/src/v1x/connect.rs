//! Establishing one 1.x client: TCP connect, the websocket upgrade with
//! `Sec-WebSocket-Protocol`, the challenge (ServerChallenge, ClientAuth,
//! ServerConfirmsAuth), then a Ping until its Pong, as the iroh 1.x relay
//! actor does right after the handshake. The Pong also proves the server
//! has registered the client, which it does only after confirming.

use std::net::{Ipv4Addr, SocketAddr};

use ed25519_dalek::SigningKey;
use relay_proto::v1x::client::{decode_server, ServerMsg};
use relay_proto::v1x::handshake::client_auth;
use tokio::io::AsyncWriteExt;

use super::codec::{Codec, Masker};
use crate::connect::{read_more, socket_for, ConnectError};
use crate::protocol::Protocol;
use crate::upgrade;
use crate::wire::{Connected, Wire};

/// Where the handshake is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Challenge,
    Confirm,
    Pong,
    Done,
}

/// What one server frame does to the handshake.
fn on_frame(
    step: Step,
    ty: u64,
    payload: &[u8],
    secret: &SigningKey,
    ping: &[u8; 8],
    codec: &mut Masker,
    out: &mut Vec<u8>,
) -> Result<Step, String> {
    let msg = decode_server(ty, payload).map_err(|e| e.to_string())?;
    Ok(match (step, msg) {
        (Step::Challenge, ServerMsg::Challenge(c)) => {
            codec.raw(out, &client_auth(secret, &c));
            Step::Confirm
        }
        (Step::Challenge | Step::Confirm, ServerMsg::Confirmed) => {
            codec.ping(out, ping);
            Step::Pong
        }
        (_, ServerMsg::Denied(why)) => return Err(format!("server denied auth: {why}")),
        (Step::Pong, ServerMsg::Pong(d)) if d == *ping => Step::Done,
        (Step::Pong, ServerMsg::Ping(d)) => {
            codec.pong(out, &d);
            Step::Pong
        }
        (Step::Pong, ServerMsg::Health(t)) => {
            return Err(format!(
                "server health message: {}",
                String::from_utf8_lossy(t)
            ))
        }
        (Step::Pong, _) => Step::Pong,
        (s, m) => return Err(format!("unexpected {m:?} while waiting for {s:?}")),
    })
}

/// Runs the whole 1.x client handshake (no timeout here; the caller wraps it).
pub async fn establish(
    target: SocketAddr,
    src: Option<Ipv4Addr>,
    host: &str,
    protocol: Protocol,
    secret: &SigningKey,
    seed: u64,
) -> Result<Connected, ConnectError> {
    let sock = socket_for(target, src).map_err(ConnectError::Tcp)?;
    let mut stream = sock.connect(target).await.map_err(ConnectError::Tcp)?;
    // iroh clients set TCP_NODELAY.
    stream.set_nodelay(true).map_err(ConnectError::Io)?;
    let key = upgrade::ws_key();
    stream
        .write_all(&upgrade::request(protocol, host, &key))
        .await
        .map_err(ConnectError::Io)?;
    let mut buf = Vec::with_capacity(512);
    let head_len = loop {
        if read_more(&mut stream, &mut buf).await? == 0 {
            return Err(ConnectError::Http(
                "connection closed before the 101".into(),
            ));
        }
        match upgrade::check_response(&buf, protocol, &key) {
            Ok(Some(n)) => break n,
            Ok(None) => {}
            Err(e) => return Err(ConnectError::Http(e.to_string())),
        }
    };
    buf.drain(..head_len);

    let mut codec = Codec::new(seed);
    let ping = seed.to_le_bytes();
    let mut step = Step::Challenge;
    let mut out = Vec::new();
    loop {
        let mut failed = None;
        let drained = codec
            .drain(&mut buf, |c, ty, payload| {
                match on_frame(step, ty, payload, secret, &ping, c, &mut out) {
                    Ok(s) => step = s,
                    Err(e) => failed = Some(e),
                }
                failed.is_none() && step != Step::Done
            })
            .map_err(ConnectError::Handshake)?;
        buf.drain(..drained.consumed);
        if let Some(e) = failed {
            return Err(ConnectError::Handshake(e));
        }
        if step == Step::Done {
            return Ok(Connected {
                stream,
                wire: Wire::V1x(codec),
                partial: buf,
                out,
            });
        }
        if drained.closed {
            return Err(ConnectError::Handshake("websocket closed".into()));
        }
        // Replies (ClientAuth, the Ping, Pongs) go out before the next read.
        if !out.is_empty() {
            stream.write_all(&out).await.map_err(ConnectError::Io)?;
            out.clear();
        }
        if read_more(&mut stream, &mut buf).await? == 0 {
            return Err(ConnectError::Handshake(format!(
                "connection closed while waiting for {step:?}"
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_proto::handshake::Handshake;
    use relay_proto::v1x::{frame, Version};
    use relay_proto::ws::{Progress, Role, WsDecoder, WsItem};
    use relay_proto::Dialect;

    /// The (type, payload) of every message a client wrote, as the server reads them.
    fn server_reads(mut wire: Vec<u8>) -> Vec<(u64, Vec<u8>)> {
        let mut dec = WsDecoder::new(Role::Server);
        let (mut out, mut at) = (Vec::new(), 0);
        while at < wire.len() {
            let Ok(Progress::Item { item, consumed }) = dec.decode(&mut wire[at..]) else {
                panic!("incomplete or unmasked message");
            };
            if let WsItem::Binary(r) = item {
                let (ty, p) = frame::split_message(&wire[at + r.start..at + r.end]).unwrap();
                out.push((ty, p.to_vec()));
            }
            at += consumed;
        }
        out
    }

    /// Feeds the server's bytes through the client's codec, one step each.
    fn client_step(
        codec: &mut Codec,
        step: Step,
        server: Vec<u8>,
        sk: &SigningKey,
    ) -> (Step, Vec<u8>) {
        let (mut buf, mut out, mut next) = (server, Vec::new(), step);
        let ping = 7u64.to_le_bytes();
        codec
            .drain(&mut buf, |m, ty, p| {
                next = on_frame(next, ty, p, sk, &ping, m, &mut out).unwrap();
                true
            })
            .unwrap();
        (next, out)
    }

    #[test]
    fn challenge_handshake_against_the_server_side() {
        let sk = SigningKey::from_bytes(&[0x2a; 32]);
        let hs = Handshake::new(Dialect::V1x(Version::V2), [3; 16]);
        let mut codec = Codec::new(11);
        let (step, out) = client_step(&mut codec, Step::Challenge, hs.greeting().unwrap(), &sk);
        assert_eq!(step, Step::Confirm);
        let auth = server_reads(out);
        let verified = hs.on_frame(auth[0].0, &auth[0].1).unwrap();
        assert_eq!(verified.key, *sk.verifying_key().as_bytes());
        // Confirmed: the client pings, and the matching Pong completes it.
        let confirm = hs.confirm(&verified).unwrap().unwrap();
        let (step, out) = client_step(&mut codec, step, confirm, &sk);
        assert_eq!(step, Step::Pong);
        assert_eq!(server_reads(out), [(9, 7u64.to_le_bytes().to_vec())]);
        let mut pong = Vec::new();
        relay_proto::v1x::serve::encode(
            &mut pong,
            Version::V2,
            &relay_proto::ServerFrame::Pong(7u64.to_le_bytes()),
        );
        assert_eq!(client_step(&mut codec, step, pong, &sk).0, Step::Done);
    }

    #[test]
    fn denial_and_out_of_order_frames_fail() {
        let sk = SigningKey::from_bytes(&[1; 32]);
        let hs = Handshake::new(Dialect::V1x(Version::V1), [0; 16]);
        let mut m = Codec::new(1).enc;
        let mut out = Vec::new();
        let ping = [0; 8];
        let deny = hs.deny();
        let mut d = Codec::new(1);
        let mut buf = deny;
        let mut err = None;
        d.drain(&mut buf, |_, ty, p| {
            err = on_frame(Step::Confirm, ty, p, &sk, &ping, &mut m, &mut out).err();
            true
        })
        .unwrap();
        assert_eq!(err.as_deref(), Some("server denied auth: not authorized"));
        // A datagram before the challenge is not a handshake.
        let mut body = Vec::new();
        relay_proto::v1x::frame::write_datagram(
            &mut body,
            &[0; 32],
            &relay_proto::Datagram::plain(b"x"),
        );
        let (ty, p) = frame::split_message(&body).unwrap();
        assert!(on_frame(Step::Challenge, ty, p, &sk, &ping, &mut m, &mut out).is_err());
    }
}
