//! Mixed runs: several protocols share the relay at once (`--mix
//! 035:1x=1:1`). Clients are assigned per pair, so a client and its peer
//! always speak the same protocol; pairs are dealt to the groups by weight,
//! interleaved, so every loadgen thread carries every group.

use anyhow::{bail, Result};

use crate::protocol::Protocol;

/// Most groups a run can have (one per protocol).
pub const MAX_GROUPS: usize = 4;

/// One protocol in the run, with its label in the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub label: String,
    pub protocol: Protocol,
    pub weight: u32,
}

/// The protocol of every client.
#[derive(Debug, Clone, PartialEq)]
pub struct Mix {
    pub groups: Vec<Group>,
    /// Sum of the weights: one round of pair assignment.
    cycle: u32,
}

impl Mix {
    /// A run with one protocol.
    pub fn single(protocol: Protocol) -> Self {
        Self {
            groups: vec![Group {
                label: protocol.name().into(),
                protocol,
                weight: 1,
            }],
            cycle: 1,
        }
    }

    /// Parses `NAME:NAME[:…]=W:W[:…]`. Names: `035` (= derp), `1x` (= v2),
    /// or a protocol (`derp`, `ws`, `v1`, `v2`); the label in the report is
    /// the name as written.
    pub fn parse(s: &str) -> Result<Self> {
        let Some((names, weights)) = s.split_once('=') else {
            bail!("--mix wants NAMES=WEIGHTS, e.g. 035:1x=1:1, got {s:?}");
        };
        let names: Vec<&str> = names.split(':').collect();
        let weights: Vec<&str> = weights.split(':').collect();
        if names.len() != weights.len() || names.len() < 2 || names.len() > MAX_GROUPS {
            bail!("--mix wants 2 to {MAX_GROUPS} names and as many weights, got {s:?}");
        }
        let mut groups = Vec::with_capacity(names.len());
        for (name, w) in names.iter().zip(&weights) {
            let protocol = match *name {
                "035" | "derp" => Protocol::Derp,
                "ws" => Protocol::Ws,
                "1x" | "v2" => Protocol::V2,
                "v1" => Protocol::V1,
                other => bail!("--mix: unknown protocol {other:?} (035, 1x, derp, ws, v1, v2)"),
            };
            let weight = match w.parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => bail!("--mix: weight {w:?} is not a number from 1 to 1000"),
            };
            if groups.iter().any(|g: &Group| g.label == *name) {
                bail!("--mix: {name} appears twice");
            }
            groups.push(Group {
                label: (*name).to_string(),
                protocol,
                weight,
            });
        }
        let cycle = groups.iter().map(|g| g.weight).sum();
        Ok(Self { groups, cycle })
    }

    /// The group of client `idx` (pair `idx / 2`).
    pub fn group_of(&self, idx: usize) -> usize {
        let mut at = ((idx / 2) % self.cycle as usize) as u32;
        for (i, g) in self.groups.iter().enumerate() {
            if at < g.weight {
                return i;
            }
            at -= g.weight;
        }
        0
    }

    pub fn protocol_of(&self, idx: usize) -> Protocol {
        self.groups
            .get(self.group_of(idx))
            .map_or(Protocol::Derp, |g| g.protocol)
    }

    /// Clients of group `g` among the first `n`.
    pub fn clients_in(&self, g: usize, n: usize) -> usize {
        (0..n).filter(|&i| self.group_of(i) == g).count()
    }

    pub fn is_mixed(&self) -> bool {
        self.groups.len() > 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_stay_in_one_group() {
        let m = Mix::parse("035:1x=1:1").unwrap();
        assert_eq!(m.groups[0].protocol, Protocol::Derp);
        assert_eq!(m.groups[1].protocol, Protocol::V2);
        let got: Vec<usize> = (0..8).map(|i| m.group_of(i)).collect();
        assert_eq!(got, [0, 0, 1, 1, 0, 0, 1, 1]);
        assert_eq!(m.clients_in(1, 10), 4);
        let m = Mix::parse("ws:v1=2:1").unwrap();
        let got: Vec<Protocol> = (0..6).step_by(2).map(|i| m.protocol_of(i)).collect();
        assert_eq!(got, [Protocol::Ws, Protocol::Ws, Protocol::V1]);
        assert!(m.is_mixed());
        assert!(!Mix::single(Protocol::V2).is_mixed());
        assert_eq!(Mix::single(Protocol::V2).group_of(7), 0);
    }

    #[test]
    fn bad_mixes_are_refused() {
        for bad in [
            "035:1x",
            "035=1",
            "035:1x=1",
            "035:quic=1:1",
            "035:1x=0:1",
            "035:035=1:1",
            "035:1x=a:1",
        ] {
            assert!(Mix::parse(bad).is_err(), "{bad}");
        }
    }
}
