//! `loadgen summarize`: turns the JSON reports of repeated runs into
//! markdown tables (median and min-max per relay, ratio ours/reference).
//!
//! Each report's label is `scenario|shards|relay|round`; relays are `ours`,
//! `ours-epoll`, `reference` (iroh-relay 0.35), `reference-1x` (iroh-relay
//! 1.4.1) and `pump`. A table shows the relays that ran its scenario.

use std::fmt::Write as _;

use anyhow::{bail, Result};
use serde_json::Value;

use crate::rows::{heading_of, reference_of, Metric, BURST, IDLE, MIX, TRAFFIC};
use crate::runs::{load, relays_in, values_at, Key, Runs};
use crate::stats::median;

/// Reads report files and renders the tables (`scenarios` gives the order
/// and a heading for each scenario name), or with `targets` the verdict
/// against the performance targets.
pub fn summarize(
    files: &[String],
    scenarios: &[(String, String)],
    targets: bool,
) -> Result<String> {
    let runs = load(files)?;
    Ok(if targets {
        crate::targets::render(&runs)
    } else {
        render(&runs, scenarios)
    })
}

/// The rows for a scenario: protocol groups mark a mixed run, a settle
/// wait a burst, rate 0 idle clients.
fn metrics_for<'a>(mut reports: impl Iterator<Item = &'a Value> + Clone) -> &'static [Metric] {
    if reports.clone().any(|v| v["groups"].is_object()) {
        MIX
    } else if reports
        .clone()
        .any(|v| v["config"]["settle_s"].as_f64().is_some_and(|s| s > 0.0))
    {
        BURST
    } else if reports.any(|v| v["config"]["rate"].as_str() == Some("0")) {
        IDLE
    } else {
        TRAFFIC
    }
}

