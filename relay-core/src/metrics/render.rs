//! The metrics page: STUN's counters first (as the reference renders them),
//! then every family's counters summed over shards with a `family` label,
//! the shard-level ones, the histograms and the process-wide figures.
//! Gauges carry a `shard` label instead of being summed.
//!
//! The page is built once as a list of metric families and written in
//! either format; the two differ only in how HELP and TYPE name a counter
//! and in OpenMetrics' closing `# EOF`.

use std::fmt::{self, Write as _};

use super::{Counter, ProcessStats, ShardMetrics, Spec, StunMetrics};
use crate::proto::Family;

/// The exposition formats the page is served in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4: HELP and TYPE name the samples, a
    /// counter's `_total` included; no `# EOF`.
    Text,
    /// OpenMetrics 1.0: a counter's family is its name without `_total`;
    /// the page ends with `# EOF`.
    OpenMetrics,
}

impl Format {
    /// The `content-type` of a page in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Text => "text/plain; version=0.0.4; charset=utf-8",
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

enum Value {
    Int(u64),
    Float(f64),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(v) => write!(f, "{v}"),
            Self::Float(v) => write!(f, "{v}"),
        }
    }
}

/// One sample line: its family's name plus `suffix`, labels without braces.
struct Sample {
    suffix: &'static str,
    labels: String,
    value: Value,
}

/// One metric family; a counter's name is without `_total`.
struct Metric {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: Vec<Sample>,
}

type Entry<'a> = (&'static str, &'static str, &'static str, &'a Counter);

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a},{b}"),
    }
}

