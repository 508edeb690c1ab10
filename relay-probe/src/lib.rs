//! The relay probe behind `uring-relay probe` and `imap-meta probe`: checks
//! a running relay as an iroh client sees it (0.35 by default, or 1.x), for
//! operators and monitoring (what derpprobe is for Tailscale). The wire
//! formats come from `relay-proto`; nothing here is the relay server.
//!
//! A run checks `/generate_204` (captive-portal challenge) and `/ping`,
//! connects two clients with fresh keys, and sends `count` packets each
//! way, each echoed back so its round trip is timed. Every check says in
//! words what failed. `https://` URLs go through rustls, as behind
//! chatmail's nginx. Blocking std sockets with timeouts and a few threads:
//! this is a client tool and never touches the relay's I/O runtime.
//!
//! ```no_run
//! use relay_probe as probe;
//! let opts = probe::Options::new("http://127.0.0.1:3340").expect("valid URL");
//! let report = probe::run(&opts);
//! println!("{}", report.text());
//! assert!(report.ok(), "{}", report.to_json());
//! ```

pub mod cli;
pub mod client;
pub mod codec;
pub mod conn;
pub mod exchange;
pub mod http;
pub mod metrics;
pub mod net;
pub mod options;
pub mod report;
pub mod target;
pub mod tls;
pub mod upgrade;

use std::time::{Duration, Instant, SystemTime};

pub use codec::Protocol;
pub use options::{Options, DEFAULT_COUNT, DEFAULT_TIMEOUT, MAX_COUNT};
pub use report::{Check, Report, Rtt, Status, CHECKS};
pub use target::{Target, TargetError};
pub use tls::TlsOptions;

use net::Failure;

/// Runs every check once. Never panics on what the server sends; takes at
/// most a few `timeout`s.
pub fn run(opts: &Options) -> Report {
    let started = SystemTime::now();
    let t0 = Instant::now();
    let count = opts.count.clamp(1, MAX_COUNT);
    let target = &opts.target;
    let mut checks: Vec<Check> = Vec::with_capacity(CHECKS.len());
    let report = |checks: Vec<Check>, address, a_to_b, b_to_a| Report {
        url: target.url.clone(),
        protocol: opts.protocol,
        warnings: opts.warnings(),
        address,
        started,
        duration: t0.elapsed(),
        count,
        checks,
        a_to_b,
        b_to_a,
    };

    let tls_config = match target.tls.then(|| opts.tls.client_config()) {
        Some(Ok(c)) => Some(c),
        None => None,
        Some(Err(reason)) => {
            checks.push(failed("generate_204", Duration::ZERO, reason));
            skip_rest(&mut checks, "no TLS configuration");
            return report(checks, None, None, None);
        }
    };
    let tls = tls_config.as_ref();
    let addrs = match target.resolve(opts.timeout) {
        Ok(a) => a,
        Err(reason) => {
            checks.push(failed("generate_204", Duration::ZERO, reason));
            skip_rest(&mut checks, "the relay's host does not resolve");
            return report(checks, None, None, None);
        }
    };
    let g204 = timed("generate_204", || {
        http::check_generate_204(target, &addrs, tls, opts.protocol, opts.timeout)
            .map(|d| with_tls(d, opts))
    });
    let unreachable = matches!(&g204, (_, Err(f)) if f.unreachable);
    checks.push(into_check(g204));
    if unreachable {
        skip_rest(&mut checks, "no connection to the relay (see generate_204)");
        return report(checks, None, None, None);
    }
    checks.push(into_check(timed("ping", || {
        http::check_ping(target, &addrs, tls, opts.timeout)
    })));

    let connect = |name| client::connect(opts, &addrs, tls, name);
    let (a, a_check) = split(timed("connect_a", || connect("A")));
    let (b, b_check) = split(timed("connect_b", || connect("B")));
    checks.push(a_check);
    checks.push(b_check);
    let address = a
        .as_ref()
        .or(b.as_ref())
        .and_then(|c| c.peer())
        .map(|p| p.to_string());
    let (Some(mut a), Some(mut b)) = (a, b) else {
        skip_rest(&mut checks, "needs both clients connected");
        return report(checks, address, None, None);
    };
    let t = Instant::now();
    let ab = exchange::run(&mut a, &mut b, count, opts.timeout);
    checks.push(forward_check(
        "forward_a_to_b",
        &ab,
        "A",
        "B",
        count,
        opts.timeout,
        t,
    ));
    if ab.error.as_deref().is_some_and(client::is_restart) {
        skip_rest(&mut checks, "the relay is restarting (see forward_a_to_b)");
        return report(checks, address, Some(ab), None);
    }
    let t = Instant::now();
    let ba = exchange::run(&mut b, &mut a, count, opts.timeout);
    checks.push(forward_check(
        "forward_b_to_a",
        &ba,
        "B",
        "A",
        count,
        opts.timeout,
        t,
    ));
    report(checks, address, Some(ab), Some(ba))
}

