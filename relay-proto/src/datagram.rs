//! What both protocol families have in common once a frame is decoded: the
//! packets they relay, what a client frame asks of the server, and the
//! frames the server sends.

use super::key::NodeKey;

/// A packet as relayed. 0.35 packets carry no ECN bits and no segment
/// size; 1.x ones may (a batch is a run of `segment`-byte datagrams).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// ECN codepoint, two bits.
    pub ecn: u8,
    /// GSO segment size (1.x batches): `contents` is a run of datagrams of
    /// this many bytes, the last possibly shorter. The relay does not check it.
    pub segment: Option<u16>,
    /// A 0.35 disco packet, decided once when it is read (the reference
    /// counts them apart); never set for 1.x.
    pub disco: bool,
    /// The bytes relayed, unchanged.
    pub contents: &'a [u8],
}

impl<'a> Datagram<'a> {
    /// A packet with no ECN, segment size or disco mark.
    pub fn plain(contents: &'a [u8]) -> Self {
        Self {
            ecn: 0,
            segment: None,
            disco: false,
            contents,
        }
    }
}

/// What a client frame asks of the server after the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// Relay `datagram` to `dst` (whose key the caller still validates).
    Forward {
        /// The destination's key as received.
        dst: &'a NodeKey,
        /// The packet to relay.
        datagram: Datagram<'a>,
    },
    /// A datagram the server drops without closing anyone: one whose
    /// forwarded copy the receiver would reject.
    Unforwardable,
    /// Answer with a Pong.
    Ping([u8; 8]),
    /// A client's answer to a server Ping, with its 8 bytes.
    Pong([u8; 8]),
    /// A valid frame the relay ignores.
    Ignored,
}

/// Connection status a 1.x server reports (v2: Status frames; v1: Health
/// texts, and nothing for RateLimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// The connection is healthy (again).
    Healthy = 0,
    /// Another connection took over this endpoint id: this one receives
    /// nothing more.
    SameEndpointIdConnected = 1,
    /// The client is over its receive rate limit: reading from it pauses.
    RateLimited = 2,
}

impl Status {
    /// The text a v1 client gets in a Health frame, as 1.4.1 words it.
    pub fn v1_text(self) -> Option<&'static str> {
        match self {
            Status::Healthy => Some("The connection is healthy and has recovered from previous problems"),
            Status::SameEndpointIdConnected => Some(
                "Another endpoint connected with the same endpoint id. No more messages will be received.",
            ),
            Status::RateLimited => None,
        }
    }
}

/// A control frame the server sends, in either family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerFrame<'a> {
    /// A liveness check: the client answers with a Pong of the same 8 bytes.
    Ping([u8; 8]),
    /// The answer to a client's Ping, echoing its 8 bytes.
    Pong([u8; 8]),
    /// The peer left: PeerGone (0.35) or EndpointGone (1.x).
    Gone(&'a NodeKey),
    /// 0.35 only: a text the client logs.
    Health(&'a str),
    /// 1.x only.
    Status(Status),
    /// The server is restarting: reconnect later.
    Restarting {
        /// How long the client should wait before reconnecting, in milliseconds.
        reconnect_in_ms: u32,
        /// How long it should keep trying, in milliseconds.
        try_for_ms: u32,
    },
}
