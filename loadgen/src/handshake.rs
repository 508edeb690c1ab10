//! A client's handshake after the upgrade, sans-IO, in either family: the
//! 0.35 client speaks first (ClientInfo, then a Ping); the 1.x server does
//! (ServerChallenge, answered with a signed ClientAuth, then
//! ServerConfirmsAuth and the client's Ping). Either way the Pong to that
//! Ping marks the client connected, as iroh's clients treat it (for 1.x
//! it also proves the server has registered the client).

use ed25519_dalek::SigningKey;
use relay_proto::client_writer::ClientWriter;
use relay_proto::frame::decode;
use relay_proto::v1x::client::{decode_server, ServerMsg};
use relay_proto::v1x::handshake::client_auth;
use relay_proto::{Dialect, Frame};

/// What a client proves its key with.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    /// The signed 0.35 ClientInfo payload (made before connecting, so
    /// connect times measure the server).
    pub client_info: &'a [u8],
    /// The secret key, which signs the 1.x server's challenge.
    pub secret: &'a SigningKey,
}

/// Where the handshake is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// 1.x: the ServerChallenge.
    Challenge,
    /// 1.x: ServerConfirmsAuth.
    Confirm,
    /// The Pong to the client's Ping.
    Pong,
    Done,
}

/// One client's handshake.
pub struct Handshake<'a> {
    dialect: Dialect,
    creds: Credentials<'a>,
    ping: [u8; 8],
    step: Step,
}

impl<'a> Handshake<'a> {
    /// `ping` is the data of the client's Ping.
    pub fn new(dialect: Dialect, creds: Credentials<'a>, ping: [u8; 8]) -> Self {
        let step = match dialect {
            Dialect::V035(_) => Step::Pong,
            Dialect::V1x(_) => Step::Challenge,
        };
        Self {
            dialect,
            creds,
            ping,
            step,
        }
    }

    pub fn step(&self) -> Step {
        self.step
    }

    /// What the client writes before reading anything (0.35: ClientInfo
    /// and the Ping; 1.x: nothing).
    pub fn start(&self, w: &mut ClientWriter, out: &mut Vec<u8>) {
        if let Dialect::V035(_) = self.dialect {
            w.client_info(out, self.creds.client_info);
            w.ping(out, &self.ping);
        }
    }

    /// Takes one server frame; replies go to `out`.
    pub fn on_frame(
        &mut self,
        ty: u64,
        payload: &[u8],
        w: &mut ClientWriter,
        out: &mut Vec<u8>,
    ) -> Result<Step, String> {
        self.step = match self.dialect {
            Dialect::V035(_) => self.on_035(ty, payload, w, out)?,
            Dialect::V1x(_) => self.on_1x(ty, payload, w, out)?,
        };
        Ok(self.step)
    }

    fn on_035(
        &self,
        ty: u64,
        payload: &[u8],
        w: &mut ClientWriter,
        out: &mut Vec<u8>,
    ) -> Result<Step, String> {
        let ty = u8::try_from(ty).map_err(|_| format!("frame type {ty} is not a byte"))?;
        match decode(ty, payload).map_err(|e| e.to_string())? {
            Frame::Pong(d) if d == self.ping => Ok(Step::Done),
            Frame::Ping(d) => {
                w.pong(out, &d);
                Ok(Step::Pong)
            }
            Frame::Health(t) => Err(format!("server health message: {t}")),
            _ => Ok(Step::Pong),
        }
    }

