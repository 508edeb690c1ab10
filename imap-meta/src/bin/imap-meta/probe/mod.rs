//! `imap-meta probe`: relay discovery end to end, as a Delta Chat client
//! does it. Log in, send core's GETMETADATA, read the irohrelay URL, then
//! run `relay_probe` on it.

mod conn;
mod imap;
mod response;
mod settings;

use std::io::Write;
use std::process::ExitCode;

use serde_json::{json, Value};

use crate::cli::{ProbeArgs, ProbeTls};
use imap::Discovery;
use settings::Settings;

/// Runs the command; the exit status is as `--help` says.
pub fn main(args: ProbeArgs) -> ExitCode {
    let settings = match Settings::from_args(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("imap-meta probe: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("imap-meta probe: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let discovery = runtime.block_on(imap::discover(&settings));
    let relay = match (&discovery.relay_url, args.no_relay_probe) {
        (Some(url), false) => Some(probe_relay(url, &args)),
        _ => None,
    };
    let outcome = Outcome {
        settings: &settings,
        discovery: &discovery,
        relay: relay.as_ref(),
        relay_skipped: args.no_relay_probe,
    };
    let text = if args.json {
        format!("{}\n", outcome.to_json())
    } else {
        outcome.text()
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    if outcome.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The relay probe's report, or why the URL cannot be probed.
enum Relay {
    Report(Box<relay_probe::Report>),
    Unusable(String),
}

fn probe_relay(url: &str, args: &ProbeArgs) -> Relay {
    match relay_probe::Options::new(url) {
        Ok(mut opts) => {
            opts.timeout = args.timeout;
            opts.count = args.count;
            opts.protocol = args.relay_protocol;
            opts.token = args.relay_token.clone();
            opts.tls = relay_probe::TlsOptions {
                ca_file: args.ca_file.clone(),
                insecure: args.insecure,
            };
            Relay::Report(Box::new(relay_probe::run(&opts)))
        }
        Err(e) => Relay::Unusable(e.to_string()),
    }
}

struct Outcome<'a> {
    settings: &'a Settings,
    discovery: &'a Discovery,
    relay: Option<&'a Relay>,
    relay_skipped: bool,
}

impl Outcome<'_> {
    fn ok(&self) -> bool {
        self.discovery.ok()
            && match self.relay {
                Some(Relay::Report(r)) => r.ok(),
                Some(Relay::Unusable(_)) => false,
                None => self.relay_skipped,
            }
    }

    /// The first thing to tell an operator.
    fn error(&self) -> Option<String> {
        let imap = self.discovery.checks.iter().find_map(|c| match &c.status {
            relay_probe::Status::Fail(r) => Some(r.clone()),
            _ => None,
        });
        imap.or_else(|| {
            let url = self.discovery.relay_url.as_deref().unwrap_or_default();
            match self.relay {
                Some(Relay::Report(r)) => r.error().map(|e| format!("relay {url}: {e}")),
                Some(Relay::Unusable(e)) => Some(format!("the advertised relay URL: {e}")),
                None => None,
            }
        })
    }

    fn mode(&self) -> &'static str {
        match self.settings.tls {
            ProbeTls::Imaps => "imaps",
            ProbeTls::Starttls => "starttls",
            ProbeTls::Plain => "plain",
        }
    }

    fn text(&self) -> String {
        let s = self.settings;
        let mut out = format!(
            "imap-meta probe {}:{} ({}, user {})\n",
            s.host,
            s.port,
            self.mode(),
            s.user
        );
        for c in &self.discovery.checks {
            out.push_str(&format!("  {}\n", c.line()));
        }
        match self.relay {
            Some(Relay::Report(r)) => {
                out.push_str("relay ");
                for line in r.text().lines() {
                    out.push_str(line);
                    out.push_str("\n  ");
                }
                out.truncate(out.trim_end().len());
                out.push('\n');
            }
            Some(Relay::Unusable(e)) => out.push_str(&format!("relay not probed: {e}\n")),
            None if self.relay_skipped => out.push_str("relay not probed (--no-relay-probe)\n"),
            None => {}
        }
        match self.error() {
            None => {
                let url = self.discovery.relay_url.as_deref().unwrap_or_default();
                let relay = if self.relay_skipped {
                    "(relay not probed)"
                } else {
                    "and the relay passes every check"
                };
                out.push_str(&format!(
                    "OK: Delta Chat clients of {} discover {url} {relay}\n",
                    s.user
                ));
            }
            Some(e) => out.push_str(&format!("FAILED: {e}\n")),
        }
        out
    }

    fn to_json(&self) -> Value {
        let s = self.settings;
        let d = self.discovery;
        let entries: serde_json::Map<String, Value> = d
            .entries
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String)))
            .collect();
        let relay = match self.relay {
            Some(Relay::Report(r)) => r.to_json(),
            Some(Relay::Unusable(e)) => json!({ "ok": false, "error": e }),
            None => Value::Null,
        };
        json!({
            "ok": self.ok(),
            "error": self.error(),
            "imap": {
                "host": s.host,
                "port": s.port,
                "tls": self.mode(),
                "user": s.user,
                "ok": d.ok(),
                "checks": d.checks.iter().map(|c| c.to_json()).collect::<Vec<_>>(),
                "capabilities": d.capabilities,
                "entries": entries,
            },
            "relay_url": d.relay_url,
            "relay": relay,
        })
    }
}