/// HELP text escaped as both formats require (OpenMetrics also escapes
/// double quotes).
fn escape_help(help: &str, format: Format) -> String {
    let mut out = String::with_capacity(help.len());
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if format == Format::OpenMetrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

#[derive(Default)]
struct Page {
    metrics: Vec<Metric>,
}

impl Page {
    /// Adds a sample to family `name`, announcing the family on first use;
    /// later samples of a family join it, so each is written once.
    fn add(&mut self, meta: (&'static str, &'static str, &'static str), sample: Sample) {
        let (name, kind, help) = meta;
        match self.metrics.iter_mut().find(|m| m.name == name) {
            Some(m) => m.samples.push(sample),
            None => self.metrics.push(Metric {
                name,
                kind,
                help,
                samples: vec![sample],
            }),
        }
    }

    /// A group's entries, `shards[shard][i]`: counters summed over shards,
    /// gauges one sample per shard. An entry's name may carry labels
    /// (`uring_relay_accept_errors{errno="EMFILE"}`); `label` goes first.
    fn add_group(&mut self, shards: &[Vec<Entry<'_>>], label: &str) {
        let Some(first) = shards.first() else { return };
        for (i, &(name, kind, help, _)) in first.iter().enumerate() {
            let (name, own) = match name.split_once('{') {
                Some((n, l)) => (n, l.trim_end_matches('}')),
                None => (name, ""),
            };
            let labels = join(label, own);
            let values = shards.iter().map(|s| s.get(i).map_or(0, |e| e.3.get()));
            if kind == "counter" {
                let value = Value::Int(values.sum());
                let suffix = "_total";
                self.add(
                    (name, kind, help),
                    Sample {
                        suffix,
                        labels,
                        value,
                    },
                );
            } else {
                for (s, v) in values.enumerate() {
                    let labels = join(&format!("shard=\"{s}\""), &labels);
                    let (suffix, value) = ("", Value::Int(v));
                    self.add(
                        (name, kind, help),
                        Sample {
                            suffix,
                            labels,
                            value,
                        },
                    );
                }
            }
        }
    }

    /// One histogram summed over shards: `shards[s]` is (bucket counts, sum).
    fn add_histogram(&mut self, spec: &'static Spec, shards: &[(Vec<u64>, u64)]) {
        let meta = (spec.name, "histogram", spec.help);
        let mut cumulative = 0;
        for i in 0..=spec.bounds.len() {
            cumulative += shards
                .iter()
                .map(|(b, _)| b.get(i).copied().unwrap_or(0))
                .sum::<u64>();
            let le = match spec.bounds.get(i) {
                Some(&b) => (b as f64 / spec.scale).to_string(),
                None => "+Inf".to_string(),
            };
            let labels = format!("le=\"{le}\"");
            let value = Value::Int(cumulative);
            self.add(
                meta,
                Sample {
                    suffix: "_bucket",
                    labels,
                    value,
                },
            );
        }
        let sum: u64 = shards.iter().map(|(_, s)| s).sum();
        let (labels, value) = (String::new(), Value::Int(cumulative));
        self.add(
            meta,
            Sample {
                suffix: "_count",
                labels,
                value,
            },
        );
        let (labels, value) = (String::new(), Value::Float(sum as f64 / spec.scale));
        self.add(
            meta,
            Sample {
                suffix: "_sum",
                labels,
                value,
            },
        );
    }

    /// An unlabelled gauge or counter.
    fn add_one(&mut self, meta: (&'static str, &'static str, &'static str), v: u64) {
        let suffix = if meta.1 == "counter" { "_total" } else { "" };
        let value = Value::Int(v);
        self.add(
            meta,
            Sample {
                suffix,
                labels: String::new(),
                value,
            },
        );
    }

    fn write(&self, format: Format) -> String {
        let mut out = String::new();
        for m in &self.metrics {
            let total = if m.kind == "counter" && format == Format::Text {
                "_total"
            } else {
                ""
            };
            let (name, help) = (m.name, escape_help(m.help, format));
            let _ = writeln!(
                out,
                "# HELP {name}{total} {help}\n# TYPE {name}{total} {}",
                m.kind
            );
            for s in &m.samples {
                let labels = if s.labels.is_empty() {
                    String::new()
                } else {
                    format!("{{{}}}", s.labels)
                };
                let _ = writeln!(out, "{name}{}{labels} {}", s.suffix, s.value);
            }
        }
        if format == Format::OpenMetrics {
            out.push_str("# EOF\n");
        }
        out
    }
}

/// Renders the page in `format`.
pub fn render(
    stun: Option<&StunMetrics>,
    shards: &[&ShardMetrics],
    process: ProcessStats,
    format: Format,
) -> String {
    let mut page = Page::default();
    if let Some(stun) = stun {
        page.add_group(&[stun.each().collect()], "");
    }
    for f in Family::ALL {
        let entries: Vec<Vec<_>> = shards
            .iter()
            .map(|s| s.family(f).each().collect())
            .collect();
        page.add_group(&entries, &format!("family=\"{}\"", f.label()));
    }
    let entries: Vec<Vec<_>> = shards.iter().map(|s| s.shard.each().collect()).collect();
    page.add_group(&entries, "");
    if let Some(first) = shards.first() {
        for (i, h) in first.histograms().iter().enumerate() {
            let all: Vec<_> = shards.iter().map(|s| s.histograms()[i].read()).collect();
            page.add_histogram(h.spec(), &all);
        }
    }
    add_process(&mut page, process);
    page.write(format)
}

fn add_process(page: &mut Page, process: ProcessStats) {
    for (name, help, v) in [
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
    ] {
        if let Some(v) = v {
            page.add_one((name, "gauge", help), v);
        }
    }
    if let Some(a) = process.allocator {
        let meta = (
            "uring_relay_allocator_bytes",
            "gauge",
            "Memory as the allocator sees it, by kind.",
        );
        for (kind, v) in [
            ("allocated", a.allocated),
            ("active", a.active),
            ("resident", a.resident),
            ("metadata", a.metadata),
            ("retained", a.retained),
            ("mapped", a.mapped),
        ] {
            let (labels, value) = (format!("kind=\"{kind}\""), Value::Int(v));
            page.add(
                meta,
                Sample {
                    suffix: "",
                    labels,
                    value,
                },
            );
        }
    }
    page.add_one(
        (
            "uring_relay_log_lines_dropped",
            "counter",
            "Log lines dropped because stderr was not taking them.",
        ),
        process.log_lines_dropped,
    );
    let r = process.reloads;
    let meta = (
        "uring_relay_config_reloads",
        "counter",
        "Config reloads (SIGHUP) applied, and rejected because the file was missing, unreadable or invalid.",
    );
    for (result, v) in [("applied", r.applied), ("rejected", r.rejected)] {
        let (labels, value) = (format!("result=\"{result}\""), Value::Int(v));
        page.add(
            meta,
            Sample {
                suffix: "_total",
                labels,
                value,
            },
        );
    }
    page.add_one(
        (
            "uring_relay_config_last_reload_successful",
            "gauge",
            "1 if the last config reload was applied (or none was tried), 0 if it was rejected.",
        ),
        u64::from(r.last_successful),
    );
}
