//! Which protocol a connection speaks, as one value: everything that
//! differs between the families is a method here, so the shard code has
//! one path for both. A new family adds a variant and a `proto/` module.

use super::datagram::{Datagram, Event, ServerFrame};
use super::key::NodeKey;
use super::v035::serve::{ServeError, MAX_PACKET_HEADER};
use super::v1x::{self, Version};
use super::{v035, Transport, KEY_LEN};

/// The protocol families; each has its own client registry, since their
/// frame numbers collide and their packets differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// iroh 0.35 (protocol version 3), derp stream or websocket.
    V035 = 0,
    /// iroh 1.x (`iroh-relay-v1`, `-v2`), websocket only.
    V1x = 1,
}

/// What happens to a key's older connection when it connects again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicates {
    /// Close it (0.35).
    CloseOld,
    /// Keep it open but inactive: it may send, it receives nothing, and it
    /// takes over when the newer one leaves (1.x, as 1.4.1).
    KeepInactive,
}

/// What the receive limit charges for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxCharge {
    /// Each frame's payload plus 5, on either transport (0.35's reference).
    FramePayload,
    /// Every byte read, websocket headers and masks included (1.4.1).
    WireBytes,
}

impl Family {
    /// Every family, in the order the metrics list them.
    /// Every family, in the order of their discriminants (tables indexed
    /// by family are `[T; Family::COUNT]`, indexed with `family as usize`).
    pub const ALL: [Family; Family::COUNT] = [Family::V035, Family::V1x];
    /// How many families there are.
    pub const COUNT: usize = 2;

    /// The value of the `family` metrics label.
    pub const fn label(self) -> &'static str {
        match self {
            Family::V035 => "0.35",
            Family::V1x => "1.x",
        }
    }

    /// What a second connection with the same key does to the first.
    pub const fn duplicates(self) -> Duplicates {
        match self {
            Family::V035 => Duplicates::CloseOld,
            Family::V1x => Duplicates::KeepInactive,
        }
    }

    /// What the receive limit counts.
    pub const fn rx_charge(self) -> RxCharge {
        match self {
            Family::V035 => RxCharge::FramePayload,
            Family::V1x => RxCharge::WireBytes,
        }
    }

    /// The receive limit's burst when the config gives only a rate: the
    /// rate (0.35), a tenth of it (1.x), as each reference has it.
    pub const fn default_burst(self, bytes_per_second: u32) -> u32 {
        match self {
            Family::V035 => bytes_per_second,
            Family::V1x => bytes_per_second / 10,
        }
    }
}

/// A connection's protocol: the family and its framing or version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// iroh 0.35 over the framing its upgrade chose.
    V035(Transport),
    /// iroh 1.x with the negotiated subprotocol version.
    V1x(Version),
}

/// For logs: `0.35 derp`, `0.35 websocket`, `1.x v1`, `1.x v2`.
impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (family, wire) = match self {
            Dialect::V035(Transport::Derp) => ("0.35", "derp"),
            Dialect::V035(Transport::Websocket) => ("0.35", "websocket"),
            Dialect::V1x(Version::V1) => ("1.x", "v1"),
            Dialect::V1x(Version::V2) => ("1.x", "v2"),
        };
        write!(f, "{family} {wire}")
    }
}

/// Why a client is closed after its handshake, in either family.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A 0.35 frame broke the protocol.
    #[error(transparent)]
    V035(#[from] ServeError),
    /// A 1.x frame broke the protocol.
    #[error(transparent)]
    V1x(#[from] v1x::frame::FrameError),
}

/// How the frame type is written at the start of a websocket message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeCoding {
    /// One byte (0.35).
    Byte,
    /// A QUIC varint, non-minimal forms accepted (1.x).
    Varint,
}

impl Dialect {
    /// Every dialect.
    pub const ALL: [Dialect; 4] = [
        Dialect::V035(Transport::Derp),
        Dialect::V035(Transport::Websocket),
        Dialect::V1x(Version::V1),
        Dialect::V1x(Version::V2),
    ];

    /// The family, which picks the client registry.
    pub fn family(self) -> Family {
        match self {
            Dialect::V035(_) => Family::V035,
            Dialect::V1x(_) => Family::V1x,
        }
    }

    /// Whether frames travel as websocket messages (all but the 0.35 derp
    /// framing).
    pub fn is_websocket(self) -> bool {
        !matches!(self, Dialect::V035(Transport::Derp))
    }

    /// How this dialect writes the frame type in a websocket message.
    pub fn type_coding(self) -> TypeCoding {
        match self {
            Dialect::V035(_) => TypeCoding::Byte,
            Dialect::V1x(_) => TypeCoding::Varint,
        }
    }

    /// What a client frame asks of the server.
    pub fn on_client_frame(self, ty: u64, payload: &[u8]) -> Result<Event<'_>, ProtocolError> {
        match self {
            Dialect::V035(_) => {
                // Stream and 0.35 websocket types are one byte.
                let ty = u8::try_from(ty).map_err(|_| {
                    ServeError::Frame(v035::frame::FrameError::UnknownType(u8::MAX))
                })?;
                Ok(v035::serve::on_frame(ty, payload)?)
            }
            Dialect::V1x(_) => Ok(v1x::serve::on_frame(ty, payload)?),
        }
    }

    /// Appends a server frame (nothing, for a frame this dialect lacks).
    pub fn encode(self, out: &mut Vec<u8>, frame: &ServerFrame<'_>) {
        match self {
            Dialect::V035(t) => v035::serve::encode(out, t, frame),
            Dialect::V1x(v) => v1x::serve::encode(out, v, frame),
        }
    }

    /// Appends a relayed packet from `src`.
    pub fn write_datagram(self, out: &mut Vec<u8>, src: &NodeKey, d: &Datagram<'_>) {
        match self {
            Dialect::V035(t) => v035::serve::write_packet(out, t, src, d.contents),
            Dialect::V1x(_) => v1x::serve::write_datagram(out, src, d),
        }
    }

    /// Most bytes a relayed packet of `len` bytes takes on the wire.
    pub const fn datagram_cost(len: usize) -> usize {
        let v1x = 10 + v1x::frame::DATAGRAM_OVERHEAD + 1;
        let v035 = MAX_PACKET_HEADER + KEY_LEN;
        (if v1x > v035 { v1x } else { v035 }) + len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_datagram_two_wires() {
        let d = Datagram::plain(b"hello");
        for dialect in [
            Dialect::V035(Transport::Derp),
            Dialect::V035(Transport::Websocket),
            Dialect::V1x(Version::V1),
            Dialect::V1x(Version::V2),
        ] {
            let mut out = Vec::new();
            dialect.write_datagram(&mut out, &[9; 32], &d);
            assert!(out.len() <= Dialect::datagram_cost(5), "{dialect:?}");
            assert!(out.ends_with(b"hello"));
        }
        assert!(Dialect::V035(Transport::Derp)
            .on_client_frame(300, &[])
            .is_err());
        assert_eq!(Dialect::V1x(Version::V2).family(), Family::V1x);
    }
}
