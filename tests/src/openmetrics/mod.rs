//! Scraping the metrics port, in either exposition format, into a validated
//! [`Scrape`] (docs/protocol-0.35.md §10). [`scrape`] asks for OpenMetrics,
//! as Prometheus does; [`scrape_text`] asks for nothing and gets Prometheus
//! text format 0.0.4. The validators are in [`parse`].

mod parse;

use std::net::SocketAddr;

use anyhow::{ensure, Context, Result};

pub use parse::{parse, parse_text};

use crate::{flavor, http, Flavor};

/// The two exposition formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0: a counter's family has no `_total`; ends with `# EOF`.
    OpenMetrics,
    /// Prometheus text 0.0.4: HELP and TYPE name the samples.
    Text,
}

/// The `Accept` header Prometheus sends.
pub const PROMETHEUS_ACCEPT: &str = "Accept: application/openmetrics-text;version=1.0.0,\
    application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// One metric family's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// As the format announces it in `# TYPE`.
    pub name: String,
    pub kind: String,
    pub help: String,
}

impl Family {
    /// The name Prometheus text format announces, whatever format it was
    /// read from: an OpenMetrics counter's name with `_total`.
    pub fn text_name(&self, format: Format) -> String {
        match (format, self.kind.as_str()) {
            (Format::OpenMetrics, "counter") => format!("{}_total", self.name),
            _ => self.name.clone(),
        }
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The family it belongs to.
    pub family: String,
    /// The exposed sample name (e.g. `<family>_total` for OpenMetrics counters).
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// A parsed, validated exposition.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub format: Format,
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

    /// Every family's name as Prometheus text format announces it.
    pub fn text_names(&self) -> Vec<String> {
        self.families
            .iter()
            .map(|f| f.text_name(self.format))
            .collect()
    }
}

/// The sample name of a rate-limit counter (`what` is `frames`, `conns` or
/// `bytes`) on the relay under test. iroh-relay 0.35 doubles the `_total`
/// of the first two (`relayserver_frames_rx_ratelimited_total_total`);
/// uring-relay spells them as iroh-relay 1.4.1 does, for both families.
pub fn ratelimited(what: &str) -> String {
    let doubled = flavor() == Flavor::Reference && what != "bytes";
    let extra = if doubled { "_total" } else { "" };
    format!("relayserver_{what}_rx_ratelimited_total{extra}")
}

/// `GET /metrics` on `addr` asking for OpenMetrics as Prometheus does:
/// requires 200 and a `text/plain` or `application/openmetrics-text`
/// content type, then parses and validates the body as OpenMetrics.
pub async fn scrape(addr: SocketAddr) -> Result<Scrape> {
    let body = fetch(addr, &[PROMETHEUS_ACCEPT]).await?;
    parse(&body).context("metrics text is not valid OpenMetrics")
}

/// `GET /metrics` on `addr` with no `Accept`: requires 200 and
/// `text/plain`, then parses and validates the body as Prometheus text
/// format 0.0.4.
pub async fn scrape_text(addr: SocketAddr) -> Result<Scrape> {
    let body = fetch(addr, &[]).await?;
    parse_text(&body).context("metrics text is not valid Prometheus text format")
}

async fn fetch(addr: SocketAddr, headers: &[&str]) -> Result<String> {
    let host = addr.to_string();
    let resp = http::roundtrip(addr, &http::get_request("/metrics", &host, headers)).await?;
    ensure!(resp.status == 200, "metrics status {}", resp.status);
    let ct = resp.header("content-type").unwrap_or_default();
    let want_text = headers.is_empty();
    ensure!(
        ct.starts_with("text/plain")
            || (!want_text && ct.starts_with("application/openmetrics-text")),
        "metrics content-type {ct:?}"
    );
    Ok(resp.body_text())
}
