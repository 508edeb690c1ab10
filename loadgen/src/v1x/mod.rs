//! The iroh 1.x client (`iroh-relay-v2` / `iroh-relay-v1`): websocket
//! framing with varint frame types, and the challenge handshake.

pub mod codec;
pub mod connect;