fn render(runs: &Runs, scenarios: &[(String, String)]) -> String {
    let mut out = String::new();
    for (name, heading) in scenarios {
        let keys: Vec<&Key> = runs.keys().filter(|k| &k.scenario == name).collect();
        if keys.is_empty() {
            continue;
        }
        let present = relays_in(runs, &keys);
        let reference = reference_of(&present);
        // Ratio columns: (heading, numerator, denominator), when both ran.
        let ratios: Vec<(&str, &str, &str)> = [
            ("ours/ref", "ours", reference),
            ("epoll/ours", "ours-epoll", "ours"),
            ("ours/pump", "ours", "pump"),
        ]
        .into_iter()
        .filter(|(_, a, b)| present.contains(a) && present.contains(b))
        .collect();
        let _ = writeln!(out, "### {heading}\n");
        let cols: Vec<&str> = present.iter().map(|r| heading_of(r)).collect();
        let rcols: Vec<&str> = ratios.iter().map(|r| r.0).collect();
        let _ = writeln!(
            out,
            "| metric | shards | {} |",
            cols.iter()
                .chain(&rcols)
                .copied()
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let _ = writeln!(out, "|---|---|{}", "---|".repeat(cols.len() + rcols.len()));
        let metrics = metrics_for(keys.iter().flat_map(|k| runs[*k].values().flatten()));
        for metric in metrics {
            for key in &keys {
                let by_relay = &runs[*key];
                let cell = |r: &str| by_relay.get(r).and_then(|vs| spread(vs, metric));
                let cells: Vec<Option<Spread>> = present.iter().map(|r| cell(r)).collect();
                if cells.iter().all(Option::is_none) {
                    continue;
                }
                let mut row: Vec<String> = cells.iter().map(|c| fmt_cell(c, metric)).collect();
                for (_, a, b) in &ratios {
                    row.push(match (cell(a), cell(b)) {
                        (Some(a), Some(b)) if metric.ratio && b.median != 0.0 => {
                            format!("{:.2}", a.median / b.median)
                        }
                        _ => "-".into(),
                    });
                }
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    metric.name,
                    key.shards,
                    row.join(" | ")
                );
            }
        }
        let rounds: Vec<String> = present
            .iter()
            .map(|r| {
                let k = keys
                    .iter()
                    .map(|k| runs[*k].get(*r).map_or(0, Vec::len))
                    .max()
                    .unwrap_or(0);
                format!("{}: {k}", heading_of(r))
            })
            .collect();
        let _ = writeln!(out, "\nRuns per cell: {}.\n", rounds.join(", "));
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Spread {
    median: f64,
    min: f64,
    max: f64,
    n: usize,
}

fn spread(runs: &[Value], metric: &Metric) -> Option<Spread> {
    let mut vals = values_at(runs, metric.pointer);
    if metric.pointer.ends_with("_kib") {
        vals.iter_mut().for_each(|x| *x /= 1024.0);
    }
    let med = median(&mut vals)?;
    Some(Spread {
        median: med,
        min: vals[0],
        max: vals[vals.len() - 1],
        n: vals.len(),
    })
}

fn fmt_cell(s: &Option<Spread>, metric: &Metric) -> String {
    let d = metric.decimals;
    match s {
        None => "-".into(),
        Some(s) if s.n == 1 => format!("{:.d$}", s.median),
        Some(s) => format!("{:.d$} ({:.d$}–{:.d$})", s.median, s.min, s.max),
    }
}

/// Parses `name=heading` arguments.
pub fn parse_scenarios(args: &[String]) -> Result<Vec<(String, String)>> {
    args.iter()
        .map(|a| match a.split_once('=') {
            Some((n, h)) if !n.is_empty() => Ok((n.to_string(), h.to_string())),
            _ => bail!("--scenario wants NAME=HEADING, got {a:?}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::fixtures::{burst, runs_of};
    use crate::runs::Key;
    use serde_json::json;

    fn report(label: &str, pps: f64, rate: &str) -> Value {
        json!({
            "label": label,
            "config": {"rate": rate},
            "traffic": {"delivered_pps": pps, "lost": 0},
            "server": {"rss_after_connect_kib": 2048},
            "connect": {"wall_s": 1.5}
        })
    }

    #[test]
    fn medians_ranges_and_ratio() {
        let mut runs = Runs::new();
        let key = Key {
            scenario: "p".into(),
            shards: "1".into(),
        };
        let e = runs.entry(key).or_default();
        e.entry("ours".into()).or_default().extend([
            report("p|1|ours|1", 300.0, "max"),
            report("p|1|ours|2", 100.0, "max"),
            report("p|1|ours|3", 200.0, "max"),
        ]);
        e.entry("reference".into())
            .or_default()
            .push(report("p|1|reference|1", 100.0, "max"));
        let md = render(&runs, &[("p".into(), "Pairs".into())]);
        assert!(md.contains("### Pairs"), "{md}");
        assert!(
            md.contains("| metric | shards | uring-relay | iroh-relay 0.35 | ours/ref |"),
            "{md}"
        );
        assert!(
            md.contains("| delivered pkt/s | 1 | 200 (100–300) | 100 | 2.00 |"),
            "{md}"
        );
        assert!(md.contains("uring-relay: 3, iroh-relay 0.35: 1."), "{md}");
    }

    #[test]
    fn idle_runs_show_memory_in_mib() {
        let mut runs = Runs::new();
        runs.entry(Key {
            scenario: "idle".into(),
            shards: "2".into(),
        })
        .or_default()
        .entry("pump".into())
        .or_default()
        .push(report("idle|2|pump|1", 0.0, "0"));
        let md = render(&runs, &[("idle".into(), "Idle".into())]);
        assert!(
            md.contains("| metric | shards | pump |\n|---|---|---|\n"),
            "{md}"
        );
        assert!(
            md.contains("| server RSS MiB after connect | 2 | 2.0 |"),
            "{md}"
        );
        assert!(!md.contains("delivered pkt/s"), "{md}");
    }

    #[test]
    fn burst_runs_show_closed_clients_and_memory_after() {
        let runs = runs_of(vec![
            burst("max10k|1|ours|1", None, 10240, 20480),
            burst("max10k|1|ours|2", None, 10240, 22528),
            burst("max10k|1|ours|3", Some(2), 10240, 21504),
            burst("max10k|1|reference|1", Some(40), 10240, 307200),
        ]);
        let md = render(&runs, &[("max10k".into(), "Burst".into())]);
        // A round without a server_closed entry counts as 0, not as missing.
        assert!(
            md.contains("| server-closed clients | 1 | 0 (0–2) | 40 | 0.00 |"),
            "{md}"
        );
        assert!(
            md.contains("| disconnects (any reason) | 1 | 1 (1–3) | 41 | 0.02 |"),
            "{md}"
        );
        assert!(
            md.contains("| server RSS MiB before | 1 | 10.0 (10.0–10.0) | 10.0 | 1.00 |"),
            "{md}"
        );
        assert!(
            md.contains("| server RSS MiB peak | 1 | 900.0 (900.0–900.0) | 900.0 |"),
            "{md}"
        );
        assert!(
            md.contains("| server RSS MiB at end (clients connected) | 1 | 400.0 "),
            "{md}"
        );
        assert!(
            md.contains("| server RSS MiB after settle (clients gone) | 1 | 21.0 (20.0–22.0) | 300.0 | 0.07 |"),
            "{md}"
        );
        assert!(
            md.contains("| server open fds after settle | 1 | 12 (12–12) | 12 | - |"),
            "{md}"
        );
        assert!(!md.contains("latency"), "{md}");
    }

    #[test]
    fn one_x_scenarios_compare_with_1_4_1_and_mixed_runs_show_families() {
        let runs = runs_of(vec![
            report("p1x|1|ours|1", 300.0, "max"),
            report("p1x|1|ours-epoll|1", 150.0, "max"),
            report("p1x|1|reference-1x|1", 100.0, "max"),
            json!({"label": "mix|1|ours|1", "config": {"rate": "1000"},
                   "traffic": {"delivered_pps": 1000.0},
                   "groups": {"035": {"delivered_pps": 500.0}, "1x": {"delivered_pps": 499.0}}}),
        ]);
        let md = render(
            &runs,
            &[("p1x".into(), "One".into()), ("mix".into(), "Mix".into())],
        );
        assert!(
            md.contains("| metric | shards | uring-relay | uring-relay (epoll) | iroh-relay 1.4.1 | ours/ref | epoll/ours |"),
            "{md}"
        );
        assert!(
            md.contains("| delivered pkt/s | 1 | 300 | 150 | 100 | 3.00 | 0.50 |"),
            "{md}"
        );
        assert!(
            md.contains("| 1.x family: delivered pkt/s | 1 | 499 |"),
            "{md}"
        );
        assert!(
            md.contains("| 0.35 family: delivered pkt/s | 1 | 500 |"),
            "{md}"
        );
    }

    #[test]
    fn scenario_args() {
        let s = parse_scenarios(&["a=Alpha beta".into()]).unwrap();
        assert_eq!(s, [("a".to_string(), "Alpha beta".to_string())]);
        assert!(parse_scenarios(&["nope".into()]).is_err());
    }
}