/// A check's detail, with what the TLS layer verified for https.
fn with_tls(detail: String, opts: &Options) -> String {
    if opts.target.tls {
        format!("{detail}; TLS, {}", opts.tls.describe())
    } else {
        detail
    }
}

fn timed<T>(
    name: &'static str,
    f: impl FnOnce() -> Result<T, Failure>,
) -> (Check, Result<T, Failure>) {
    let t = Instant::now();
    let result = f();
    let check = Check {
        name,
        status: Status::Pass,
        duration: t.elapsed(),
        detail: String::new(),
    };
    (check, result)
}

fn into_check((mut check, result): (Check, Result<String, Failure>)) -> Check {
    match result {
        Ok(detail) => check.detail = detail,
        Err(f) => check.status = Status::Fail(f.reason),
    }
    check
}

fn split(
    (mut check, result): (Check, Result<(client::Client, String), Failure>),
) -> (Option<client::Client>, Check) {
    match result {
        Ok((c, detail)) => {
            check.detail = detail;
            (Some(c), check)
        }
        Err(f) => {
            check.status = Status::Fail(f.reason);
            (None, check)
        }
    }
}

fn failed(name: &'static str, duration: Duration, reason: String) -> Check {
    Check {
        name,
        status: Status::Fail(reason),
        duration,
        detail: String::new(),
    }
}

/// Marks every check not yet in `checks` as skipped.
fn skip_rest(checks: &mut Vec<Check>, why: &str) {
    for name in CHECKS.into_iter().skip(checks.len()) {
        checks.push(Check {
            name,
            status: Status::Skipped(why.to_owned()),
            duration: Duration::ZERO,
            detail: String::new(),
        });
    }
}

/// The verdict on one direction, in words.
fn forward_check(
    name: &'static str,
    d: &exchange::Direction,
    from: &str,
    to: &str,
    count: u32,
    timeout: Duration,
    t: Instant,
) -> Check {
    let duration = t.elapsed();
    let n = count as usize;
    let within = net::secs(timeout);
    let reason = if d.returned == n {
        None
    } else if let Some(e) = &d.error {
        Some(format!(
            "{e}; {} of {n} packets {from}→{to} came back",
            d.returned
        ))
    } else if d.delivered == 0 {
        Some(format!(
            "relay accepted both clients but forwarded 0 of {n} packets from {from} to {to} within {within}"
        ))
    } else if d.delivered < n {
        Some(format!(
            "relay forwarded only {} of {n} packets from {from} to {to} within {within}",
            d.delivered
        ))
    } else {
        Some(format!(
            "relay forwarded all {n} packets from {from} to {to}, but only {} of {n} replies from {to} to {from} within {within}",
            d.returned
        ))
    };
    match reason {
        Some(r) => failed(name, duration, r),
        None => Check {
            name,
            status: Status::Pass,
            duration,
            detail: match Rtt::of(&d.rtts) {
                Some(rtt) => format!(
                    "{n}/{n} round trips, rtt min {}, median {}, max {}",
                    net::millis(rtt.min),
                    net::millis(rtt.median),
                    net::millis(rtt.max)
                ),
                None => format!("{n}/{n} round trips"),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exchange::Direction;

    fn reason(d: &Direction) -> Option<String> {
        match forward_check("f", d, "A", "B", 5, DEFAULT_TIMEOUT, Instant::now()).status {
            Status::Fail(r) => Some(r),
            _ => None,
        }
    }

    #[test]
    fn forwarding_in_words() {
        let d = |delivered, returned| Direction {
            sent: 5,
            delivered,
            returned,
            rtts: vec![Duration::from_millis(1); returned],
            error: None,
        };
        assert_eq!(reason(&d(5, 5)), None);
        assert_eq!(
            reason(&d(0, 0)).as_deref(),
            Some("relay accepted both clients but forwarded 0 of 5 packets from A to B within 5s")
        );
        assert_eq!(
            reason(&d(3, 3)).as_deref(),
            Some("relay forwarded only 3 of 5 packets from A to B within 5s")
        );
        assert_eq!(
            reason(&d(5, 2)).as_deref(),
            Some("relay forwarded all 5 packets from A to B, but only 2 of 5 replies from B to A within 5s")
        );
        let mut closed = d(1, 1);
        closed.error = Some("relay closed client B's connection (while sending A to B)".into());
        assert_eq!(
            reason(&closed).as_deref(),
            Some("relay closed client B's connection (while sending A to B); 1 of 5 packets A→B came back")
        );
    }

    #[test]
    fn unreachable_skips_the_rest() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let mut opts = Options::new(&format!("http://127.0.0.1:{port}")).unwrap();
        opts.timeout = Duration::from_secs(2);
        let r = run(&opts);
        assert!(!r.ok());
        assert_eq!(r.checks.len(), CHECKS.len());
        assert!(r.checks[1..]
            .iter()
            .all(|c| matches!(c.status, Status::Skipped(_))));
    }
}
