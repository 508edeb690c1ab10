//! What one probe run found: each check's outcome, the packet counts and
//! round-trip times, as a human summary or one JSON object.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::codec::Protocol;
use super::exchange::Direction;
use super::net::{millis, secs};

/// Check names, in the order they run (also the metrics' `check` label).
pub const CHECKS: [&str; 6] = [
    "generate_204",
    "ping",
    "connect_a",
    "connect_b",
    "forward_a_to_b",
    "forward_b_to_a",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail(String),
    /// Not run because an earlier check failed (the reason says which).
    Skipped(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub duration: Duration,
    /// What a passing check verified.
    pub detail: String,
}

impl Check {
    pub fn ok(&self) -> bool {
        self.status == Status::Pass
    }

    /// `ok    name    1.20 ms  detail` (or FAIL/skip and the reason).
    pub fn line(&self) -> String {
        let (word, text) = match &self.status {
            Status::Pass => ("ok  ", self.detail.as_str()),
            Status::Fail(r) => ("FAIL", r.as_str()),
            Status::Skipped(r) => ("skip", r.as_str()),
        };
        let time = match self.status {
            Status::Skipped(_) => String::new(),
            _ => millis(self.duration),
        };
        format!("{word}  {:<15} {time:>10}  {text}", self.name)
    }

    /// `{name, ok, seconds, detail, error, skipped}`.
    pub fn to_json(&self) -> Value {
        let (error, skipped) = match &self.status {
            Status::Pass => (None, None),
            Status::Fail(r) => (Some(r.as_str()), None),
            Status::Skipped(r) => (None, Some(r.as_str())),
        };
        json!({
            "name": self.name,
            "ok": self.ok(),
            "seconds": self.duration.as_secs_f64(),
            "detail": self.detail,
            "error": error,
            "skipped": skipped,
        })
    }
}

/// Round-trip times through the relay (each one passes it twice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtt {
    pub samples: usize,
    pub min: Duration,
    pub median: Duration,
    pub max: Duration,
}

impl Rtt {
    pub fn of(samples: &[Duration]) -> Option<Rtt> {
        let mut v = samples.to_vec();
        v.sort_unstable();
        let mid = v.len() / 2;
        let median = if v.len().is_multiple_of(2) {
            (*v.get(mid.checked_sub(1)?)? + *v.get(mid)?) / 2
        } else {
            *v.get(mid)?
        };
        Some(Rtt {
            samples: v.len(),
            min: *v.first()?,
            median,
            max: *v.last()?,
        })
    }

    fn text(&self) -> String {
        format!(
            "rtt min {}, median {}, max {}",
            millis(self.min),
            millis(self.median),
            millis(self.max)
        )
    }

    fn json(&self) -> Value {
        json!({
            "samples": self.samples,
            "min_seconds": self.min.as_secs_f64(),
            "median_seconds": self.median.as_secs_f64(),
            "max_seconds": self.max.as_secs_f64(),
        })
    }
}

/// One probe run.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub url: String,
    /// What the clients spoke.
    pub protocol: Protocol,
    /// What an operator must not miss even when every check passed
    /// (`--insecure`).
    pub warnings: Vec<String>,
    /// The address the relay was reached at (first connection).
    pub address: Option<String>,
    pub started: SystemTime,
    pub duration: Duration,
    /// Packets per direction.
    pub count: u32,
    pub checks: Vec<Check>,
    pub a_to_b: Option<Direction>,
    pub b_to_a: Option<Direction>,
}

impl Report {
    /// Whether every check passed.
    pub fn ok(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(Check::ok)
    }

    /// The first failure's reason: what to tell an operator first.
    pub fn error(&self) -> Option<&str> {
        self.checks.iter().find_map(|c| match &c.status {
            Status::Fail(r) => Some(r.as_str()),
            _ => None,
        })
    }

    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// Round trips of both directions together.
    pub fn rtt(&self) -> Option<Rtt> {
        let all: Vec<Duration> = [&self.a_to_b, &self.b_to_a]
            .into_iter()
            .flatten()
            .flat_map(|d| d.rtts.iter().copied())
            .collect();
        Rtt::of(&all)
    }

