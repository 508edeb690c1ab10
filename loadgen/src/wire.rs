//! One connected client's protocol, whichever family it speaks: packets
//! out, Pongs to the server's Pings, and what each server frame means to
//! the run (a delivered packet, a Ping, a departed peer, a reason to stop).

use relay_proto::frame::decode;
use relay_proto::key::NodeKey;
use relay_proto::v1x::client::{decode_server, ServerMsg};
use relay_proto::v1x::frame::FrameError;
use relay_proto::Frame;
use tokio::net::TcpStream;

use crate::codec::{Decoder, Drained, Encoder};
use crate::connect::Established;
use crate::v1x::codec::Codec;

/// The framing of one connection.
#[derive(Debug)]
pub enum Wire {
    V035 { dec: Decoder, enc: Encoder },
    V1x(Codec),
}

/// A server frame, as the run sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound<'a> {
    Packet {
        src: &'a NodeKey,
        packet: &'a [u8],
    },
    /// A server Ping (the Pong is already queued).
    Ping,
    /// The peer left (PeerGone / EndpointGone).
    Gone,
    /// A notice that does not end the connection (1.x Status RateLimited).
    Notice,
    /// Nothing for the run (Pong, KeepAlive, Restarting, Status Healthy).
    Quiet,
    /// The server says something is wrong (0.35 Health, 1.x Health or a
    /// displacing Status): the client stops.
    Health(String),
    /// A frame a client must not get, or one that does not decode.
    Unexpected(String),
}

impl Wire {
    /// Appends a packet to `dst`.
    pub fn packet(&mut self, out: &mut Vec<u8>, dst: &NodeKey, packet: &[u8]) {
        match self {
            Wire::V035 { enc, .. } => enc.encode(out, &Frame::SendPacket { dst, packet }),
            Wire::V1x(c) => c.enc.datagram(out, dst, packet),
        }
    }

