//! The iroh 1.x relay protocol (`iroh-relay-v1` / `iroh-relay-v2`, iroh
//! 0.91 and later): websocket only, chosen by `Sec-WebSocket-Protocol`; the
//! server speaks first with a challenge; frame types are QUIC varints and
//! datagrams carry ECN bits and an optional GSO segment size.
//!
//! See `docs/protocol-1x.md`.

pub mod client;
pub mod frame;
pub mod handshake;
pub mod serve;
pub mod varint;

/// The subprotocol versions, in the order a server prefers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// `iroh-relay-v1` (iroh 0.91-0.97): Health text frames, no Status.
    V1,
    /// `iroh-relay-v2` (iroh 0.98+): Status frames, no Health.
    V2,
}

impl Version {
    /// The `Sec-WebSocket-Protocol` token of this version.
    pub const fn token(self) -> &'static str {
        match self {
            Version::V1 => "iroh-relay-v1",
            Version::V2 => "iroh-relay-v2",
        }
    }

    /// The highest known version among the comma-separated tokens of a
    /// `Sec-WebSocket-Protocol` value, as 1.4.1 picks it.
    pub fn negotiate(header: &str) -> Option<Version> {
        header
            .split(',')
            .filter_map(|t| match t.trim() {
                "iroh-relay-v1" => Some(Version::V1),
                "iroh-relay-v2" => Some(Version::V2),
                _ => None,
            })
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::Version;

    #[test]
    fn negotiation_picks_the_highest_known_token() {
        let cases = [
            ("iroh-relay-v1", Some(Version::V1)),
            ("iroh-relay-v2, iroh-relay-v1", Some(Version::V2)),
            ("iroh-relay-v1,iroh-relay-v2", Some(Version::V2)),
            ("foo, iroh-relay-v2, bar", Some(Version::V2)),
            ("baz, iroh-relay-v1, iroh-relay-v2, boo", Some(Version::V2)),
            ("foo,  iroh-relay-v1 ", Some(Version::V1)),
            ("iroh-relay-v2 iroh-relay-v1", None),
            ("IROH-RELAY-V1", None),
            ("", None),
        ];
        for (header, want) in cases {
            assert_eq!(Version::negotiate(header), want, "{header:?}");
        }
    }
}
