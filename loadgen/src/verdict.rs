//! One line of `summarize --targets`, and the check that most targets
//! are: our median against a reference's in one scenario.

use crate::runs::{median_of, Runs};

/// One checked line: what, at which shard count, both values, verdict.
pub(crate) struct Line {
    pub target: &'static str,
    pub shards: String,
    pub ours: String,
    pub reference: String,
    pub ratio: Option<f64>,
    pub met: bool,
}

/// Medians of `pointer` for ours and `reference` in `scenario|shards`.
fn pair(
    runs: &Runs,
    scenario: &str,
    shards: &str,
    reference: &str,
    pointer: &str,
) -> Option<(f64, f64)> {
    Some((
        median_of(runs, scenario, shards, "ours", pointer)?,
        median_of(runs, scenario, shards, reference, pointer)?,
    ))
}

/// The shard counts `scenario` ran at, in order.
pub(crate) fn shard_counts(runs: &Runs, scenario: &str) -> Vec<String> {
    let mut v: Vec<String> = runs
        .keys()
        .filter(|k| k.scenario == scenario)
        .map(|k| k.shards.clone())
        .collect();
    v.dedup();
    v
}

/// A target that compares our median with the reference's in one scenario.
pub(crate) struct VsReference {
    pub target: &'static str,
    pub scenario: &'static str,
    /// `reference` (iroh-relay 0.35) or `reference-1x` (1.4.1).
    pub reference: &'static str,
    /// Only this shard count, or every shard count the run has.
    pub shards: Option<&'static str>,
    pub pointer: &'static str,
    /// Multiplier from the JSON value to `unit`.
    pub scale: f64,
    pub unit: &'static str,
    pub decimals: usize,
    pub met: fn(ours: f64, reference: f64) -> bool,
}

/// A line per target and shard count where both relays have a median.
pub(crate) fn vs_reference(runs: &Runs, targets: &[VsReference]) -> Vec<Line> {
    let mut out = Vec::new();
    for t in targets {
        let shards = match t.shards {
            Some(s) => vec![s.to_string()],
            None => shard_counts(runs, t.scenario),
        };
        for s in shards {
            let Some((o, r)) = pair(runs, t.scenario, &s, t.reference, t.pointer) else {
                continue;
            };
            let (o, r, d) = (o * t.scale, r * t.scale, t.decimals);
            out.push(Line {
                target: t.target,
                shards: s,
                ours: format!("{o:.d$} {}", t.unit),
                reference: format!("{r:.d$} {}", t.unit),
                ratio: (r > 0.0).then(|| o / r),
                met: (t.met)(o, r),
            });
        }
    }
    out
}
