//! The dual-stack targets: 1.x clients against iroh-relay 1.4.1, connect
//! storms of both families, the 0.35 websocket path against the derp path,
//! and a mixed run against each family's run alone.

use crate::runs::{median_of, Runs};
use crate::verdict::{shard_counts, Line, VsReference};

/// A mixed run's family keeps at least this share of its pkt/s alone.
const MIXED_KEEPS: f64 = 0.9;
/// Server CPU per packet over websocket against derp (0.35), at most.
const WS_CPU_LIMIT: f64 = 1.3;

pub(crate) const VS_1X: &[VsReference] = &[
    VsReference {
        target: "1.x, 1000 pairs, max rate: at least 3x iroh-relay 1.4.1's pkt/s",
        scenario: "pairs1k-1x",
        reference: "reference-1x",
        shards: Some("1"),
        pointer: "/traffic/delivered_pps",
        scale: 1.0,
        unit: "pkt/s",
        decimals: 0,
        met: |o, r| o >= 3.0 * r,
    },
    VsReference {
        target: "1.x, 10000 idle clients: RSS at most a third of iroh-relay 1.4.1's",
        scenario: "idle10k-1x",
        reference: "reference-1x",
        shards: None,
        pointer: "/server/rss_after_connect_kib",
        scale: 1.0 / 1024.0,
        unit: "MiB",
        decimals: 1,
        met: |o, r| o * 3.0 <= r,
    },
    VsReference {
        target: "0.35 connect storm of 10000 clients: at least 2x iroh-relay 0.35's connects/s",
        scenario: "idle10k",
        reference: "reference",
        shards: None,
        pointer: "/connect/per_s",
        scale: 1.0,
        unit: "/s",
        decimals: 0,
        met: |o, r| o >= 2.0 * r,
    },
    VsReference {
        target: "1.x connect storm of 10000 clients: at least 2x iroh-relay 1.4.1's connects/s",
        scenario: "idle10k-1x",
        reference: "reference-1x",
        shards: None,
        pointer: "/connect/per_s",
        scale: 1.0,
        unit: "/s",
        decimals: 0,
        met: |o, r| o >= 2.0 * r,
    },
];

/// 0.35 over websocket (`pairs1k-ws`) against derp (`pairs1k`): server CPU
/// per packet, ours decides; the reference's ratio is shown beside it.
pub(crate) fn ws_path(runs: &Runs) -> Vec<Line> {
    let cpu = "/server/cpu_ns_per_packet";
    let both = |relay: &str, shards: &str| {
        Some((
            median_of(runs, "pairs1k-ws", shards, relay, cpu)?,
            median_of(runs, "pairs1k", shards, relay, cpu)?,
        ))
    };
    let text = |v: Option<(f64, f64)>| {
        v.map_or("-".into(), |(ws, derp)| {
            let r = if derp > 0.0 { ws / derp } else { 0.0 };
            format!("{ws:.0} ns ws vs {derp:.0} ns derp ({r:.2}x)")
        })
    };
    let mut out = Vec::new();
    for s in shard_counts(runs, "pairs1k-ws") {
        let Some((ws, derp)) = both("ours", &s) else {
            continue;
        };
        let ratio = (derp > 0.0).then(|| ws / derp);
        out.push(Line {
            target: "0.35 websocket: server CPU per packet within 1.3x of the derp path",
            ours: text(Some((ws, derp))),
            reference: text(both("reference", &s)),
            shards: s,
            ratio,
            met: ratio.is_some_and(|r| r <= WS_CPU_LIMIT),
        });
    }
    out
}

/// Each family of the mixed run (`mix1k`) against the same family alone
/// with the same clients and rate (`mixbase-035`, `mixbase-1x`).
pub(crate) fn mixed(runs: &Runs) -> Vec<Line> {
    let families = [
        (
            "035",
            "mixbase-035",
            "mixed: the 0.35 family keeps at least 90% of its pkt/s alone",
        ),
        (
            "1x",
            "mixbase-1x",
            "mixed: the 1.x family keeps at least 90% of its pkt/s alone",
        ),
    ];
    let mut out = Vec::new();
    for s in shard_counts(runs, "mix1k") {
        for (label, base, target) in families {
            let ptr = |what: &str| format!("/groups/{label}/{what}");
            let mixed = median_of(runs, "mix1k", &s, "ours", &ptr("delivered_pps"));
            let alone = median_of(runs, base, &s, "ours", "/traffic/delivered_pps");
            let (Some(mixed), Some(alone)) = (mixed, alone) else {
                continue;
            };
            let p99_mixed = median_of(runs, "mix1k", &s, "ours", &ptr("latency_us/p99"));
            let p99_alone = median_of(runs, base, &s, "ours", "/latency_us/p99");
            let p99 = match (p99_mixed, p99_alone) {
                (Some(m), Some(a)) => format!(", p99 {m:.0} vs {a:.0} us"),
                _ => String::new(),
            };
            let ratio = (alone > 0.0).then(|| mixed / alone);
            out.push(Line {
                target,
                shards: s.clone(),
                ours: format!("{mixed:.0} mixed vs {alone:.0} pkt/s alone{p99}"),
                reference: "-".into(),
                ratio,
                met: ratio.is_some_and(|r| r >= MIXED_KEEPS),
            });
        }
    }
    out
}
