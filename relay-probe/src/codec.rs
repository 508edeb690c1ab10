//! The frames a probe client reads and writes, in each protocol it can
//! speak: iroh 0.35 over the derp upgrade or a websocket, iroh 1.x
//! (`iroh-relay-v2` / `-v1`) over a websocket. Bytes go through `proto`
//! for every frame; this only maps them to what the probe cares about.

use relay_proto::key::NodeKey;
use relay_proto::v1x::{self, client as v1x_client, frame as v1x_frame};
use relay_proto::ws::{self, Progress, Role, WsDecoder, WsItem};
use relay_proto::{frame as v035_frame, stream, v035, Frame};

/// What the probe's clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Protocol {
    /// iroh 0.35, `Upgrade: iroh derp http` (what Delta Chat clients use).
    #[default]
    Derp,
    /// iroh 0.35 over a websocket without a subprotocol.
    Ws,
    /// iroh 1.x, websocket with `Sec-WebSocket-Protocol: iroh-relay-v2`.
    V2,
    /// iroh 0.91-0.97, websocket with `Sec-WebSocket-Protocol: iroh-relay-v1`.
    V1,
}

impl Protocol {
    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Derp => "derp",
            Protocol::Ws => "ws",
            Protocol::V2 => "v2",
            Protocol::V1 => "v1",
        }
    }

    /// How reports describe the clients.
    pub fn describe(self) -> &'static str {
        match self {
            Protocol::Derp => "iroh 0.35 clients (derp upgrade)",
            Protocol::Ws => "iroh 0.35 clients (websocket)",
            Protocol::V2 => "iroh 1.x clients (iroh-relay-v2)",
            Protocol::V1 => "iroh 1.x clients (iroh-relay-v1)",
        }
    }

    /// The 1.x subprotocol version, `None` for 0.35.
    pub fn version(self) -> Option<v1x::Version> {
        match self {
            Protocol::V2 => Some(v1x::Version::V2),
            Protocol::V1 => Some(v1x::Version::V1),
            Protocol::Derp | Protocol::Ws => None,
        }
    }
}

/// A server frame, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Packet {
        src: NodeKey,
        data: Vec<u8>,
    },
    Ping([u8; 8]),
    Pong([u8; 8]),
    /// 0.35 Health (which ends the connection) or a 1.x v1 Health text.
    Health(String),
    Restarting {
        reconnect_in_ms: u32,
        try_for_ms: u32,
    },
    /// 1.x ServerChallenge.
    Challenge([u8; 16]),
    /// 1.x ServerConfirmsAuth.
    Confirmed,
    /// 1.x ServerDeniesAuth and its reason.
    Denied(String),
    /// Anything else a client may get (KeepAlive, PeerGone, Status…).
    Other,
}

/// A client frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbound<'a> {
    /// The 0.35 ClientInfo payload, or the whole 1.x ClientAuth body.
    Handshake(&'a [u8]),
    Packet {
        dst: &'a NodeKey,
        data: &'a [u8],
    },
    Ping([u8; 8]),
    Pong([u8; 8]),
}

/// Appends `msg` as this protocol's client sends it.
pub fn encode(protocol: Protocol, out: &mut Vec<u8>, msg: &Outbound<'_>) {
    let frame035 = || match *msg {
        Outbound::Handshake(info) => Frame::ClientInfo(info),
        Outbound::Packet { dst, data } => Frame::SendPacket { dst, packet: data },
        Outbound::Ping(d) => Frame::Ping(d),
        Outbound::Pong(d) => Frame::Pong(d),
    };
    match protocol {
        Protocol::Derp => stream::encode(out, &frame035()),
        Protocol::Ws => v035::message::encode_masked(out, &frame035(), rand::random()),
        Protocol::V2 | Protocol::V1 => {
            let mut body = Vec::new();
            match *msg {
                Outbound::Handshake(auth) => body.extend_from_slice(auth),
                Outbound::Packet { dst, data } => {
                    v1x_client::write_datagram(&mut body, dst, 0, data)
                }
                Outbound::Ping(d) => v1x_client::write_ping(&mut body, false, &d),
                Outbound::Pong(d) => v1x_client::write_ping(&mut body, true, &d),
            }
            let mask: [u8; 4] = rand::random();
            ws::write_header(out, body.len(), Some(mask));
            let start = out.len();
            out.extend_from_slice(&body);
            ws::apply_mask(&mut out[start..], mask);
        }
    }
}

/// Splits the server's bytes into frames.
#[derive(Debug)]
pub struct Decoder {
    protocol: Protocol,
    ws: WsDecoder,
}

impl Decoder {
    pub fn new(protocol: Protocol) -> Self {
        Decoder {
            protocol,
            ws: WsDecoder::new(Role::Client),
        }
    }

    /// The first frame in `buf` and the bytes it took; `Ok(None)`: more
    /// bytes needed. `Err` says what is wrong with the bytes.
    pub fn next(&mut self, buf: &mut [u8]) -> Result<Option<(Inbound, usize)>, String> {
        if self.protocol == Protocol::Derp {
            let Some(raw) = stream::next_frame(buf).map_err(|e| e.to_string())? else {
                return Ok(None);
            };
            let frame =
                v035_frame::decode(raw.ty, &buf[raw.start..raw.end]).map_err(|e| e.to_string())?;
            return Ok(Some((from_035(frame), raw.end)));
        }
        let mut used = 0;
        loop {
            let (item, consumed) = match self.ws.decode(&mut buf[used..]) {
                Ok(Progress::Need(_)) => return Ok(None),
                Ok(Progress::Item { item, consumed }) => (item, consumed),
                Err(e) => return Err(format!("websocket: {e}")),
            };
            let at = used;
            used += consumed;
            let inbound = match item {
                WsItem::Binary(r) => self.message(&buf[at + r.start..at + r.end])?,
                WsItem::Reassembled => {
                    let msg = self.ws.message().to_vec();
                    self.ws.clear_message();
                    self.message(&msg)?
                }
                WsItem::Close => return Err("the relay sent a websocket Close".to_owned()),
                WsItem::Ping(_) | WsItem::Ignored => continue,
            };
            return Ok(Some((inbound, used)));
        }
    }

