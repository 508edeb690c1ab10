//! `uring-relay`: drop-in replacement for the iroh-relay 0.35 binary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use std::sync::Arc;

use relay_core::config::ConfigFile;
use relay_core::metrics::StunMetrics;
use relay_core::shard::Server;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// jemalloc gives freed memory back to the system: after a burst of clients
/// the process shrinks to its idle size instead of keeping every arena.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Purge settings read by jemalloc at start: a background thread returns
/// dirty pages after about a second (`MADV_DONTNEED`, so RSS drops at once,
/// not only under memory pressure). `_RJEM_MALLOC_CONF` overrides them.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8; 60] =
    b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// iroh 0.35 relay server on io_uring, sharded per core.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Run in development mode: plain HTTP, default port 3340.
    #[arg(long)]
    dev: bool,
    /// iroh-relay TOML config file (a missing file means defaults).
    #[arg(short = 'c', long)]
    config_path: Option<PathBuf>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("uring-relay: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    let file = match &cli.config_path {
        Some(p) => ConfigFile::load(p).map_err(|e| e.to_string())?,
        None => ConfigFile::default(),
    };
    let config = file.resolve(cli.dev).map_err(|e| e.to_string())?;
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let server = Server::start(&config)
        .map_err(|e| format!("cannot serve on {}: {e}", config.http_bind_addr))?;
    // STUN binds first so its counters can be served with the rest.
    let stun = match config.stun_bind_addr {
        Some(addr) => {
            let metrics = Arc::new(StunMetrics::default());
            let local = relay_core::stun::spawn(addr, metrics.clone())
                .map_err(|e| format!("cannot serve STUN on {addr}: {e}"))?;
            tracing::info!("STUN on udp {local}");
            Some(metrics)
        }
        None => None,
    };
    if let Some(addr) = config.metrics_bind_addr {
        let local = relay_core::metrics_http::spawn(addr, stun, server.metrics())
            .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
        tracing::info!("metrics on http://{local}/metrics");
    }
    tracing::info!(
        shards = config.shards,
        "relay listening on http://{}",
        server.local_addr()
    );
    for sig in signals.forever() {
        match sig {
            SIGHUP => reload(cli, &server),
            _ => {
                tracing::info!("shutting down: telling clients to reconnect");
                server.shutdown(Duration::from_secs(3));
                break;
            }
        }
    }
    // Exit without unwinding the shard runtimes (see shard::shard_main).
    std::process::exit(0)
}

/// SIGHUP: re-reads the config and applies access lists and limits; a bad
/// file keeps the running policy. Listener addresses need a restart.
fn reload(cli: &Cli, server: &Server) {
    let Some(path) = &cli.config_path else {
        tracing::info!("SIGHUP: no config file to reload");
        return;
    };
    match ConfigFile::load(path).and_then(|f| f.resolve(cli.dev)) {
        Ok(config) => {
            server.reload(config.policy());
            tracing::info!("SIGHUP: access lists and limits reloaded");
        }
        Err(e) => tracing::error!("SIGHUP: keeping the running config: {e}"),
    }
}