    fn on_1x(
        &self,
        ty: u64,
        payload: &[u8],
        w: &mut ClientWriter,
        out: &mut Vec<u8>,
    ) -> Result<Step, String> {
        let msg = decode_server(ty, payload).map_err(|e| e.to_string())?;
        Ok(match (self.step, msg) {
            (Step::Challenge, ServerMsg::Challenge(c)) => {
                w.client_auth(out, &client_auth(self.creds.secret, &c));
                Step::Confirm
            }
            (Step::Challenge | Step::Confirm, ServerMsg::Confirmed) => {
                w.ping(out, &self.ping);
                Step::Pong
            }
            (_, ServerMsg::Denied(why)) => return Err(format!("server denied auth: {why}")),
            (Step::Pong, ServerMsg::Pong(d)) if d == self.ping => Step::Done,
            (Step::Pong, ServerMsg::Ping(d)) => {
                w.pong(out, &d);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_proto::handshake::Handshake as ServerHandshake;
    use relay_proto::reader::FrameReader;
    use relay_proto::v1x::Version;
    use relay_proto::{client_info, ServerFrame, Transport};

    use crate::frames;

    /// (type, payload) of every frame the client wrote, as the server reads them.
    fn server_reads(dialect: Dialect, mut wire: Vec<u8>) -> Vec<(u64, Vec<u8>)> {
        let mut got = Vec::new();
        let r = frames::drain(&mut FrameReader::server(dialect), &mut wire, |ty, p| {
            got.push((ty, p.to_vec()));
            true
        });
        assert_eq!(r.map(|d| d.consumed), Ok(wire.len()));
        got
    }

    /// Feeds the server's bytes to the client; its step and replies.
    fn client_takes(
        hs: &mut Handshake<'_>,
        w: &mut ClientWriter,
        mut server: Vec<u8>,
    ) -> Result<(Step, Vec<u8>), String> {
        let mut reader = FrameReader::new(w.dialect(), relay_proto::ws::Role::Client);
        let mut out = Vec::new();
        let mut res = Ok(hs.step());
        frames::drain(&mut reader, &mut server, |ty, p| {
            res = hs.on_frame(ty, p, w, &mut out);
            res.is_ok()
        })
        .map_err(|e| e.to_string())?;
        res.map(|s| (s, out))
    }

    #[test]
    fn zero_35_client_speaks_first() {
        let sk = SigningKey::from_bytes(&[0x2a; 32]);
        let info = client_info::build(&sk, client_info::PROTOCOL_VERSION);
        let creds = Credentials {
            client_info: &info,
            secret: &sk,
        };
        for t in [Transport::Derp, Transport::Websocket] {
            let d = Dialect::V035(t);
            let mut w = ClientWriter::new(d, 3);
            let mut hs = Handshake::new(d, creds, [7; 8]);
            let mut out = Vec::new();
            hs.start(&mut w, &mut out);
            let got = server_reads(d, out);
            let server = ServerHandshake::new(d, [0; 16]);
            let verified = server.on_frame(got[0].0, &got[0].1).map(|v| v.key);
            assert_eq!(verified, Ok(*sk.verifying_key().as_bytes()));
            assert_eq!(got[1], (12, vec![7; 8]));
            // A server Ping is answered; the matching Pong completes it.
            let mut b = Vec::new();
            d.encode(&mut b, &ServerFrame::Ping([1; 8]));
            d.encode(&mut b, &ServerFrame::Pong([7; 8]));
            let (step, out) = client_takes(&mut hs, &mut w, b).unwrap();
            assert_eq!(step, Step::Done);
            assert_eq!(server_reads(d, out), [(13, vec![1; 8])]);
        }
    }

    #[test]
    fn one_x_challenge_against_the_server_side() {
        let sk = SigningKey::from_bytes(&[0x2a; 32]);
        let d = Dialect::V1x(Version::V2);
        let creds = Credentials {
            client_info: &[],
            secret: &sk,
        };
        let server = ServerHandshake::new(d, [3; 16]);
        let mut w = ClientWriter::new(d, 11);
        let mut hs = Handshake::new(d, creds, [7; 8]);
        let mut out = Vec::new();
        hs.start(&mut w, &mut out);
        assert!(out.is_empty(), "the server speaks first");
        let greeting = server.greeting().unwrap_or_default();
        let (step, out) = client_takes(&mut hs, &mut w, greeting).unwrap();
        assert_eq!(step, Step::Confirm);
        let auth = server_reads(d, out);
        let verified = server.on_frame(auth[0].0, &auth[0].1).unwrap();
        assert_eq!(verified.key, *sk.verifying_key().as_bytes());
        // Confirmed: the client pings, and the matching Pong completes it.
        let confirm = server.confirm(&verified).unwrap().unwrap_or_default();
        let (step, out) = client_takes(&mut hs, &mut w, confirm).unwrap();
        assert_eq!(step, Step::Pong);
        assert_eq!(server_reads(d, out), [(9, vec![7; 8])]);
        let mut pong = Vec::new();
        d.encode(&mut pong, &ServerFrame::Pong([7; 8]));
        assert_eq!(
            client_takes(&mut hs, &mut w, pong).map(|r| r.0),
            Ok(Step::Done)
        );
    }

    #[test]
    fn denial_health_and_out_of_order_frames_fail() {
        let sk = SigningKey::from_bytes(&[1; 32]);
        let creds = Credentials {
            client_info: &[],
            secret: &sk,
        };
        let d = Dialect::V1x(Version::V1);
        let mut w = ClientWriter::new(d, 1);
        let deny = ServerHandshake::new(d, [0; 16]).deny();
        let mut hs = Handshake::new(d, creds, [0; 8]);
        let err = client_takes(&mut hs, &mut w, deny).unwrap_err();
        assert_eq!(err, "server denied auth: not authorized");
        // A datagram before the challenge is not a handshake.
        let mut b = Vec::new();
        d.write_datagram(&mut b, &[0; 32], &relay_proto::Datagram::plain(b"x"));
        let mut hs = Handshake::new(d, creds, [0; 8]);
        assert!(client_takes(&mut hs, &mut w, b).is_err());
        // 0.35: a Health frame instead of the Pong.
        let d = Dialect::V035(Transport::Derp);
        let mut w = ClientWriter::new(d, 1);
        let mut hs = Handshake::new(d, creds, [0; 8]);
        let err = client_takes(&mut hs, &mut w, ServerHandshake::new(d, [0; 16]).deny());
        assert_eq!(err.unwrap_err(), "server health message: not authenticated");
    }
}
