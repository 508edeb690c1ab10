//! Test support for uring-relay with iroh 1.x clients.
//!
//! * [`v2`]: the real iroh-relay 1.4.1 client (`iroh-relay-v2`), time-bounded.
//! * [`v1`]: the real iroh-relay 0.91.0 client (`iroh-relay-v1` only).
//! * [`raw`]: a hand-built 1.x websocket client for byte-exact and bad-input
//!   tests.
//!
//! The relay process comes from the 0.35 suite (`tests::RelayProcess`), so
//! the same `RELAY_BIN` / `RELAY_FLAVOR` select the binary under test.

pub mod raw;
pub mod v1;
pub mod v2;

use std::time::Duration;

/// Bound for one client operation.
pub const T: Duration = Duration::from_secs(10);

/// A fresh random 32-byte secret.
pub fn secret() -> [u8; 32] {
    rand::random()
}

/// The relay's URL as the 1.x crates type it.
pub trait Url1x {
    fn url_1x(&self) -> iroh_base::RelayUrl;
}

impl Url1x for tests::RelayProcess {
    fn url_1x(&self) -> iroh_base::RelayUrl {
        format!("http://127.0.0.1:{}", self.port())
            .parse()
            .expect("loopback relay url parses")
    }
}
