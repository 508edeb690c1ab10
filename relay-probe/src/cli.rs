//! The `uring-relay probe` command line: one run, or a monitor loop.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::{metrics, run, Options, Protocol, Report, TlsOptions};

/// `uring-relay probe`'s options (the subcommand's help text is in
/// `relay-core/src/bin/uring-relay/main.rs`).
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Protocols (--protocol): derp (default) and ws are iroh 0.35 clients, over
`Upgrade: iroh derp http` and over a websocket; v2 and v1 are iroh 1.x
clients, a websocket with `Sec-WebSocket-Protocol: iroh-relay-v2` or
`iroh-relay-v1`. Probe a relay with both derp and v2 to cover Delta Chat's
0.35 clients and iroh 1.x ones.

TLS: an https:// URL is checked as clients do (SNI and the certificate for
the URL's host) against the system's trusted CAs; --ca-file FILE trusts the
CA certificates in FILE instead; --insecure skips the certificate check and
says so in every report.

Access tokens: --token TOKEN, or ?token= in the URL, is presented by 1.x
clients (the URL's query on GET /relay, --token as `Authorization: Bearer`).
iroh 0.35 clients cannot send a token: a relay with access.shared_token
refuses them, and the probe says so.

Exit status: 0 when every check passed, 1 when one failed, 2 for a usage
error (a bad option, a URL the probe cannot use, an unreadable --ca-file).

Monitoring: with --interval the probe runs until stopped, one report per
interval, and keeps running after failed runs (each is printed and, with
--metrics-file, written for node_exporter's textfile collector; alert on
uring_relay_probe_success == 0). --exit-on-failure instead ends it with
status 1 at the first failed run, for a supervisor to act on.

Examples:
  uring-relay probe https://mail.example.org                 # chatmail, via nginx
  uring-relay probe https://mail.example.org --protocol v2
  uring-relay probe http://127.0.0.1:3340 --interval 60 \\
      --metrics-file /var/lib/prometheus/node-exporter/uring_relay_probe.prom")]
pub struct ProbeArgs {
    /// Relay URL, e.g. https://mail.example.org or
    /// http://relay.example.org:3340 (the path is ignored: iroh clients
    /// always dial /relay; a ?token= is presented by 1.x clients).
    #[arg(value_name = "URL")]
    pub url: String,
    /// What the two clients speak: derp or ws (iroh 0.35), v2 or v1 (iroh 1.x).
    #[arg(long, value_enum, default_value = "derp")]
    pub protocol: Protocol,
    /// Access token for a relay with access.shared_token, sent by 1.x
    /// clients as `Authorization: Bearer TOKEN`.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// PEM file with the CA certificates to verify an https:// relay with
    /// [default: the system's trusted CAs].
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub ca_file: Option<PathBuf>,
    /// Do not verify an https:// relay's certificate (reports say so).
    #[arg(long)]
    pub insecure: bool,
    /// Print one JSON object per run instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for each step (connect, TLS, HTTP answer,
    /// handshake, the echoes after a direction's last packet).
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_secs)]
    pub timeout: Duration,
    /// Packets each way.
    #[arg(long, value_name = "N", default_value_t = super::DEFAULT_COUNT,
          value_parser = clap::value_parser!(u32).range(1..=super::MAX_COUNT as i64))]
    pub count: u32,
    /// Run forever, starting a run every SECS seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub interval: Option<Duration>,
    /// After each run, write the results as Prometheus/OpenMetrics text to
    /// PATH (through a temporary file and a rename, so readers never see
    /// half a file). Name it *.prom for node_exporter.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
    /// With --interval: exit with status 1 at the first failed run.
    #[arg(long, requires = "interval")]
    pub exit_on_failure: bool,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !v.is_finite() || v <= 0.0 || v > 86_400.0 * 365.0 {
        return Err(format!("{s}: expected seconds above 0"));
    }
    Ok(Duration::from_secs_f64(v))
}

/// Runs the command; the exit status is as `--help` says.
pub fn main(args: &ProbeArgs) -> ExitCode {
    let mut opts = match Options::new(&args.url) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("uring-relay probe: {e}");
            return ExitCode::from(2);
        }
    };
    opts.timeout = args.timeout;
    opts.count = args.count;
    opts.protocol = args.protocol;
    opts.token = args.token.clone();
    opts.tls = TlsOptions {
        ca_file: args.ca_file.clone(),
        insecure: args.insecure,
    };
    if opts.target.tls {
        if let Err(e) = opts.tls.client_config() {
            eprintln!("uring-relay probe: {e}");
            return ExitCode::from(2);
        }
        if args.insecure {
            eprintln!(
                "uring-relay probe: WARNING: --insecure: the relay's TLS certificate is NOT verified"
            );
        }
    }
    let Some(interval) = args.interval else {
        let report = run(&opts);
        let written = emit(args, &report);
        return if report.ok() && written {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    };
    loop {
        let start = Instant::now();
        let report = run(&opts);
        emit(args, &report);
        if args.exit_on_failure && !report.ok() {
            return ExitCode::FAILURE;
        }
        if let Some(wait) = (start + interval).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

/// Prints the report and writes the metrics file; `false` if that failed.
fn emit(args: &ProbeArgs, report: &Report) -> bool {
    let text = if args.json {
        format!("{}\n", report.to_json())
    } else {
        report.text()
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    let Some(path) = &args.metrics_file else {
        return true;
    };
    match metrics::write_atomic(path, &metrics::render(report)) {
        Ok(()) => true,
        Err(e) => {
            eprintln!(
                "uring-relay probe: cannot write the metrics file {}: {e}",
                path.display()
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(parse_secs("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_secs("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["0", "-1", "x", "inf", "NaN"] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }
}
