//! One connected client's framing, whichever family it speaks: relay-proto's
//! frame reader in client role and its client writer, and what each server
//! frame means to the run (a delivered packet, a Ping, a departed peer, a
//! reason to stop). Pongs to the server's Pings are written here.

use relay_proto::client_writer::ClientWriter;
use relay_proto::frame::decode;
use relay_proto::key::NodeKey;
use relay_proto::reader::{FrameReader, ReadError};
use relay_proto::v1x::client::{decode_server, ServerMsg};
use relay_proto::ws::Role;
use relay_proto::{Dialect, Family, Frame};

use crate::frames::{self, Drained};

/// The framing of one connection.
#[derive(Debug)]
pub struct Wire {
    reader: FrameReader,
    pub writer: ClientWriter,
}

/// A server frame, as the run sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound<'a> {
    Packet {
        src: &'a NodeKey,
        packet: &'a [u8],
    },
    /// A server Ping (the Pong is already queued).
    Ping([u8; 8]),
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
    /// `seed` seeds the websocket masks.
    pub fn new(dialect: Dialect, seed: u64) -> Self {
        Self {
            reader: FrameReader::new(dialect, Role::Client),
            writer: ClientWriter::new(dialect, seed),
        }
    }

    /// Appends a packet to `dst`.
    pub fn packet(&mut self, out: &mut Vec<u8>, dst: &NodeKey, packet: &[u8]) {
        self.writer.packet(out, dst, packet);
    }

    /// Calls `f(writer, type, payload)` for every complete frame at the
    /// start of `buf`; replies go through the writer. `f` returns `false`
    /// to stop after that frame.
    pub fn frames(
        &mut self,
        buf: &mut [u8],
        mut f: impl FnMut(&mut ClientWriter, u64, &[u8]) -> bool,
    ) -> Result<Drained, ReadError> {
        let writer = &mut self.writer;
        frames::drain(&mut self.reader, buf, |ty, payload| f(writer, ty, payload))
    }

    /// Calls `f` for every complete frame at the start of `buf`, appending
    /// Pongs for the server's Pings to `out`. `f` returns `false` to stop.
    pub fn drain(
        &mut self,
        buf: &mut [u8],
        out: &mut Vec<u8>,
        mut f: impl FnMut(Inbound<'_>) -> bool,
    ) -> Result<Drained, ReadError> {
        let family = self.writer.dialect().family();
        self.frames(buf, |writer, ty, payload| {
            let inbound = match family {
                Family::V035 => on_035(ty, payload),
                Family::V1x => on_1x(ty, payload),
            };
            if let Inbound::Ping(d) = inbound {
                writer.pong(out, &d);
            }
            f(inbound)
        })
    }
}

/// What a 0.35 server frame means to the run.
fn on_035(ty: u64, payload: &[u8]) -> Inbound<'_> {
    let Ok(ty) = u8::try_from(ty) else {
        return Inbound::Unexpected(format!("frame type {ty} is not a byte"));
    };
    match decode(ty, payload) {
        Ok(Frame::RecvPacket { src, packet }) => Inbound::Packet { src, packet },
        Ok(Frame::Ping(d)) => Inbound::Ping(d),
        Ok(Frame::Pong(_) | Frame::KeepAlive | Frame::Restarting { .. }) => Inbound::Quiet,
        Ok(Frame::PeerGone(_)) => Inbound::Gone,
        Ok(Frame::Health(t)) => Inbound::Health(t.to_string()),
        Ok(other) => Inbound::Unexpected(format!(
            "unexpected {:?} frame from the server",
            other.frame_type()
        )),
        Err(e) => Inbound::Unexpected(e.to_string()),
    }
}

/// What a 1.x server frame means to the run.
fn on_1x(ty: u64, payload: &[u8]) -> Inbound<'_> {
    match decode_server(ty, payload) {
        Ok(ServerMsg::Datagram { src, datagram }) => Inbound::Packet {
            src,
            packet: datagram.contents,
        },
        Ok(ServerMsg::Ping(d)) => Inbound::Ping(d),
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

#[cfg(test)]
mod tests {
    use super::*;
    use relay_proto::datagram::{Datagram, Event, ServerFrame, Status};
    use relay_proto::v1x::Version;
    use relay_proto::Transport;

    fn events(wire: &mut Wire, mut bytes: Vec<u8>) -> (Vec<String>, Vec<u8>) {
        let mut out = Vec::new();
        let mut seen = Vec::new();
        let drained = wire.drain(&mut bytes, &mut out, |i| {
            seen.push(format!("{i:?}"));
            true
        });
        assert_eq!(drained.map(|d| d.consumed), Ok(bytes.len()));
        (seen, out)
    }

    /// What the server makes of the client's replies.
    fn server_reads(dialect: Dialect, mut out: Vec<u8>) -> Vec<String> {
        let mut seen = Vec::new();
        let mut reader = FrameReader::server(dialect);
        let drained = frames::drain(&mut reader, &mut out, |ty, p| {
            seen.push(format!("{:?}", dialect.on_client_frame(ty, p)));
            true
        });
        assert!(drained.is_ok());
        seen
    }

    #[test]
    fn one_x_frames_mean_what_the_client_makes_of_them() {
        let k = [4u8; 32];
        let d = Dialect::V1x(Version::V2);
        let mut b = Vec::new();
        d.write_datagram(&mut b, &k, &Datagram::plain(b"hi"));
        for f in [
            ServerFrame::Ping([6; 8]),
            ServerFrame::Gone(&k),
            ServerFrame::Status(Status::RateLimited),
            ServerFrame::Status(Status::Healthy),
            ServerFrame::Status(Status::SameEndpointIdConnected),
        ] {
            d.encode(&mut b, &f);
        }
        let (seen, out) = events(&mut Wire::new(d, 5), b);
        assert_eq!(seen.len(), 6, "{seen:?}");
        assert!(seen[0].starts_with("Packet"));
        assert_eq!(
            &seen[1..5],
            ["Ping([6, 6, 6, 6, 6, 6, 6, 6])", "Gone", "Notice", "Quiet"]
        );
        assert!(seen[5].starts_with("Health"));
        // The Pong went out masked, with the Ping's data.
        assert_eq!(
            server_reads(d, out),
            [format!("{:?}", Ok::<_, ()>(Event::Pong([6; 8])))]
        );
    }

    #[test]
    fn zero_35_frames_too() {
        for t in [Transport::Derp, Transport::Websocket] {
            let d = Dialect::V035(t);
            let mut b = Vec::new();
            t.encode(&mut b, &Frame::Ping([1; 8]));
            t.encode(&mut b, &Frame::PeerGone(&[2; 32]));
            t.encode(&mut b, &Frame::Health("bye"));
            let (seen, out) = events(&mut Wire::new(d, 1), b);
            assert_eq!(
                seen,
                ["Ping([1, 1, 1, 1, 1, 1, 1, 1])", "Gone", "Health(\"bye\")"]
            );
            assert_eq!(
                server_reads(d, out),
                [format!("{:?}", Ok::<_, ()>(Event::Pong([1; 8])))]
            );
        }
    }

    #[test]
    fn frames_a_client_must_not_get_are_unexpected() {
        let d = Dialect::V035(Transport::Derp);
        let mut b = Vec::new();
        Transport::Derp.encode(&mut b, &Frame::NotePreferred(true));
        let (seen, _) = events(&mut Wire::new(d, 1), b);
        assert_eq!(
            seen,
            ["Unexpected(\"unexpected NotePreferred frame from the server\")"]
        );
    }
}
