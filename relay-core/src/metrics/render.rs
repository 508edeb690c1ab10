//! OpenMetrics text: STUN's counters first (as the reference renders
//! them), then every family's counters summed over shards with a `family`
//! label, the shard-level ones, and process figures. Gauges carry a
//! `shard` label instead of being summed.

use std::fmt::Write as _;

use super::{Counter, ShardMetrics, Spec, StunMetrics};
use crate::proto::Family;

/// Process-wide figures, read at scrape time.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessStats {
    pub rss_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    /// The soft `RLIMIT_NOFILE`: accepts fail once open fds reach it.
    pub max_fds: Option<u64>,
    pub log_lines_dropped: u64,
    pub allocator: Option<AllocatorStats>,
}

/// jemalloc's own figures: what the program holds (`allocated`), the
/// pages backing it (`active`), what is resident including the
/// allocator's metadata and not yet purged pages (`resident`), and
/// address space kept for reuse (`retained`, not resident); and beside
/// jemalloc, the large blocks mapped on their own (`mapped`, see
/// [`crate::large_alloc`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct AllocatorStats {
    pub allocated: u64,
    pub active: u64,
    pub resident: u64,
    pub metadata: u64,
    pub retained: u64,
    pub mapped: u64,
}

impl AllocatorStats {
    /// Reads the allocator's current statistics (refreshing its cache
    /// first); `None` when the process does not run on jemalloc.
    pub fn read() -> Option<Self> {
        use tikv_jemalloc_ctl::{epoch, stats};
        epoch::advance().ok()?;
        let s = Self {
            allocated: stats::allocated::read().ok()? as u64,
            active: stats::active::read().ok()? as u64,
            resident: stats::resident::read().ok()? as u64,
            metadata: stats::metadata::read().ok()? as u64,
            retained: stats::retained::read().ok()? as u64,
            mapped: crate::large_alloc::mapped_bytes() as u64,
        };
        // A process on another allocator has an idle jemalloc.
        (s.resident > 0 && s.allocated > 0).then_some(s)
    }
}

impl ProcessStats {
    pub fn read() -> Self {
        Self {
            rss_bytes: process_rss_bytes(),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|d| d.count() as u64),
            max_fds: crate::fdlimit::get().ok().map(|(soft, _)| soft),
            log_lines_dropped: crate::logging::dropped_lines(),
            allocator: AllocatorStats::read(),
        }
    }
}

/// One histogram summed over shards: `shards[s]` is (bucket counts, sum).
fn render_histogram(out: &mut String, spec: &Spec, shards: &[(Vec<u64>, u64)]) {
    let name = spec.name;
    let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} histogram", spec.help);
    let buckets = spec.bounds.len() + 1;
    let mut cumulative = 0;
    for i in 0..buckets {
        cumulative += shards
            .iter()
            .map(|(b, _)| b.get(i).copied().unwrap_or(0))
            .sum::<u64>();
        match spec.bounds.get(i) {
            Some(&b) => {
                let le = b as f64 / spec.scale;
                let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
            }
            None => {
                let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
            }
        }
    }
    let sum: u64 = shards.iter().map(|(_, s)| s).sum();
    let _ = writeln!(
        out,
        "{name}_count {cumulative}\n{name}_sum {}",
        sum as f64 / spec.scale
    );
}

/// VmRSS of this process, from /proc.
pub fn process_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

type Entry<'a> = (&'static str, &'static str, &'static str, &'a Counter);

/// One metric family's samples: per (label set) the value on each shard.
struct Family_<'a> {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    /// (extra labels, value per shard)
    series: Vec<(String, Vec<u64>)>,
    _p: std::marker::PhantomData<&'a ()>,
}

