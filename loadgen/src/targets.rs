//! `loadgen summarize --targets`: checks the medians of a `bench/compare`
//! run against the performance targets the relay is built to meet, so the
//! verdict is computed from the same run as the tables, never written by hand.
//!
//! Scenario names are bench/compare's: `pairs1k` (1000 clients, max rate),
//! `max10k` (10000 clients, max rate, then a 30 s settle wait), `rate10k`
//! (10000 clients at 20k pkt/s) and `idle10k` (10000 idle clients); the
//! same with `-1x` for iroh 1.x clients (against iroh-relay 1.4.1),
//! `pairs1k-ws` (0.35 over websocket), and the mixed run `mix1k` with its
//! single-family baselines `mixbase-035` and `mixbase-1x`.

use std::fmt::Write as _;

use crate::runs::{median_of, values_of, Runs};
use crate::verdict::{shard_counts, vs_reference, Line, VsReference};

/// RSS bound for 10000 connected clients.
const RSS_LIMIT_MIB: f64 = 100.0;

/// The max-rate burst followed by a settle wait.
const BURST: &str = "max10k";
/// How far above its pre-burst RSS the server may stay after the settle wait.
const SETTLE_TOLERANCE: f64 = 1.10;

const VS_REFERENCE: &[VsReference] = &[
    VsReference {
        target: "1000 pairs, max rate: at least 3x the reference's pkt/s",
        scenario: "pairs1k",
        reference: "reference",
        shards: Some("1"),
        pointer: "/traffic/delivered_pps",
        scale: 1.0,
        unit: "pkt/s",
        decimals: 0,
        met: |o, r| o >= 3.0 * r,
    },
    VsReference {
        target: "10000 clients: RSS under 100 MiB and under a third of the reference's",
        scenario: "idle10k",
        reference: "reference",
        shards: None,
        pointer: "/server/rss_after_connect_kib",
        scale: 1.0 / 1024.0,
        unit: "MiB",
        decimals: 1,
        met: |o, r| o < RSS_LIMIT_MIB && o * 3.0 < r,
    },
    VsReference {
        target: "10000 clients at 20k pkt/s: p99 latency below the reference's",
        scenario: "rate10k",
        reference: "reference",
        shards: None,
        pointer: "/latency_us/p99",
        scale: 1.0,
        unit: "us",
        decimals: 0,
        met: |o, r| o < r,
    },
    VsReference {
        target: "connect storm of 10000 clients: faster than the reference",
        scenario: "idle10k",
        reference: "reference",
        shards: None,
        pointer: "/connect/wall_s",
        scale: 1.0,
        unit: "s",
        decimals: 2,
        met: |o, r| o < r,
    },
];

/// The targets in the order the table lists them.
fn lines(runs: &Runs) -> Vec<Line> {
    let (throughput, rest) = VS_REFERENCE.split_at(1);
    let mut out = vs_reference(runs, throughput);
    out.extend(shard_scaling(runs));
    out.extend(vs_reference(runs, rest));
    out.extend(burst_closed(runs));
    out.extend(burst_settled(runs));
    out.extend(vs_reference(runs, crate::targets_1x::VS_1X));
    out.extend(crate::targets_1x::ws_path(runs));
    out.extend(crate::targets_1x::mixed(runs));
    out
}

/// No client closed by the server in any round: one bad round is one too
/// many, so this is the worst round, not the median.
fn burst_closed(runs: &Runs) -> Vec<Line> {
    let pointer = "/errors/server_closed/count";
    let worst = |relay: &str, shards: &str| {
        let v = values_of(runs, BURST, shards, relay, pointer);
        v.iter().copied().reduce(f64::max).map(|m| (m, v.len()))
    };
    let text = |w: Option<(f64, usize)>| {
        w.map_or("-".into(), |(m, n)| match n {
            1 => format!("{m:.0} (1 round)"),
            n => format!("{m:.0} (worst of {n} rounds)"),
        })
    };
    let mut out = Vec::new();
    for s in shard_counts(runs, BURST) {
        let Some(ours) = worst("ours", &s) else {
            continue;
        };
        out.push(Line {
            target: "10k max-rate: 0 server-closed clients (every round)",
            ours: text(Some(ours)),
            reference: text(worst("reference", &s)),
            shards: s,
            ratio: None,
            met: ours.0 == 0.0,
        });
    }
    out
}

