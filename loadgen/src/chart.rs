//! `loadgen chart`: SVG charts of a bench/compare run, drawn from the same
//! JSON reports as the tables (medians over the rounds): delivered pkt/s of
//! the max-rate scenarios per relay, and latency percentiles of the
//! fixed-rate ones (mixed runs per family).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::rows::{heading_of, RELAYS};
use crate::runs::{load, relays_in, Key, Runs};
use crate::stats::median;

const WIDTH: f64 = 920.0;
const LABEL_W: f64 = 300.0;
const BAR_W: f64 = 470.0;
const ROW: f64 = 18.0;
const HEAD: f64 = 24.0;

/// Bar colour per relay, in [`RELAYS`] order.
const COLOURS: [&str; 5] = ["#1b7837", "#5aae61", "#2166ac", "#762a83", "#999999"];

/// One bar: its label, value and colour.
struct Bar {
    label: String,
    value: f64,
    colour: &'static str,
    /// Latency bars: p50, p99, p999.
    spread: Option<[f64; 3]>,
}

/// A titled group of bars (one scenario at one shard count).
struct Group {
    title: String,
    bars: Vec<Bar>,
}

fn med(reports: &[Value], pointer: &str) -> Option<f64> {
    let mut v: Vec<f64> = reports
        .iter()
        .filter_map(|r| r.pointer(pointer).and_then(Value::as_f64))
        .collect();
    median(&mut v)
}

fn rate_of(runs: &Runs, key: &Key) -> String {
    runs[key]
        .values()
        .flatten()
        .find_map(|v| v["config"]["rate"].as_str().map(str::to_string))
        .unwrap_or_default()
}

fn colour_of(relay: &str) -> &'static str {
    RELAYS
        .iter()
        .position(|(r, _)| *r == relay)
        .and_then(|i| COLOURS.get(i))
        .copied()
        .unwrap_or("#444444")
}

