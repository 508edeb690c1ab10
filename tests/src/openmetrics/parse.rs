//! A strict-enough validator of both exposition formats: every sample
//! belongs to a family announced by `# HELP` and `# TYPE` lines before it,
//! families are contiguous and not repeated, names and labels are well
//! formed, values are numbers. OpenMetrics text ends with `# EOF` and names
//! a counter's family without `_total`; Prometheus text format 0.0.4 has no
//! `# EOF` and its HELP and TYPE name the samples themselves.

use std::collections::HashSet;

use anyhow::{bail, ensure, Context, Result};

use super::{Family, Format, Sample, Scrape};

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
fn sample_belongs(format: Format, family: &str, kind: &str, sample: &str) -> bool {
    let suffix = |s: &str| sample == format!("{family}{s}");
    match kind {
        "counter" if format == Format::Text => sample == family,
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
    parse_body(body, Format::OpenMetrics)
}

/// Parses and validates Prometheus text format 0.0.4, holding it to what
/// the relay writes: HELP and TYPE for every family, no other comments.
pub fn parse_text(text: &str) -> Result<Scrape> {
    ensure!(
        text.is_empty() || text.ends_with('\n'),
        "text does not end with a newline"
    );
    parse_body(text, Format::Text)
}

fn parse_body(body: &str, format: Format) -> Result<Scrape> {
    let mut scrape = Scrape {
        format,
        families: Vec::new(),
        samples: Vec::new(),
    };
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
            sample_belongs(format, family, kind, name),
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

    const GOOD_TEXT: &str = "# HELP a_b_total Some help.\n# TYPE a_b_total counter\na_b_total 3\n\
        # HELP h Histogram.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n\
        h_count 2\nh_sum 3.5\n";

    #[test]
    fn accepts_valid_prometheus_text() {
        let s = parse_text(GOOD_TEXT).unwrap();
        assert_eq!(s.value("a_b_total"), 3.0);
        assert_eq!(s.family("a_b_total").unwrap().kind, "counter");
        assert_eq!(s.text_names(), ["a_b_total", "h"]);
        assert_eq!(parse(GOOD).unwrap().text_names(), ["a_b_total", "g"]);
    }

    #[test]
    fn rejects_invalid_prometheus_text() {
        let bad = [
            ("eof", format!("{GOOD_TEXT}# EOF\n")),
            (
                "openmetrics counter",
                GOOD_TEXT.replace("a_b_total counter", "a_b counter"),
            ),
            (
                "no help",
                GOOD_TEXT.replace("# HELP a_b_total Some help.\n", ""),
            ),
            ("no type", GOOD_TEXT.replace("# TYPE h histogram\n", "")),
            ("other sample", GOOD_TEXT.replace("h_count", "h_total")),
            ("no newline", GOOD_TEXT.trim_end().to_string()),
        ];
        for (what, text) in bad {
            assert!(parse_text(&text).is_err(), "{what}: accepted {text:?}");
        }
    }
}