    fn message(&self, msg: &[u8]) -> Result<Inbound, String> {
        if self.protocol == Protocol::Ws {
            let (ty, payload) = v035::message::split_message(msg).map_err(|e| e.to_string())?;
            let frame = v035_frame::decode(ty, payload).map_err(|e| e.to_string())?;
            return Ok(from_035(frame));
        }
        let (ty, payload) = v1x_frame::split_message(msg).map_err(|e| e.to_string())?;
        let msg = v1x_client::decode_server(ty, payload).map_err(|e| e.to_string())?;
        Ok(match msg {
            v1x_client::ServerMsg::Challenge(c) => Inbound::Challenge(c),
            v1x_client::ServerMsg::Confirmed => Inbound::Confirmed,
            v1x_client::ServerMsg::Denied(why) => Inbound::Denied(why),
            v1x_client::ServerMsg::Datagram { src, datagram } => Inbound::Packet {
                src: *src,
                data: datagram.contents.to_vec(),
            },
            v1x_client::ServerMsg::Ping(d) => Inbound::Ping(d),
            v1x_client::ServerMsg::Pong(d) => Inbound::Pong(d),
            v1x_client::ServerMsg::Health(t) => {
                Inbound::Health(String::from_utf8_lossy(t).into_owned())
            }
            v1x_client::ServerMsg::Restarting {
                reconnect_in_ms,
                try_for_ms,
            } => Inbound::Restarting {
                reconnect_in_ms,
                try_for_ms,
            },
            v1x_client::ServerMsg::Gone(_) | v1x_client::ServerMsg::Status(_) => Inbound::Other,
        })
    }
}

fn from_035(frame: Frame<'_>) -> Inbound {
    match frame {
        Frame::RecvPacket { src, packet } => Inbound::Packet {
            src: *src,
            data: packet.to_vec(),
        },
        Frame::Ping(d) => Inbound::Ping(d),
        Frame::Pong(d) => Inbound::Pong(d),
        Frame::Health(t) => Inbound::Health(t.to_owned()),
        Frame::Restarting {
            reconnect_in_ms,
            try_for_ms,
        } => Inbound::Restarting {
            reconnect_in_ms,
            try_for_ms,
        },
        _ => Inbound::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_proto::{ServerFrame, Transport};

    /// What a server writes for `frame` reaches a client of `protocol` as `want`.
    fn server_to_client(protocol: Protocol, wire: &mut [u8], want: Inbound) {
        let mut d = Decoder::new(protocol);
        for cut in 0..wire.len() {
            assert_eq!(d.next(&mut wire[..cut].to_vec()), Ok(None), "{protocol:?}");
        }
        let mut d = Decoder::new(protocol);
        assert_eq!(d.next(wire), Ok(Some((want, wire.len()))), "{protocol:?}");
    }

    #[test]
    fn restarting_in_every_protocol() {
        let want = Inbound::Restarting {
            reconnect_in_ms: 1000,
            try_for_ms: 30000,
        };
        let f = Frame::Restarting {
            reconnect_in_ms: 1000,
            try_for_ms: 30000,
        };
        for (p, t) in [
            (Protocol::Derp, Transport::Derp),
            (Protocol::Ws, Transport::Websocket),
        ] {
            let mut wire = Vec::new();
            t.encode(&mut wire, &f);
            server_to_client(p, &mut wire, want.clone());
        }
        for p in [Protocol::V2, Protocol::V1] {
            let mut wire = Vec::new();
            let restart = ServerFrame::Restarting {
                reconnect_in_ms: 1000,
                try_for_ms: 30000,
            };
            v1x::serve::encode(&mut wire, p.version().unwrap(), &restart);
            server_to_client(p, &mut wire, want.clone());
        }
    }

    #[test]
    fn client_frames_decode_on_the_server() {
        let dst = [7u8; 32];
        for p in [Protocol::Ws, Protocol::V2] {
            let mut wire = Vec::new();
            encode(
                p,
                &mut wire,
                &Outbound::Packet {
                    dst: &dst,
                    data: b"hi",
                },
            );
            let mut server = WsDecoder::new(Role::Server);
            let Ok(Progress::Item {
                item: WsItem::Binary(r),
                ..
            }) = server.decode(&mut wire)
            else {
                panic!("{p:?}: not one masked binary message");
            };
            let body = &wire[r];
            if p == Protocol::Ws {
                let (ty, payload) = v035::message::split_message(body).unwrap();
                assert_eq!(
                    v035_frame::decode(ty, payload),
                    Ok(Frame::SendPacket {
                        dst: &dst,
                        packet: b"hi"
                    })
                );
            } else {
                let (ty, payload) = v1x_frame::split_message(body).unwrap();
                let v1x_frame::ClientFrame::Datagram { dst: d, datagram } =
                    v1x_frame::decode_client(ty, payload).unwrap()
                else {
                    panic!("not a datagram");
                };
                assert_eq!((d, datagram.contents), (&dst, &b"hi"[..]));
            }
        }
    }
}
