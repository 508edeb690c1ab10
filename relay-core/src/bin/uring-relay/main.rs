//! `uring-relay`: drop-in replacement for the iroh-relay 0.35 binary that
//! also serves iroh 1.x clients on the same port.

mod check;
mod reload;
mod serve;
mod systemd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use relay_core::config::IoBackend;
use relay_core::logging::LogFormat;

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
pub struct Cli {
    /// Run in development mode: plain HTTP, default port 3340, built-in
    /// defaults when the config file is missing.
    #[arg(long)]
    dev: bool,
    /// iroh-relay TOML config file (must exist, unless --dev).
    #[arg(short = 'c', long)]
    config_path: Option<PathBuf>,
    /// I/O backend (overrides `io_backend` in the config): `auto` uses
    /// io_uring where allowed, else epoll.
    #[arg(long, value_enum)]
    io_backend: Option<IoBackend>,
    /// Log line format on stderr (filter with RUST_LOG); with `json`,
    /// every line is JSON, a fatal error included.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Reads and validates a config file as a start would, without
    /// serving: prints the listeners it would open and exits 0, or exits 1
    /// with the reasons (unknown keys included). Run it before a reload.
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
    Probe(relay_probe::cli::ProbeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::CheckConfig { file }) => return check::main(file, &cli),
        Some(Command::Probe(args)) => return relay_probe::cli::main(args),
        None => {}
    }
    let log_guard = relay_core::logging::init(cli.log_format);
    let result = serve::run(&cli);
    if let (Err(e), LogFormat::Json) = (&result, cli.log_format) {
        tracing::error!("{e}");
    }
    // Flushes queued log lines (bounded: a stuck stderr does not hang exit).
    drop(log_guard);
    match result {
        // The shard runtimes are not unwound (see shard::shard_main).
        Ok(()) => std::process::exit(0),
        Err(e) => {
            if cli.log_format == LogFormat::Text {
                eprintln!("uring-relay: {e}");
            }
            ExitCode::FAILURE
        }
    }
}
