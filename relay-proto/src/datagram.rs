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
    /// Bytes per datagram when `contents` is a batch of them (1.x GSO).
    pub segment: Option<u16>,
    /// A 0.35 disco packet, decided once when it is read (the reference
    /// counts them apart); never set for 1.x.
    pub disco: bool,
    /// The packet itself.
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
        dst: &'a NodeKey,
        datagram: Datagram<'a>,
    },
    /// A datagram the server drops without closing anyone: one whose
    /// forwarded copy the receiver would reject.
    Unforwardable,
    /// Answer with a Pong.
    Ping([u8; 8]),
    Pong([u8; 8]),
    /// A valid frame the relay ignores.
    Ignored,
}

/// Connection status a 1.x server reports (v2: Status frames; v1: Health
/// texts, and nothing for RateLimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    Healthy = 0,
    SameEndpointIdConnected = 1,
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
    Ping([u8; 8]),
    Pong([u8; 8]),
    /// The peer left: PeerGone (0.35) or EndpointGone (1.x).
    Gone(&'a NodeKey),
    /// 0.35 only: a text the client logs.
    Health(&'a str),
    /// 1.x only.
    Status(Status),
    Restarting {
        reconnect_in_ms: u32,
        try_for_ms: u32,
    },
}