/// RSS after the clients left and the settle wait, against RSS before the
/// run (medians over the rounds).
fn burst_settled(runs: &Runs) -> Vec<Line> {
    let mib = |relay: &str, shards: &str, pointer: &str| {
        median_of(runs, BURST, shards, relay, pointer).map(|k| k / 1024.0)
    };
    let both = |relay: &str, shards: &str| {
        Some((
            mib(relay, shards, "/server/rss_after_settle_kib")?,
            mib(relay, shards, "/server/rss_before_kib")?,
        ))
    };
    let text = |v: Option<(f64, f64)>| {
        v.map_or("-".into(), |(after, before)| {
            format!("{after:.1} MiB after vs {before:.1} MiB before")
        })
    };
    let mut out = Vec::new();
    for s in shard_counts(runs, BURST) {
        let Some((after, before)) = both("ours", &s) else {
            continue;
        };
        let reference = both("reference", &s);
        out.push(Line {
            target: "RSS after a 10k burst within 10% of pre-burst after 30 s",
            ours: text(Some((after, before))),
            reference: text(reference),
            shards: s,
            ratio: reference.and_then(|(r, _)| (r > 0.0).then(|| after / r)),
            met: after <= before * SETTLE_TOLERANCE,
        });
    }
    out
}

/// Max-rate throughput at 2 shards against 1.
fn shard_scaling(runs: &Runs) -> Option<Line> {
    let pps = "/traffic/delivered_pps";
    let one = median_of(runs, "pairs1k", "1", "ours", pps)?;
    let two = median_of(runs, "pairs1k", "2", "ours", pps)?;
    Some(Line {
        target: "1000 pairs, max rate: more pkt/s at 2 shards than at 1",
        shards: "2 vs 1".into(),
        ours: format!("{two:.0} vs {one:.0} pkt/s"),
        reference: "-".into(),
        ratio: (one > 0.0).then(|| two / one),
        met: two > one,
    })
}

