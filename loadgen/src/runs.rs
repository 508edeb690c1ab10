//! The JSON reports of repeated runs, grouped by scenario, shard count and
//! relay (each report's label is `scenario|shards|relay|round`), and the
//! numbers read from them: what `summarize`, `--targets` and `chart` share.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::rows::RELAYS;
use crate::stats::median;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub scenario: String,
    pub shards: String,
}

/// Reports by scenario and shard count, then by relay.
pub(crate) type Runs = BTreeMap<Key, BTreeMap<String, Vec<Value>>>;

/// Reads report files, grouped by scenario, shard count and relay.
pub(crate) fn load(files: &[String]) -> Result<Runs> {
    let mut runs = Runs::new();
    for f in files {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading {f}"))?;
        let v: Value = serde_json::from_str(&text).with_context(|| format!("parsing {f}"))?;
        insert(&mut runs, v).with_context(|| f.clone())?;
    }
    Ok(runs)
}

fn insert(runs: &mut Runs, v: Value) -> Result<()> {
    let label = v["label"].as_str().unwrap_or_default().to_string();
    let parts: Vec<&str> = label.split('|').collect();
    let [scenario, shards, relay, _round] = parts[..] else {
        bail!("label {label:?} is not scenario|shards|relay|round");
    };
    runs.entry(Key {
        scenario: scenario.into(),
        shards: shards.into(),
    })
    .or_default()
    .entry(relay.into())
    .or_default()
    .push(v);
    Ok(())
}

/// Median over the rounds of one relay's value at `pointer`.
pub(crate) fn median_of(
    runs: &Runs,
    scenario: &str,
    shards: &str,
    relay: &str,
    pointer: &str,
) -> Option<f64> {
    median(&mut values_of(runs, scenario, shards, relay, pointer))
}

/// One relay's value at `pointer` in each round that has one.
pub(crate) fn values_of(
    runs: &Runs,
    scenario: &str,
    shards: &str,
    relay: &str,
    pointer: &str,
) -> Vec<f64> {
    let key = Key {
        scenario: scenario.into(),
        shards: shards.into(),
    };
    runs.get(&key)
        .and_then(|r| r.get(relay))
        .map_or_else(Vec::new, |reports| values_at(reports, pointer))
}

/// The number at `pointer` in each report that has one. A report lists an
/// error kind only when it occurred, so a missing `/errors/...` count is 0.
pub(crate) fn values_at(reports: &[Value], pointer: &str) -> Vec<f64> {
    reports
        .iter()
        .filter_map(|v| match v.pointer(pointer) {
            Some(x) => x.as_f64(),
            None if pointer.starts_with("/errors/") && v["errors"].is_object() => Some(0.0),
            None => None,
        })
        .collect()
}

/// The relays with at least one report in any of `keys`, in table order.
pub(crate) fn relays_in(runs: &Runs, keys: &[&Key]) -> Vec<&'static str> {
    RELAYS
        .iter()
        .map(|(r, _)| *r)
        .filter(|r| keys.iter().any(|k| runs[*k].contains_key(*r)))
        .collect()
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use serde_json::json;

    /// Reports grouped as `summarize` groups files.
    pub(crate) fn runs_of(reports: Vec<Value>) -> Runs {
        let mut runs = Runs::new();
        for v in reports {
            insert(&mut runs, v).expect("test label");
        }
        runs
    }

    /// A burst run with a settle wait; `closed` = server_closed count, if any.
    pub(crate) fn burst(label: &str, closed: Option<u64>, before: u64, after: u64) -> Value {
        let mut errors = json!({"io_error": {"count": 1, "example": "reset"}});
        if let Some(c) = closed {
            errors["server_closed"] = json!({"count": c, "example": "x"});
        }
        json!({
            "label": label,
            "config": {"rate": "max", "settle_s": 30.0},
            "traffic": {"delivered_pps": 1000.0, "lost": 0, "disconnects": closed.unwrap_or(0) + 1},
            "errors": errors,
            "server": {"rss_before_kib": before, "rss_peak_kib": 921600, "rss_end_kib": 409600,
                       "rss_after_settle_kib": after, "fds_after_settle": 12}
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_counts_need_a_report_with_errors() {
        let with = json!({"errors": {}});
        let without = json!({"traffic": {}});
        assert_eq!(
            values_at(&[with, without], "/errors/server_closed/count"),
            [0.0]
        );
        assert!(values_at(&[json!({"errors": {}})], "/server/rss_peak_kib").is_empty());
    }
}
