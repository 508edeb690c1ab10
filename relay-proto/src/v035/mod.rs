//! The iroh 0.35 relay protocol (protocol version 3): the client speaks
//! first with a signed ClientInfo; frames have a one-byte type and travel
//! either with a 5-byte header (`Upgrade: iroh derp http`) or one per
//! websocket message (`Upgrade: websocket` without a subprotocol).
//!
//! See `docs/protocol-0.35.md`.

pub mod client_info;
pub mod frame;
pub mod message;
pub mod serve;
pub mod stream;
mod transport;

pub use transport::Transport;

/// Length of the stream frame header: type byte + u32 BE length.
pub const HEADER_LEN: usize = 5;