/// How a family spells a counter: 0.35 exposes `…_ratelimited_total_total`
/// (its fields already end in `_total`), 1.4.1 fixed that to
/// `…_ratelimited_total`; each family keeps its reference's name so
/// existing dashboards read on.
fn family_name(f: Family) -> fn(&'static str) -> &'static str {
    match f {
        Family::V035 => |n| n,
        Family::V1x => |n| n.strip_suffix("_total").unwrap_or(n),
    }
}

/// Renders everything; a name may carry labels (`family{errno="EMFILE"}`),
/// and consecutive entries of one metric family share its HELP and TYPE.
pub fn render(
    stun: Option<&StunMetrics>,
    shards: &[&ShardMetrics],
    process: ProcessStats,
) -> String {
    let mut out = String::new();
    if let Some(stun) = stun {
        for (name, kind, help, c) in stun.each() {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}_total {}",
                c.get()
            );
        }
    }
    let mut families: Vec<Family_<'_>> = Vec::new();
    let mut add = |entries: Vec<Vec<Entry<'_>>>,
                   label: Option<String>,
                   rename: fn(&'static str) -> &'static str| {
        // entries[shard][i]
        let Some(first) = entries.first() else { return };
        for (i, (name, kind, help, _)) in first.iter().enumerate() {
            let name = rename(name);
            let (fam, labels) = match name.split_once('{') {
                Some((f, l)) => (f, l.trim_end_matches('}').to_string()),
                None => (name, String::new()),
            };
            let labels = match (&label, labels.is_empty()) {
                (Some(l), true) => l.clone(),
                (Some(l), false) => format!("{l},{labels}"),
                (None, _) => labels,
            };
            let values = entries
                .iter()
                .map(|s| s.get(i).map_or(0, |e| e.3.get()))
                .collect();
            match families.iter_mut().find(|f| f.name == fam) {
                Some(f) => f.series.push((labels, values)),
                None => families.push(Family_ {
                    name: fam,
                    kind,
                    help,
                    series: vec![(labels, values)],
                    _p: std::marker::PhantomData,
                }),
            }
        }
    };
    for f in Family::ALL {
        let entries = shards
            .iter()
            .map(|s| s.family(f).each().collect())
            .collect();
        add(
            entries,
            Some(format!("family=\"{}\"", f.label())),
            family_name(f),
        );
    }
    add(
        shards.iter().map(|s| s.shard.each().collect()).collect(),
        None,
        |n| n,
    );
    for f in &families {
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} {}",
            f.name, f.help, f.name, f.kind
        );
        for (labels, values) in &f.series {
            if f.kind == "counter" {
                let total: u64 = values.iter().sum();
                let labels = if labels.is_empty() {
                    String::new()
                } else {
                    format!("{{{labels}}}")
                };
                let _ = writeln!(out, "{}_total{labels} {total}", f.name);
            } else {
                let sep = if labels.is_empty() { "" } else { "," };
                for (s, v) in values.iter().enumerate() {
                    let _ = writeln!(out, "{}{{shard=\"{s}\"{sep}{labels}}} {v}", f.name);
                }
            }
        }
    }
    if let Some(first) = shards.first() {
        for (i, h) in first.histograms().iter().enumerate() {
            let all: Vec<_> = shards.iter().map(|s| s.histograms()[i].read()).collect();
            render_histogram(&mut out, h.spec(), &all);
        }
    }
    let gauges = [
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            process.rss_bytes,
        ),
        (
            "process_open_fds",
            "Number of open file descriptors.",
            process.open_fds,
        ),
        (
            "process_max_fds",
            "Maximum number of open file descriptors.",
            process.max_fds,
        ),
    ];
    for (name, help, v) in gauges {
        if let Some(v) = v {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
    }
    if let Some(a) = process.allocator {
        let _ = writeln!(
            out,
            "# HELP uring_relay_allocator_bytes Memory as the allocator sees it, by kind.\n\
             # TYPE uring_relay_allocator_bytes gauge"
        );
        for (kind, v) in [
            ("allocated", a.allocated),
            ("active", a.active),
            ("resident", a.resident),
            ("metadata", a.metadata),
            ("retained", a.retained),
            ("mapped", a.mapped),
        ] {
            let _ = writeln!(out, "uring_relay_allocator_bytes{{kind=\"{kind}\"}} {v}");
        }
    }
    let _ = writeln!(
        out,
        "# HELP uring_relay_log_lines_dropped Log lines dropped because stderr was not taking them.\n\
         # TYPE uring_relay_log_lines_dropped counter\n\
         uring_relay_log_lines_dropped_total {}",
        process.log_lines_dropped
    );
    out.push_str("# EOF\n");
    out
}
