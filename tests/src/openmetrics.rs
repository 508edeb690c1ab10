//! Scraping the metrics port and a strict-enough OpenMetrics text validator
//! (docs/protocol-0.35.md §10): every sample belongs to a family announced by
//! `# HELP` and `# TYPE` lines before it, families are contiguous and not
//! repeated, names and labels are well formed, values are numbers, and the
//! text ends with `# EOF`.

use std::{collections::HashSet, net::SocketAddr};

use anyhow::{bail, ensure, Context, Result};

use crate::http;

/// One metric family's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: String,
    pub help: String,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The family it belongs to.
    pub family: String,
    /// The exposed sample name (e.g. `<family>_total` for counters).
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// A parsed, validated exposition.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub families: Vec<Family>,
    pub samples: Vec<Sample>,
}

impl Scrape {
    /// The sum of every sample named `name` (over all label sets); `None` if
    /// there is no such sample.
    pub fn get(&self, name: &str) -> Option<f64> {
        let mut found = false;
        let mut sum = 0.0;
        for s in self.samples.iter().filter(|s| s.name == name) {
            found = true;
            sum += s.value;
        }
        found.then_some(sum)
    }

    /// As [`Self::get`], panicking (failing the test) when absent.
    pub fn value(&self, name: &str) -> f64 {
        match self.get(name) {
            Some(v) => v,
            None => panic!(
                "metric sample {name} missing; samples: {:?}",
                self.samples.iter().map(|s| &s.name).collect::<Vec<_>>()
            ),
        }
    }

    /// The samples named `name`, with their labels.
    pub fn samples_named(&self, name: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.name == name).collect()
    }

    /// The family `name`, if announced.
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }
}

/// `GET /metrics` on `addr`: requires 200 and a `text/plain` content type,
/// then parses and validates the body.
pub async fn scrape(addr: SocketAddr) -> Result<Scrape> {
    scrape_path(addr, "/metrics").await
}

/// As [`scrape`] on any path.
pub async fn scrape_path(addr: SocketAddr, path: &str) -> Result<Scrape> {
    let host = addr.to_string();
    let resp = http::roundtrip(addr, &http::get_request(path, &host, &[])).await?;
    ensure!(resp.status == 200, "metrics status {}", resp.status);
    let ct = resp.header("content-type").unwrap_or_default();
    ensure!(
        ct.starts_with("text/plain") || ct.starts_with("application/openmetrics-text"),
        "metrics content-type {ct:?}"
    );
    parse(&resp.body_text()).context("metrics text is not valid OpenMetrics")
}

const TYPES: [&str; 8] = [
    "counter",
    "gauge",
    "histogram",
    "gaugehistogram",
    "stateset",
    "info",
    "summary",
    "unknown",
];

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Sample names a family of `kind` may expose.
fn sample_belongs(family: &str, kind: &str, sample: &str) -> bool {
    let suffix = |s: &str| sample == format!("{family}{s}");
    match kind {
        "counter" => suffix("_total") || suffix("_created"),
        "histogram" | "gaugehistogram" => {
            suffix("_bucket")
                || suffix("_count")
                || suffix("_sum")
                || suffix("_created")
                || suffix("_gcount")
                || suffix("_gsum")
        }
        "summary" => sample == family || suffix("_count") || suffix("_sum") || suffix("_created"),
        "info" => suffix("_info"),
        _ => sample == family,
    }
}

fn parse_value(s: &str) -> Result<f64> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => {
            ensure!(
                s.chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')),
                "value {s:?} is not a number"
            );
            s.parse::<f64>()
                .with_context(|| format!("value {s:?} is not a number"))
        }
    }
}

/// Parses `{a="b",c="d"}` at the start of `s`; returns labels and the rest.
fn parse_labels(s: &str) -> Result<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    let mut rest = s.strip_prefix('{').context("labels must start with '{'")?;
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((labels, r));
        }
        let eq = rest.find('=').context("label without '='")?;
        let name = &rest[..eq];
        ensure!(is_label_name(name), "bad label name {name:?}");
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .context("label value must be quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => bail!("unterminated label value"),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => bail!("bad escape {other:?} in label value"),
                },
                Some((_, c)) => value.push(c),
            }
        };
        ensure!(
            !labels.iter().any(|(n, _)| n == name),
            "label {name} repeated"
        );
        labels.push((name.to_owned(), value));
        rest = &rest[end + 1..];
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else {
            ensure!(rest.starts_with('}'), "expected ',' or '}}' after a label");
        }
    }
}

