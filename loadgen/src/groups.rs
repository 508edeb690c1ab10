//! Per-protocol figures of a mixed run (`--mix`): each group's connects,
//! packets, delivered rate and latency, beside the run's totals.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::protocol::Protocol;
use crate::shared::{GroupCounters, Shared};
use crate::stats::{self, Counter, Percentiles};

/// One group's distributions in one thread (kept only in mixed runs).
#[derive(Debug, Clone)]
pub struct GroupHists {
    /// One-way latency, ns.
    pub latency: Histogram<u64>,
    /// Connect time, us.
    pub connect: Histogram<u64>,
}

impl GroupHists {
    pub fn new() -> Self {
        Self {
            latency: stats::histogram(),
            connect: stats::histogram(),
        }
    }

    /// Adds another thread's distributions (same bounds, so it cannot fail).
    pub fn merge(&mut self, other: &GroupHists) {
        let _ = self.latency.add(&other.latency);
        let _ = self.connect.add(&other.connect);
    }
}

impl Default for GroupHists {
    fn default() -> Self {
        Self::new()
    }
}

/// What the report says about one group.
#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    pub protocol: Protocol,
    pub clients: usize,
    pub connected: u64,
    pub sent: u64,
    pub delivered: u64,
    /// sent - delivered after the grace period.
    pub lost: u64,
    /// Delivered during the traffic phase, per second.
    pub delivered_pps: f64,
    pub latency_us: Percentiles,
    pub connect_ms: Percentiles,
}

/// The groups of a mixed run by label; `None` for a single-protocol run.
pub fn report(
    shared: &Shared,
    hists: &[GroupHists],
    traffic_s: f64,
) -> Option<BTreeMap<String, GroupReport>> {
    let mix = &shared.cfg.mix;
    if !mix.is_mixed() {
        return None;
    }
    let secs = traffic_s.max(1e-9);
    let mut out = BTreeMap::new();
    for (g, group) in mix.groups.iter().enumerate() {
        let t = |f: fn(&GroupCounters) -> &Counter| {
            shared
                .counters
                .iter()
                .filter_map(|c| c.groups.get(g))
                .map(|c| f(c).get())
                .sum::<u64>()
        };
        let (sent, delivered) = (t(|c| &c.sent), t(|c| &c.delivered));
        let h = hists.get(g).cloned().unwrap_or_default();
        out.insert(
            group.label.clone(),
            GroupReport {
                protocol: group.protocol,
                clients: mix.clients_in(g, shared.cfg.clients),
                connected: t(|c| &c.connected),
                sent,
                delivered,
                lost: sent.saturating_sub(delivered),
                delivered_pps: t(|c| &c.delivered_in_window) as f64 / secs,
                latency_us: Percentiles::of(&h.latency, 1e3),
                connect_ms: Percentiles::of(&h.connect, 1e3),
            },
        );
    }
    Some(out)
}

/// Table lines for the groups, one per group.
pub fn table(groups: &BTreeMap<String, GroupReport>) -> String {
    let mut s = String::new();
    for (label, g) in groups {
        let _ = writeln!(
            s,
            "  {:<22} {} clients ({} connected, {}), {:.0} pkt/s, lost {}, latency us p50 {:.0} p99 {:.0} p999 {:.0}, connect ms p50 {:.2} p99 {:.2}",
            format!("group {label}"),
            g.clients,
            g.connected,
            g.protocol.name(),
            g.delivered_pps,
            g.lost,
            g.latency_us.p50,
            g.latency_us.p99,
            g.latency_us.p999,
            g.connect_ms.p50,
            g.connect_ms.p99,
        );
    }
    s
}
