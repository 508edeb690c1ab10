//! uring-relay: an iroh 0.35 compatible relay server.
//!
//! `proto` and `http` are pure (bytes in, frames out); `shard` is the only
//! io_uring code.

pub mod http;
pub mod proto;
