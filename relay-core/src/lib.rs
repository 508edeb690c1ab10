//! uring-relay: a relay server for iroh 0.35 and iroh 1.x clients on one
//! port.
//!
//! `proto` and `http` are pure (bytes in, frames out); `shard` is the only
//! code that touches the I/O runtime (io_uring or epoll, `shard::io`);
//! `router` says which shard owns a key. `docs/architecture.md` has the
//! layout.

// The wire protocols live in their own crate, `relay-proto`; these paths
// keep `crate::proto`, `crate::http` and `crate::ratelimit` meaning them.
pub use relay_proto as proto;
pub use relay_proto::{http, ratelimit};

pub mod access;
pub mod budget;
pub mod config;
pub mod fdlimit;
pub mod large_alloc;
pub mod logging;
pub mod metrics;
pub mod metrics_http;
pub mod queue;
pub mod router;
pub mod sd_notify;
pub mod shard;
pub mod socket_addr;
pub mod stun;
pub mod sysmem;
