//! Serving: the config checked, every listener bound before the first
//! client, one line saying what runs, then signals until shutdown.

use std::sync::Arc;
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use relay_core::config::{self, Config};
use relay_core::fdlimit;
use relay_core::metrics::{ShardMetrics, StunMetrics};
use relay_core::shard::Server;

use crate::check::startup;
use crate::systemd::Systemd;
use crate::Cli;

pub fn run(cli: &Cli) -> Result<(), String> {
    let s = startup(cli.config_path.as_deref(), cli.dev, cli.io_backend)?;
    for n in &s.notes {
        tracing::warn!("{n}");
    }
    for u in &s.unknown {
        tracing::warn!("{}, {u}", s.source);
    }
    if !s.review.errors.is_empty() {
        return Err(format!("{}: {}", s.source, s.review.errors.join("; ")));
    }
    for w in &s.review.warnings {
        tracing::warn!("{w}");
    }
    let mut running = s.config;
    raise_fd_limit();
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let server = bind_all(&running)?;
    let listening = config::listeners(&running).join(", ");
    tracing::info!(
        config = %s.source,
        access = %running.access,
        shards = running.shards,
        io = %server.backend().name(),
        "uring-relay {} serving iroh 0.35 and 1.x: {listening}",
        env!("CARGO_PKG_VERSION"),
    );
    let systemd = Systemd::from_env();
    systemd.ready(&listening);
    systemd.start_watchdog(server.heartbeat());
    for sig in signals.forever() {
        match sig {
            SIGHUP => {
                systemd.reloading();
                crate::reload::on_sighup(cli, &mut running, &server);
                systemd.ready(&listening);
            }
            _ => {
                systemd.stopping();
                tracing::info!("shutting down: telling clients to reconnect");
                server.shutdown(Duration::from_secs(3));
                break;
            }
        }
    }
    Ok(())
}

/// Binds STUN, metrics and the relay, in that order; any failure ends
/// the start before a client is served.
fn bind_all(config: &Config) -> Result<Server, String> {
    let shard_metrics: Vec<Arc<ShardMetrics>> =
        (0..config.shards).map(|_| Arc::default()).collect();
    let stun = match config.stun_bind_addr {
        Some(addr) => {
            let metrics = Arc::new(StunMetrics::default());
            relay_core::stun::spawn(addr, metrics.clone())
                .map_err(|e| format!("cannot serve STUN on udp {addr}: {e}"))?;
            Some(metrics)
        }
        None => None,
    };
    if let Some(addr) = config.metrics_bind_addr {
        relay_core::metrics_http::spawn(addr, stun, shard_metrics.clone())
            .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
    }
    Server::start(config, shard_metrics)
        .map_err(|e| format!("cannot serve on {}: {e}", config.http_bind_addr))
}

/// Raises the open-file soft limit to the hard limit (services often get
/// 1024 under a much higher hard limit).
fn raise_fd_limit() {
    match fdlimit::raise_to_hard() {
        Ok((before, after)) => tracing::info!("open files limit {after} (was {before})"),
        Err(e) => tracing::warn!("cannot raise the open files limit: {e}"),
    }
}