/// Scenario groups in the order given, with the title `NAME, N shard(s)`.
fn groups(
    runs: &Runs,
    scenarios: &[(String, String)],
    keep: impl Fn(&str) -> bool,
    bars: impl Fn(&Key, &str, &[Value]) -> Vec<Bar>,
) -> Vec<Group> {
    let mut out = Vec::new();
    for (name, _) in scenarios {
        for key in runs.keys().filter(|k| &k.scenario == name) {
            let settled = runs[key]
                .values()
                .flatten()
                .any(|v| v["config"]["settle_s"].as_f64().is_some_and(|s| s > 0.0));
            if settled || !keep(&rate_of(runs, key)) {
                continue;
            }
            let mut g = Group {
                title: format!("{name}, {} shard(s)", key.shards),
                bars: Vec::new(),
            };
            for relay in relays_in(runs, &[key]) {
                if let Some(reports) = runs[key].get(relay) {
                    g.bars.extend(bars(key, relay, reports));
                }
            }
            if !g.bars.is_empty() {
                out.push(g);
            }
        }
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Horizontal bars; each group is scaled to its own largest value
/// (`log`: one logarithmic axis for all, in microseconds).
fn svg(title: &str, note: &str, groups: &[Group], log: bool) -> String {
    let rows: usize = groups.iter().map(|g| g.bars.len()).sum();
    let height = 50.0 + groups.len() as f64 * HEAD + rows as f64 * ROW + 30.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12">"##
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="white"/>"##);
    let _ = writeln!(
        s,
        r##"<text x="10" y="20" font-size="15" font-weight="bold">{}</text><text x="10" y="38" fill="#555">{}</text>"##,
        esc(title),
        esc(note)
    );
    // Log axis: 10 us .. 1 s.
    let (lo, hi) = (1.0f64, 6.0f64);
    let x_log = |v: f64| LABEL_W + BAR_W * ((v.max(10.0).log10() - lo) / (hi - lo)).clamp(0.0, 1.0);
    let mut y = 50.0;
    for g in groups {
        let _ = writeln!(
            s,
            r##"<text x="10" y="{:.0}" font-weight="bold">{}</text>"##,
            y + 16.0,
            esc(&g.title)
        );
        y += HEAD;
        let max = g.bars.iter().map(|b| b.value).fold(0.0, f64::max);
        for b in &g.bars {
            let _ = writeln!(
                s,
                r##"<text x="{:.0}" y="{:.0}" text-anchor="end">{}</text>"##,
                LABEL_W - 6.0,
                y + 13.0,
                esc(&b.label)
            );
            match b.spread {
                Some([p50, p99, p999]) if log => {
                    for (v, op) in [(p999, 0.3), (p99, 0.6), (p50, 1.0)] {
                        let _ = writeln!(
                            s,
                            r##"<rect x="{LABEL_W}" y="{:.0}" width="{:.1}" height="{:.0}" fill="{}" fill-opacity="{op}"/>"##,
                            y + 2.0,
                            (x_log(v) - LABEL_W).max(1.0),
                            ROW - 4.0,
                            b.colour
                        );
                    }
                    let _ = writeln!(
                        s,
                        r##"<text x="{:.0}" y="{:.0}">p50 {p50:.0} / p99 {p99:.0} / p999 {p999:.0} us</text>"##,
                        x_log(p999) + 4.0,
                        y + 13.0
                    );
                }
                _ => {
                    let w = if max > 0.0 {
                        BAR_W * b.value / max
                    } else {
                        0.0
                    };
                    let _ = writeln!(
                        s,
                        r##"<rect x="{LABEL_W}" y="{:.0}" width="{:.1}" height="{:.0}" fill="{}"/><text x="{:.0}" y="{:.0}">{:.0}</text>"##,
                        y + 2.0,
                        w.max(1.0),
                        ROW - 4.0,
                        b.colour,
                        LABEL_W + w + 4.0,
                        y + 13.0,
                        b.value
                    );
                }
            }
            y += ROW;
        }
    }
    if log {
        for (i, t) in ["10 us", "100 us", "1 ms", "10 ms", "100 ms", "1 s"]
            .iter()
            .enumerate()
        {
            let x = x_log(10f64.powi(i as i32 + 1));
            let _ = writeln!(
                s,
                r##"<line x1="{x:.0}" y1="50" x2="{x:.0}" y2="{y:.0}" stroke="#ccc"/><text x="{x:.0}" y="{:.0}" text-anchor="middle" fill="#555">{t}</text>"##,
                y + 14.0
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// Writes `throughput.svg` and `latency.svg` into `dir`.
pub fn chart(files: &[String], scenarios: &[(String, String)], dir: &Path) -> Result<()> {
    let runs = load(files)?;
    let pps = groups(
        &runs,
        scenarios,
        |rate| rate == "max",
        |_, relay, reports| {
            med(reports, "/traffic/delivered_pps")
                .map(|v| Bar {
                    label: heading_of(relay).into(),
                    value: v,
                    colour: colour_of(relay),
                    spread: None,
                })
                .into_iter()
                .collect()
        },
    );
    let lat = groups(
        &runs,
        scenarios,
        |rate| rate != "max" && rate != "0" && !rate.is_empty(),
        |_, relay, reports| {
            let family_of = |v: &Value| -> Vec<String> {
                v["groups"]
                    .as_object()
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default()
            };
            let fams = reports.first().map(family_of).unwrap_or_default();
            let spread = |prefix: &str| -> Option<[f64; 3]> {
                let p = |q: &str| med(reports, &format!("{prefix}/latency_us/{q}"));
                Some([p("p50")?, p("p99")?, p("p999")?])
            };
            let mut bars = Vec::new();
            let mut push = |label: String, sp: Option<[f64; 3]>| {
                if let Some(sp) = sp {
                    bars.push(Bar {
                        label,
                        value: sp[2],
                        colour: colour_of(relay),
                        spread: Some(sp),
                    });
                }
            };
            if fams.is_empty() {
                push(heading_of(relay).into(), spread(""));
            }
            for f in fams {
                push(
                    format!("{}, family {f}", heading_of(relay)),
                    spread(&format!("/groups/{f}")),
                );
            }
            bars
        },
    );
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, body: String| {
        let p = dir.join(name);
        std::fs::write(&p, body).with_context(|| format!("writing {}", p.display()))
    };
    write(
        "throughput.svg",
        svg(
            "Delivered packets/s, max rate (median of the rounds)",
            "Each scenario's bars are scaled to its fastest relay; numbers are pkt/s.",
            &pps,
            false,
        ),
    )?;
    write(
        "latency.svg",
        svg(
            "One-way latency at a fixed rate (median of the rounds)",
            "Dark: p50, medium: p99, light: p999; logarithmic axis.",
            &lat,
            true,
        ),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_have_a_bar_per_relay_and_scenario() {
        let dir = std::env::temp_dir().join(format!("loadgen-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut files = Vec::new();
        for (i, v) in [
            serde_json::json!({"label": "p|1|ours|1", "config": {"rate": "max"},
                               "traffic": {"delivered_pps": 900.0}}),
            serde_json::json!({"label": "p|1|reference-1x|1", "config": {"rate": "max"},
                               "traffic": {"delivered_pps": 300.0}}),
            serde_json::json!({"label": "r|1|ours|1", "config": {"rate": "100"},
                               "latency_us": {"p50": 50.0, "p99": 400.0, "p999": 900.0}}),
            serde_json::json!({"label": "m|1|ours|1", "config": {"rate": "100"},
                               "groups": {"035": {"latency_us": {"p50": 1.0, "p99": 2.0, "p999": 3.0}}}}),
        ]
        .into_iter()
        .enumerate()
        {
            let f = dir.join(format!("{i}.json"));
            std::fs::write(&f, v.to_string()).unwrap();
            files.push(f.display().to_string());
        }
        let scen: Vec<(String, String)> = ["p", "r", "m"]
            .iter()
            .map(|s| (s.to_string(), s.to_string()))
            .collect();
        chart(&files, &scen, &dir).unwrap();
        let t = std::fs::read_to_string(dir.join("throughput.svg")).unwrap();
        assert!(t.contains(">iroh-relay 1.4.1<") && t.contains(">900<") && t.contains(">300<"));
        assert!(!t.contains("r, 1 shard"), "{t}");
        let l = std::fs::read_to_string(dir.join("latency.svg")).unwrap();
        assert!(l.contains("p50 50 / p99 400 / p999 900 us"), "{l}");
        assert!(l.contains("uring-relay, family 035"), "{l}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
