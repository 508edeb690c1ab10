//! Test support for the uring-relay conformance / end-to-end suite.
//!
//! * [`relay`]: start a relay binary (uring-relay or the reference iroh-relay
//!   0.35, chosen by `RELAY_BIN` / `RELAY_FLAVOR`) as a child process.
//! * [`wire`]: hand-built frames and ClientInfo (docs/protocol-0.35.md §3, 4).
//! * [`http`]: a raw HTTP/1.1 client.
//! * [`raw`]: raw relay connections with 5-byte framing.
//! * [`ws`]: a raw WebSocket client for the WS relay path.
//! * [`client`]: the real iroh-relay 0.35 client, time-bounded.
//! * [`endpoint`]: real iroh 0.35 endpoints whose only path is the relay.
//! * [`fault`]: misbehaving raw clients and the relay's open descriptors.
//! * [`openmetrics`]: scraping the metrics port and validating its text (both formats).
//! * [`probe_run`]: running `uring-relay probe` and reading its report.
//! * [`fake_server`]: peers that are not relays (a web server, a lossy proxy,
//!   one that announces a restart).
//! * [`relay_cli`]: running the relay binary to its exit (check-config, failed starts).
//! * [`tls_proxy`]: a test CA and TLS in front of a relay, as nginx is.
//!
//! Against uring-relay (`target/<profile>/uring-relay`, built once if missing;
//! rebuild it yourself after changing relay-core):
//! `cargo build -p relay-core --bin uring-relay && cargo test -p tests`
//!
//! Against the reference (installed by `scripts/install-reference-relay.sh`):
//! `RELAY_BIN=$PWD/.cache/iroh-relay-0.35/bin/iroh-relay RELAY_FLAVOR=reference cargo test -p tests`
//! Tests of behaviour the reference lacks print `<test>: SKIP (reference lacks ...)`.

pub mod client;
pub mod endpoint;
pub mod fake_server;
pub mod fault;
pub mod http;
pub mod openmetrics;
pub mod probe_run;
pub mod raw;
pub mod relay;
pub mod relay_cli;
pub mod tls_proxy;
pub mod wire;
pub mod ws;

pub use relay::{flavor, skip_on_reference, Flavor, RelayOptions, RelayProcess};

use std::{future::Future, time::Duration};

/// Runs `fut` with an overall time bound; panics (failing the test) on timeout.
pub async fn bounded<T>(limit: Duration, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("test did not finish within {limit:?}"),
    }
}

/// Raises this test process's open-file soft limit to its hard limit
/// (tests with many clients hold one descriptor each).
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write only the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Starts a relay with `shards` shards, panicking (failing the test) if it
/// does not come up.
pub fn start_relay(shards: usize) -> RelayProcess {
    match RelayProcess::start(shards) {
        Ok(r) => r,
        Err(e) => panic!("starting relay: {e:#}"),
    }
}
