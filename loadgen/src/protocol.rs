//! Which client a loadgen client is: the upgrade it asks for and the
//! frames it speaks afterwards.

use clap::ValueEnum;
use relay_proto::v1x::Version;
use relay_proto::{Dialect, Transport};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// `Upgrade: iroh derp http` with 5-byte-header frames (what iroh 0.35 uses).
    Derp,
    /// `Upgrade: websocket`, one binary message per frame.
    Ws,
    /// iroh 1.x: websocket offering `iroh-relay-v2, iroh-relay-v1`, challenge handshake.
    V2,
    /// iroh 0.91-0.97: websocket offering only `iroh-relay-v1`.
    V1,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Derp => "derp",
            Protocol::Ws => "ws",
            Protocol::V2 => "v2",
            Protocol::V1 => "v1",
        }
    }

    /// The frames spoken after the upgrade. A v2 client that the server
    /// answers with v1 frames the same way: the versions differ only in
    /// what the server sends.
    pub fn dialect(self) -> Dialect {
        match self {
            Protocol::Derp => Dialect::V035(Transport::Derp),
            Protocol::Ws => Dialect::V035(Transport::Websocket),
            Protocol::V2 => Dialect::V1x(Version::V2),
            Protocol::V1 => Dialect::V1x(Version::V1),
        }
    }
}