/// The targets table, or a note that the run had none of the scenarios.
pub(crate) fn render(runs: &Runs) -> String {
    let lines = lines(runs);
    if lines.is_empty() {
        return "(this run has none of the scenarios the targets refer to)\n".into();
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| target | shards | uring-relay | reference | ratio | met |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for l in &lines {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            l.target,
            l.shards,
            l.ours,
            l.reference,
            l.ratio.map_or("-".into(), |r| format!("{r:.2}")),
            if l.met { "yes" } else { "**no**" },
        );
    }
    let missed = lines.iter().filter(|l| !l.met).count();
    let _ = writeln!(
        out,
        "\n{} of {} met (medians of this run's rounds).",
        lines.len() - missed,
        lines.len()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::fixtures::{burst, runs_of};
    use serde_json::json;

    #[test]
    fn verdicts_follow_the_medians() {
        let runs = runs_of(vec![
            json!({"label": "pairs1k|1|ours|1", "traffic": {"delivered_pps": 600000.0}}),
            json!({"label": "pairs1k|1|reference|1", "traffic": {"delivered_pps": 150000.0}}),
            json!({"label": "pairs1k|2|ours|1", "traffic": {"delivered_pps": 550000.0}}),
            json!({"label": "pairs1k|2|reference|1", "traffic": {"delivered_pps": 200000.0}}),
            json!({"label": "rate10k|1|ours|1", "latency_us": {"p99": 700.0}}),
            json!({"label": "rate10k|1|ours|2", "latency_us": {"p99": 900.0}}),
            json!({"label": "rate10k|1|ours|3", "latency_us": {"p99": 5000.0}}),
            json!({"label": "rate10k|1|reference|1", "latency_us": {"p99": 1000.0}}),
            json!({"label": "idle10k|1|ours|1", "config": {"rate": "0"},
                   "server": {"rss_after_connect_kib": 47104.0}, "connect": {"wall_s": 1.5}}),
            json!({"label": "idle10k|1|reference|1", "config": {"rate": "0"},
                   "server": {"rss_after_connect_kib": 254976.0}, "connect": {"wall_s": 1.2}}),
        ]);
        let md = render(&runs);
        assert!(
            md.contains("| 1000 pairs, max rate: at least 3x the reference's pkt/s | 1 | 600000 pkt/s | 150000 pkt/s | 4.00 | yes |"),
            "{md}"
        );
        // The 3x target is for one shard only.
        assert!(!md.contains("| 2 | 550000 pkt/s | 200000 pkt/s"), "{md}");
        assert!(
            md.contains("more pkt/s at 2 shards than at 1 | 2 vs 1 | 550000 vs 600000 pkt/s | - | 0.92 | **no** |"),
            "{md}"
        );
        // Median of 700, 900, 5000 is 900: one bad round does not decide.
        assert!(md.contains("| 1 | 900 us | 1000 us | 0.90 | yes |"), "{md}");
        assert!(
            md.contains("| 1 | 46.0 MiB | 249.0 MiB | 0.18 | yes |"),
            "{md}"
        );
        assert!(
            md.contains("| 1 | 1.50 s | 1.20 s | 1.25 | **no** |"),
            "{md}"
        );
        assert!(md.contains("3 of 5 met"), "{md}");
    }

    #[test]
    fn burst_verdicts() {
        let runs = runs_of(vec![
            burst("max10k|1|ours|1", None, 10240, 10752),
            burst("max10k|1|ours|2", None, 10240, 11776),
            burst("max10k|1|ours|3", None, 10240, 10240),
            burst("max10k|1|reference|1", Some(40), 10240, 307200),
            // At 2 shards one round out of three lost clients, and memory
            // stayed 50% up.
            burst("max10k|2|ours|1", None, 10240, 15360),
            burst("max10k|2|ours|2", Some(3), 10240, 15360),
            burst("max10k|2|ours|3", None, 10240, 15360),
        ]);
        let md = render(&runs);
        assert!(
            md.contains("| 10k max-rate: 0 server-closed clients (every round) | 1 | 0 (worst of 3 rounds) | 40 (1 round) | - | yes |"),
            "{md}"
        );
        assert!(
            md.contains("| 10k max-rate: 0 server-closed clients (every round) | 2 | 3 (worst of 3 rounds) | - | - | **no** |"),
            "{md}"
        );
        // Median 10.5 MiB against 10.0: within 10%.
        assert!(
            md.contains("| RSS after a 10k burst within 10% of pre-burst after 30 s | 1 | 10.5 MiB after vs 10.0 MiB before | 300.0 MiB after vs 10.0 MiB before | 0.04 | yes |"),
            "{md}"
        );
        assert!(
            md.contains("| 2 | 15.0 MiB after vs 10.0 MiB before | - | - | **no** |"),
            "{md}"
        );
        assert!(md.contains("2 of 4 met"), "{md}");
    }

    #[test]
    fn runs_without_target_scenarios_say_so() {
        let runs = runs_of(vec![
            json!({"label": "pairs100|1|ours|1", "traffic": {"delivered_pps": 1.0}}),
        ]);
        assert!(render(&runs).contains("none of the scenarios"));
    }

    #[test]
    fn dual_stack_verdicts() {
        let runs = runs_of(vec![
            json!({"label": "pairs1k-1x|1|ours|1", "traffic": {"delivered_pps": 900000.0}}),
            json!({"label": "pairs1k-1x|1|reference-1x|1", "traffic": {"delivered_pps": 200000.0}}),
            json!({"label": "idle10k-1x|1|ours|1", "config": {"rate": "0"},
                   "server": {"rss_after_connect_kib": 51200.0}, "connect": {"per_s": 9000.0}}),
            json!({"label": "idle10k-1x|1|reference-1x|1", "config": {"rate": "0"},
                   "server": {"rss_after_connect_kib": 102400.0}, "connect": {"per_s": 4000.0}}),
            json!({"label": "pairs1k|1|ours|1", "server": {"cpu_ns_per_packet": 1000.0}}),
            json!({"label": "pairs1k-ws|1|ours|1", "server": {"cpu_ns_per_packet": 1200.0}}),
            json!({"label": "mix1k|1|ours|1", "groups": {
                "035": {"delivered_pps": 99000.0, "latency_us": {"p99": 300.0}},
                "1x": {"delivered_pps": 80000.0}}}),
            json!({"label": "mixbase-035|1|ours|1", "traffic": {"delivered_pps": 100000.0},
                   "latency_us": {"p99": 250.0}}),
            json!({"label": "mixbase-1x|1|ours|1", "traffic": {"delivered_pps": 100000.0}}),
        ]);
        let md = render(&runs);
        assert!(
            md.contains("| 1.x, 1000 pairs, max rate: at least 3x iroh-relay 1.4.1's pkt/s | 1 | 900000 pkt/s | 200000 pkt/s | 4.50 | yes |"),
            "{md}"
        );
        assert!(
            md.contains("RSS at most a third of iroh-relay 1.4.1's | 1 | 50.0 MiB | 100.0 MiB | 0.50 | **no** |"),
            "{md}"
        );
        assert!(
            md.contains(
                "at least 2x iroh-relay 1.4.1's connects/s | 1 | 9000 /s | 4000 /s | 2.25 | yes |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| 1 | 1200 ns ws vs 1000 ns derp (1.20x) | - | 1.20 | yes |"),
            "{md}"
        );
        assert!(
            md.contains("0.35 family keeps at least 90% of its pkt/s alone | 1 | 99000 mixed vs 100000 pkt/s alone, p99 300 vs 250 us | - | 0.99 | yes |"),
            "{md}"
        );
        assert!(
            md.contains("1.x family keeps at least 90% of its pkt/s alone | 1 | 80000 mixed vs 100000 pkt/s alone | - | 0.80 | **no** |"),
            "{md}"
        );
    }
}
