//! `imap-meta`: publishes the iroh relay URL to Delta Chat clients through
//! IMAP METADATA, as a standalone server (`serve`) or as a proxy in front
//! of an existing IMAP server (`proxy`); `probe` checks discovery and the
//! advertised relay as a client would. See `--help`.

mod cli;
mod config;
mod net;
mod probe;
mod proxy;
mod serve;
mod tls;
mod users;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Mode};
use crate::config::FileConfig;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal, never in log files or journals.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    // The probe has its own exit codes (0, 1, 2) and needs no config file.
    if let Mode::Probe(args) = cli.mode {
        return probe::main(args);
    }
    match serve_or_proxy(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, the causes joined by ": "; never a backtrace, even
            // with RUST_BACKTRACE set (these are operator errors, not bugs).
            let text = format!("{e:#}");
            let line: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("imap-meta: {}", line.join(" "));
            ExitCode::FAILURE
        }
    }
}

fn serve_or_proxy(cli: Cli) -> Result<()> {
    let file = FileConfig::load(cli.config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = async {
            match cli.mode {
                Mode::Serve(args) => serve::run(config::serve_settings(file, args)?).await,
                Mode::Proxy(args) => proxy::run(config::proxy_settings(file, args)?).await,
                Mode::Probe(_) => Ok(()),
            }
        };
        tokio::select! {
            result = server => result,
            result = shutdown_signal() => {
                tracing::info!("shutting down");
                result
            }
        }
    })
}

async fn shutdown_signal() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}
