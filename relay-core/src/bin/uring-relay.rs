//! `uring-relay`: drop-in replacement for the iroh-relay 0.35 binary that
//! also serves iroh 1.x clients on the same port.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use std::sync::Arc;

use relay_core::config::{ConfigError, ConfigFile, IoBackend};
use relay_core::fdlimit;
use relay_core::logging::LogFormat;
use relay_core::metrics::{ShardMetrics, StunMetrics};
use relay_core::shard::Server;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// jemalloc gives freed memory back to the system: after a burst of clients
/// the process shrinks to its idle size instead of keeping every arena.
/// Large blocks (queues, write buffers) bypass it and are mapped on their
/// own, so a burst leaves no allocator bookkeeping behind either.
#[global_allocator]
static ALLOC: relay_core::large_alloc::LargeMmap<tikv_jemallocator::Jemalloc> =
    relay_core::large_alloc::LargeMmap(tikv_jemallocator::Jemalloc);

/// Purge settings read by jemalloc at start: a background thread returns
/// dirty pages after about a second (`MADV_DONTNEED`, so RSS drops at once,
/// not only under memory pressure). `_RJEM_MALLOC_CONF` overrides them.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8; 60] =
    b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// Relay server for iroh 0.35 and 1.x clients on io_uring (or epoll), sharded per core.
#[derive(Parser, Debug)]
#[command(name = "uring-relay", version, about)]
struct Cli {
    /// Run in development mode: plain HTTP, default port 3340.
    #[arg(long)]
    dev: bool,
    /// iroh-relay TOML config file (a missing file means defaults).
    #[arg(short = 'c', long)]
    config_path: Option<PathBuf>,
    /// I/O backend (overrides `io_backend` in the config): `auto` uses
    /// io_uring where allowed, else epoll.
    #[arg(long, value_enum)]
    io_backend: Option<IoBackend>,
    /// Log line format on stderr (filter with RUST_LOG).
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Reads and validates a config file as the relay would, without
    /// serving: exits 0 if it would start with it, else 1 with the reason
    /// (run it before a reload, so a broken file is never loaded).
    CheckConfig {
        /// The TOML file to check.
        file: PathBuf,
    },
    /// Checks a running relay from outside, as iroh clients use it: exits 0
    /// when every check passes, 1 when one fails, 2 for a usage error.
    ///
    /// It asks GET /generate_204 (the captive-portal challenge) and GET
    /// /ping, connects two clients with fresh keys and sends --count packets
    /// each way, each echoed back so its round trip through the relay is
    /// timed. The clients speak iroh 0.35 (`Upgrade: iroh derp http`, what
    /// Delta Chat clients use) unless --protocol says otherwise. An https://
    /// URL (chatmail's, with nginx in front) is checked over TLS against the
    /// system's trusted CAs. One line per check; a failure says what is
    /// wrong, e.g. "connection refused at 127.0.0.1:3340" or "relay accepted
    /// both clients but forwarded 0 of 5 packets from A to B within 5s".
    Probe(relay_core::probe::cli::ProbeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::CheckConfig { file }) => return check_config(file, cli.dev),
        Some(Command::Probe(args)) => return relay_core::probe::cli::main(args),
        None => {}
    }
    let log_guard = relay_core::logging::init(cli.log_format);
    let result = run(&cli);
    // Flushes queued log lines (bounded: a stuck stderr does not hang exit).
    drop(log_guard);
    match result {
        Ok(()) => std::process::exit(0),
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
    let mut config = file.resolve(cli.dev).map_err(|e| e.to_string())?;
    if let Some(b) = cli.io_backend {
        config.io_backend = b;
    }
    raise_fd_limit(config.shards);
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    // Everything binds before any relay client is served, so a bad address
    // fails the start, not a running relay.
    let shard_metrics: Vec<Arc<ShardMetrics>> =
        (0..config.shards).map(|_| Arc::default()).collect();
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
        let local = relay_core::metrics_http::spawn(addr, stun, shard_metrics.clone())
            .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
        tracing::info!("metrics on http://{local}/metrics");
    }
    let server = Server::start(&config, shard_metrics)
        .map_err(|e| format!("cannot serve on {}: {e}", config.http_bind_addr))?;
    tracing::info!(
        shards = config.shards,
        io = server.backend().name(),
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
    // The caller exits without unwinding the shard runtimes (see
    // shard::shard_main).
    Ok(())
}

fn check_config(path: &std::path::Path, dev: bool) -> ExitCode {
    match ConfigFile::load_existing(path).and_then(|f| f.resolve(dev)) {
        Ok(config) => {
            println!(
                "{}: ok (relay on {}, {} shards)",
                path.display(),
                config.http_bind_addr,
                config.shards
            );
            ExitCode::SUCCESS
        }
        Err(ConfigError::Invalid(reason)) => {
            eprintln!("uring-relay: invalid config {}: {reason}", path.display());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("uring-relay: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Raises the open-file soft limit to the hard limit (services often get
/// 1024 under a much higher hard limit) and says what the relay can hold.
fn raise_fd_limit(shards: usize) {
    let wanted = fdlimit::wanted(shards);
    match fdlimit::raise_to_hard() {
        Ok((before, after)) => {
            tracing::info!("open files limit {after} (was {before})");
            if after < wanted {
                tracing::warn!(
                    "open files limit {after} is below the {wanted} that 10000 clients need; \
                     raise it with LimitNOFILE= (systemd) or ulimit -Hn"
                );
            }
        }
        Err(e) => tracing::warn!("cannot raise the open files limit: {e}"),
    }
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
