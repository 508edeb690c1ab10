//! The last run as a metrics text file for node_exporter's textfile
//! collector. Gauges only: the file is read both as Prometheus text and as
//! OpenMetrics (`# EOF` is a comment to the former).

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;

use super::exchange::Direction;
use super::report::{Report, Status};

/// Renders `report`.
pub fn render(report: &Report) -> String {
    let url = escape(&report.url);
    let protocol = report.protocol.name();
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(
                out,
                "{name}{{url=\"{url}\",protocol=\"{protocol}\"{labels}}} {value}"
            );
        }
    };
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    gauge(
        "uring_relay_probe_success",
        "Whether every check of the last probe run passed.",
        &[(String::new(), flag(report.ok()))],
    );
    let checks: Vec<_> = report
        .checks
        .iter()
        .map(|c| (format!(",check=\"{}\"", c.name), c))
        .collect();
    gauge(
        "uring_relay_probe_check_success",
        "Whether the check passed in the last run (a skipped check is 0).",
        &checks
            .iter()
            .map(|(l, c)| (l.clone(), flag(c.ok())))
            .collect::<Vec<_>>(),
    );
    gauge(
        "uring_relay_probe_check_duration_seconds",
        "How long the check took in the last run.",
        &checks
            .iter()
            .filter(|(_, c)| !matches!(c.status, Status::Skipped(_)))
            .map(|(l, c)| (l.clone(), c.duration.as_secs_f64()))
            .collect::<Vec<_>>(),
    );
    if let Some(rtt) = report.rtt() {
        gauge(
            "uring_relay_probe_rtt_seconds",
            "Round-trip time client to client and back through the relay in the last run.",
            &[
                (",stat=\"min\"".to_owned(), rtt.min.as_secs_f64()),
                (",stat=\"median\"".to_owned(), rtt.median.as_secs_f64()),
                (",stat=\"max\"".to_owned(), rtt.max.as_secs_f64()),
            ],
        );
    }
    let directions: Vec<(&str, &Direction)> =
        [("a_to_b", &report.a_to_b), ("b_to_a", &report.b_to_a)]
            .into_iter()
            .filter_map(|(n, d)| d.as_ref().map(|d| (n, d)))
            .collect();
    if !directions.is_empty() {
        let per = |f: fn(&Direction) -> usize| {
            directions
                .iter()
                .map(|(n, d)| (format!(",direction=\"{n}\""), f(d) as f64))
                .collect::<Vec<_>>()
        };
        gauge(
            "uring_relay_probe_packets_sent",
            "Probe packets sent in the last run.",
            &per(|d| d.sent),
        );
        gauge(
            "uring_relay_probe_packets_delivered",
            "Probe packets the other client received in the last run.",
            &per(|d| d.delivered),
        );
        gauge(
            "uring_relay_probe_packets_returned",
            "Probe packets echoed back to their sender in the last run.",
            &per(|d| d.returned),
        );
    }
    gauge(
        "uring_relay_probe_duration_seconds",
        "How long the last probe run took.",
        &[(String::new(), report.duration.as_secs_f64())],
    );
    gauge(
        "uring_relay_probe_last_run_timestamp_seconds",
        "When the last probe run started, in seconds since the Unix epoch.",
        &[(String::new(), report.timestamp())],
    );
    out.push_str("# EOF\n");
    out
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes `text` to a temporary file beside `path`, then renames it over
/// `path`, so a collector never reads half a file.
pub fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Check;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn text_and_atomic_write() {
        let report = Report {
            url: "http://h:1/\"x\"".into(),
            protocol: Default::default(),
            warnings: vec![],
            address: None,
            started: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            duration: Duration::from_millis(250),
            count: 5,
            checks: vec![Check {
                name: "ping",
                status: Status::Pass,
                duration: Duration::from_millis(2),
                detail: String::new(),
            }],
            a_to_b: Some(Direction {
                sent: 5,
                delivered: 5,
                returned: 4,
                rtts: vec![Duration::from_millis(1); 4],
                error: None,
            }),
            b_to_a: None,
        };
        let text = render(&report);
        assert!(text.contains(
            "uring_relay_probe_success{url=\"http://h:1/\\\"x\\\"\",protocol=\"derp\"} 1\n"
        ));
        assert!(text.contains(
            "uring_relay_probe_check_success{url=\"http://h:1/\\\"x\\\"\",protocol=\"derp\",check=\"ping\"} 1\n"
        ));
        assert!(text.contains(",stat=\"median\"} 0.001\n"));
        assert!(text.contains(",direction=\"a_to_b\"} 4\n"));
        assert!(text.contains("uring_relay_probe_last_run_timestamp_seconds{url=\"http://h:1/\\\"x\\\"\",protocol=\"derp\"} 1700000000\n"));
        assert!(text.ends_with("# EOF\n"));
        let dir = std::env::temp_dir().join(format!("probe-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("relay.prom");
        write_atomic(&path, &text).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temp file left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
