//! uring-relay: an iroh 0.35 compatible relay server.
//!
//! `proto` and `http` are pure (bytes in, frames out); `shard` is the only
//! io_uring code; `router` says which shard owns a key.

pub mod access;
pub mod budget;
pub mod config;
pub mod fdlimit;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod metrics_http;
pub mod proto;
pub mod queue;
pub mod ratelimit;
pub mod router;
pub mod shard;
pub mod stun;
pub mod sysmem;