    /// Seconds since the Unix epoch at the start of the run.
    pub fn timestamp(&self) -> f64 {
        self.started
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }

    /// The human summary: one line per check, then the verdict.
    pub fn text(&self) -> String {
        let mut out = format!(
            "probe {}{} with {} at {}\n",
            self.url,
            self.address
                .as_deref()
                .map(|a| format!(" ({a})"))
                .unwrap_or_default(),
            self.protocol.describe(),
            httpdate::fmt_http_date(self.started)
        );
        for w in &self.warnings {
            out.push_str(&format!("  WARNING: {w}\n"));
        }
        for c in &self.checks {
            out.push_str(&format!("  {}\n", c.line()));
        }
        if self.ok() {
            let rtt = self.rtt().map(|r| format!("; {}", r.text()));
            out.push_str(&format!(
                "OK: all {} checks passed in {}{}\n",
                self.checks.len(),
                secs(self.duration),
                rtt.unwrap_or_default()
            ));
        } else {
            let failed = self
                .checks
                .iter()
                .filter(|c| matches!(c.status, Status::Fail(_)))
                .count();
            out.push_str(&format!(
                "FAILED ({failed} of {} checks): {}\n",
                self.checks.len(),
                self.error().unwrap_or("no checks ran")
            ));
        }
        out
    }

    /// One JSON object (see docs/probe.md for the fields).
    pub fn to_json(&self) -> Value {
        let checks: Vec<Value> = self.checks.iter().map(Check::to_json).collect();
        let direction = |d: &Option<Direction>| {
            d.as_ref().map(|d| {
                json!({
                    "sent": d.sent,
                    "delivered": d.delivered,
                    "returned": d.returned,
                    "rtt": Rtt::of(&d.rtts).map(|r| r.json()),
                })
            })
        };
        json!({
            "url": self.url,
            "protocol": self.protocol.name(),
            "warnings": self.warnings,
            "address": self.address,
            "ok": self.ok(),
            "error": self.error(),
            "timestamp": self.timestamp(),
            "duration_seconds": self.duration.as_secs_f64(),
            "checks": checks,
            "packets": {
                "count": self.count,
                "a_to_b": direction(&self.a_to_b),
                "b_to_a": direction(&self.b_to_a),
            },
            "rtt": self.rtt().map(|r| r.json()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_stats() {
        let ms = Duration::from_millis;
        let r = Rtt::of(&[ms(3), ms(1), ms(2)]).unwrap();
        assert_eq!(
            (r.min, r.median, r.max, r.samples),
            (ms(1), ms(2), ms(3), 3)
        );
        assert_eq!(Rtt::of(&[ms(1), ms(3)]).unwrap().median, ms(2));
        assert_eq!(Rtt::of(&[]), None);
    }

    #[test]
    fn verdict_and_json() {
        let mut r = Report {
            url: "http://h:1".into(),
            protocol: Protocol::V2,
            warnings: vec!["careful".into()],
            address: None,
            started: UNIX_EPOCH,
            duration: Duration::from_millis(5),
            count: 5,
            checks: vec![Check {
                name: "ping",
                status: Status::Pass,
                duration: Duration::ZERO,
                detail: "200".into(),
            }],
            a_to_b: None,
            b_to_a: None,
        };
        assert!(r.ok());
        assert!(r.text().contains("OK: all 1 checks passed"));
        assert!(r
            .text()
            .contains(" with iroh 1.x clients (iroh-relay-v2) at "));
        assert!(r.text().contains("\n  WARNING: careful\n"));
        assert_eq!(r.to_json()["protocol"], "v2");
        r.checks.push(Check {
            name: "connect_a",
            status: Status::Fail("no".into()),
            duration: Duration::ZERO,
            detail: String::new(),
        });
        assert!(!r.ok());
        assert_eq!(r.error(), Some("no"));
        let j = r.to_json();
        assert_eq!(j["ok"], false);
        assert_eq!(j["error"], "no");
        assert_eq!(j["checks"][1]["error"], "no");
        assert!(j["rtt"].is_null());
        assert!(r.text().ends_with("FAILED (1 of 2 checks): no\n"));
    }
}
