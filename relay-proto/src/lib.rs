//! The relay wire protocols, as pure functions over byte slices.
//!
//! Nothing here touches a socket or a clock: the relay's shards (and the
//! load generator, the probe and the fuzz targets) feed bytes in and write
//! the bytes these functions produce. Two families share the port: iroh
//! 0.35 ([`v035`]) and iroh 1.x ([`v1x`]); [`Dialect`] says which one a
//! connection speaks, and [`datagram`] holds what they have in common.
//! Frame layouts are defined here because the iroh crates keep theirs
//! private. `docs/` describes both protocols.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client_upgrade;
pub mod client_writer;
pub mod datagram;
pub mod dialect;
pub mod handshake;
pub mod http;
pub mod key;
pub mod postcard;
pub mod ratelimit;
pub mod reader;
pub mod session;
pub mod sig;
pub mod stun;
pub mod v035;
pub mod v1x;
pub mod ws;

// Short paths to the 0.35 modules, used by loadgen, the probe, the benches
// and the fuzz targets.
pub use v035::{client_info, frame, stream, Transport, HEADER_LEN};

pub use datagram::{Datagram, Event, ServerFrame, Status};
pub use dialect::{Dialect, Family};
pub use v035::client_info::{ClientInfo, HandshakeError};
pub use v035::frame::{Frame, FrameError, FrameType};

/// Largest websocket message, and stream frame payload (1 MiB).
pub const MAX_FRAME_SIZE: usize = 1024 * 1024;
/// Largest packet inside SendPacket/RecvPacket (64 KiB).
pub const MAX_PACKET_SIZE: usize = 64 * 1024;
/// Length of an ed25519 public key on the wire.
pub const KEY_LEN: usize = 32;
/// Packets a destination may have queued before new ones are dropped.
pub const PER_CLIENT_QUEUE_DEPTH: usize = 512;