/// Parses and validates OpenMetrics text.
pub fn parse(text: &str) -> Result<Scrape> {
    let body = text
        .strip_suffix("# EOF\n")
        .or_else(|| text.strip_suffix("# EOF"))
        .context("text does not end with \"# EOF\"")?;
    ensure!(
        body.is_empty() || body.ends_with('\n'),
        "\"# EOF\" is not on its own line"
    );
    let mut scrape = Scrape::default();
    // Family metadata being collected, and families already closed.
    let mut current: Option<(String, Option<String>, Option<String>)> = None;
    let mut seen: HashSet<String> = HashSet::new();
    let mut series: HashSet<String> = HashSet::new();
    for (n, line) in body.lines().enumerate() {
        let at = || format!("line {}: {line:?}", n + 1);
        ensure!(!line.is_empty(), "{}: empty line", at());
        if let Some(meta) = line.strip_prefix("# ") {
            let (keyword, rest) = meta.split_once(' ').unwrap_or((meta, ""));
            let (name, arg) = rest.split_once(' ').unwrap_or((rest, ""));
            ensure!(is_metric_name(name), "{}: bad metric name", at());
            let same = current.as_ref().is_some_and(|c| c.0 == name);
            if !same {
                ensure!(
                    seen.insert(name.to_owned()),
                    "{}: family {name} announced twice",
                    at()
                );
                current = Some((name.to_owned(), None, None));
            }
            let cur = current.as_mut().expect("set above");
            match keyword {
                "HELP" => {
                    ensure!(cur.1.is_none(), "{}: second HELP", at());
                    cur.1 = Some(arg.to_owned());
                }
                "TYPE" => {
                    ensure!(cur.2.is_none(), "{}: second TYPE", at());
                    ensure!(TYPES.contains(&arg), "{}: unknown type {arg:?}", at());
                    cur.2 = Some(arg.to_owned());
                }
                "UNIT" => {}
                other => bail!("{}: unknown comment keyword {other:?}", at()),
            }
            continue;
        }
        ensure!(!line.starts_with('#'), "{}: stray comment", at());
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        ensure!(is_metric_name(name), "{}: bad sample name", at());
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..]).with_context(at)?
        } else {
            (Vec::new(), &line[name_end..])
        };
        let rest = rest
            .strip_prefix(' ')
            .with_context(|| format!("{}: no value", at()))?;
        let mut parts = rest.split(' ');
        let value = parse_value(parts.next().unwrap_or_default()).with_context(at)?;
        if let Some(ts) = parts.next() {
            parse_value(ts).with_context(|| format!("{}: bad timestamp", at()))?;
        }
        ensure!(parts.next().is_none(), "{}: trailing fields", at());

        let (family, help, kind) = current
            .as_ref()
            .with_context(|| format!("{}: sample before any # HELP/# TYPE", at()))?;
        ensure!(help.is_some(), "{}: family {family} has no # HELP", at());
        let kind = kind
            .as_deref()
            .with_context(|| format!("{}: family {family} has no # TYPE", at()))?;
        ensure!(
            sample_belongs(family, kind, name),
            "{}: sample {name} does not belong to {kind} family {family}",
            at()
        );
        if kind == "counter" {
            ensure!(
                value.is_finite() && value >= 0.0,
                "{}: counter value {value}",
                at()
            );
        }
        let key = format!("{name}{labels:?}");
        ensure!(series.insert(key), "{}: duplicate series", at());
        if !scrape.families.iter().any(|f| &f.name == family) {
            scrape.families.push(Family {
                name: family.clone(),
                kind: kind.to_owned(),
                help: help.clone().unwrap_or_default(),
            });
        }
        scrape.samples.push(Sample {
            family: family.clone(),
            name: name.to_owned(),
            labels,
            value,
        });
    }
    Ok(scrape)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "# HELP a_b Some help..\n# TYPE a_b counter\na_b_total 3\n\
        # HELP g Gauge.\n# TYPE g gauge\ng{shard=\"0\"} 1\ng{shard=\"1\"} 2.5\n# EOF\n";

    #[test]
    fn accepts_valid_text() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.value("a_b_total"), 3.0);
        assert_eq!(s.value("g"), 3.5);
        assert_eq!(
            s.samples_named("g")[1].labels,
            [("shard".into(), "1".into())]
        );
        assert_eq!(s.family("a_b").unwrap().kind, "counter");
        assert!(parse("# EOF\n").unwrap().samples.is_empty());
    }

    #[test]
    fn rejects_invalid_text() {
        let bad = [
            ("no eof", GOOD.replace("# EOF\n", "")),
            ("after eof", format!("{GOOD}x 1\n")),
            ("no help", GOOD.replace("# HELP a_b Some help..\n", "")),
            ("no type", GOOD.replace("# TYPE a_b counter\n", "")),
            (
                "counter without _total",
                GOOD.replace("a_b_total 3", "a_b 3"),
            ),
            ("bad value", GOOD.replace("a_b_total 3", "a_b_total three")),
            ("bad name", GOOD.replace("g{", "9g{")),
            (
                "other family",
                GOOD.replace("g{shard=\"1\"}", "h{shard=\"1\"}"),
            ),
            ("bad label", GOOD.replace("shard=\"0\"", "shard=0")),
            (
                "empty line",
                GOOD.replace("a_b_total 3\n", "a_b_total 3\n\n"),
            ),
            (
                "negative counter",
                GOOD.replace("a_b_total 3", "a_b_total -1"),
            ),
            (
                "repeated family",
                GOOD.replace(
                    "# EOF\n",
                    "# HELP a_b x\n# TYPE a_b counter\na_b_total 1\n# EOF\n",
                ),
            ),
            (
                "duplicate series",
                GOOD.replace("shard=\"1\"", "shard=\"0\""),
            ),
            ("sample first", format!("x 1\n{GOOD}")),
        ];
        for (what, text) in bad {
            assert!(parse(&text).is_err(), "{what}: accepted {text:?}");
        }
    }
}