    /// Calls `f` for every complete frame at the start of `buf`, appending
    /// Pongs for the server's Pings to `out`. `f` returns `false` to stop.
    pub fn drain(
        &mut self,
        buf: &mut [u8],
        out: &mut Vec<u8>,
        mut f: impl FnMut(Inbound<'_>) -> bool,
    ) -> Result<Drained, String> {
        match self {
            Wire::V035 { dec, enc } => dec
                .drain(buf, |ty, payload| {
                    f(match decode(ty, payload) {
                        Ok(Frame::RecvPacket { src, packet }) => Inbound::Packet { src, packet },
                        Ok(Frame::Ping(d)) => {
                            enc.encode(out, &Frame::Pong(d));
                            Inbound::Ping
                        }
                        Ok(Frame::Pong(_) | Frame::KeepAlive | Frame::Restarting { .. }) => {
                            Inbound::Quiet
                        }
                        Ok(Frame::PeerGone(_)) => Inbound::Gone,
                        Ok(Frame::Health(t)) => Inbound::Health(t.to_string()),
                        Ok(other) => Inbound::Unexpected(format!(
                            "unexpected {:?} frame from the server",
                            other.frame_type()
                        )),
                        Err(e) => Inbound::Unexpected(e.to_string()),
                    })
                })
                .map_err(|e| e.to_string()),
            Wire::V1x(c) => c.drain(buf, |enc, ty, payload| {
                let msg = decode_server(ty, payload);
                if let Ok(ServerMsg::Ping(d)) = msg {
                    enc.pong(out, &d);
                }
                f(on_1x(msg))
            }),
        }
    }
}

/// What a 1.x server frame means to the run.
fn on_1x(msg: Result<ServerMsg<'_>, FrameError>) -> Inbound<'_> {
    match msg {
        Ok(ServerMsg::Datagram { src, datagram }) => Inbound::Packet {
            src,
            packet: datagram.contents,
        },
        Ok(ServerMsg::Ping(_)) => Inbound::Ping,
        Ok(ServerMsg::Gone(_)) => Inbound::Gone,
        Ok(ServerMsg::Pong(_) | ServerMsg::Restarting { .. } | ServerMsg::Status(0)) => {
            Inbound::Quiet
        }
        Ok(ServerMsg::Status(2)) => Inbound::Notice,
        Ok(ServerMsg::Status(s)) => Inbound::Health(format!("status {s}")),
        Ok(ServerMsg::Health(t)) => Inbound::Health(String::from_utf8_lossy(t).into_owned()),
        Ok(other) => Inbound::Unexpected(format!("unexpected {other:?} after the handshake")),
        Err(e) => Inbound::Unexpected(e.to_string()),
    }
}

/// A client that finished its handshake, in either family.
pub struct Connected {
    pub stream: TcpStream,
    pub wire: Wire,
    /// Bytes read past the handshake (start of the next frame).
    pub partial: Vec<u8>,
    /// Replies owed to the server not yet written.
    pub out: Vec<u8>,
}

impl From<Established> for Connected {
    fn from(e: Established) -> Self {
        Self {
            stream: e.stream,
            wire: Wire::V035 {
                dec: e.dec,
                enc: e.enc,
            },
            partial: e.partial,
            out: e.out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relay_proto::datagram::{Datagram, ServerFrame, Status};
    use relay_proto::v1x::{serve, Version};

    fn events(wire: &mut Wire, mut bytes: Vec<u8>) -> (Vec<String>, Vec<u8>) {
        let mut out = Vec::new();
        let mut seen = Vec::new();
        wire.drain(&mut bytes, &mut out, |i| {
            seen.push(format!("{i:?}"));
            true
        })
        .unwrap();
        (seen, out)
    }

    #[test]
    fn one_x_frames_mean_what_the_client_makes_of_them() {
        let k = [4u8; 32];
        let mut b = Vec::new();
        serve::write_datagram(&mut b, &k, &Datagram::plain(b"hi"));
        serve::encode(&mut b, Version::V2, &ServerFrame::Ping([6; 8]));
        serve::encode(&mut b, Version::V2, &ServerFrame::Gone(&k));
        serve::encode(
            &mut b,
            Version::V2,
            &ServerFrame::Status(Status::RateLimited),
        );
        serve::encode(&mut b, Version::V2, &ServerFrame::Status(Status::Healthy));
        serve::encode(
            &mut b,
            Version::V2,
            &ServerFrame::Status(Status::SameEndpointIdConnected),
        );
        let mut w = Wire::V1x(Codec::new(5));
        let (seen, out) = events(&mut w, b);
        assert_eq!(seen.len(), 6, "{seen:?}");
        assert!(seen[0].starts_with("Packet"));
        assert_eq!(&seen[1..5], ["Ping", "Gone", "Notice", "Quiet"]);
        assert!(seen[5].starts_with("Health"));
        // The Pong went out masked, with the Ping's data.
        let mut server = relay_proto::ws::WsDecoder::new(relay_proto::ws::Role::Server);
        let mut out = out;
        let Ok(relay_proto::ws::Progress::Item {
            item: relay_proto::ws::WsItem::Binary(r),
            ..
        }) = server.decode(&mut out)
        else {
            panic!("no pong");
        };
        assert_eq!(&out[r], &[[10u8].as_slice(), &[6; 8]].concat()[..]);
    }

    #[test]
    fn zero_35_frames_too() {
        let mut b = Vec::new();
        relay_proto::Transport::Derp.encode(&mut b, &Frame::Ping([1; 8]));
        relay_proto::Transport::Derp.encode(&mut b, &Frame::Health("bye"));
        let mut w = Wire::V035 {
            dec: Decoder::new(relay_proto::Transport::Derp, relay_proto::ws::Role::Client),
            enc: Encoder::new(relay_proto::Transport::Derp, 1),
        };
        let (seen, out) = events(&mut w, b);
        assert_eq!(seen, ["Ping", "Health(\"bye\")"]);
        assert_eq!(out[0], 13, "a Pong frame");
    }
}
