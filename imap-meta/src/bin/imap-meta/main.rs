//! `imap-meta`: publishes the iroh relay URL to Delta Chat clients through
//! IMAP METADATA, as a standalone server (`serve`) or as a proxy in front
//! of an existing IMAP server (`proxy`). See `--help`.

mod cli;
mod config;
mod net;
mod proxy;
mod serve;
mod tls;
mod users;

use anyhow::Result;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Mode};
use crate::config::FileConfig;

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let file = FileConfig::load(cli.config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = async {
            match cli.mode {
                Mode::Serve(args) => serve::run(config::serve_settings(file, args)?).await,
                Mode::Proxy(args) => proxy::run(config::proxy_settings(file, args)?).await,
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
