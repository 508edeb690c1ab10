//! Which client a loadgen client is: iroh 0.35 over the derp upgrade or a
//! websocket, or iroh 1.x offering v2 or only v1.

use clap::ValueEnum;

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
}
