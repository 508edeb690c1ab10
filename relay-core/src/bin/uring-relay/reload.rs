//! SIGHUP: the file read again and, when it is good, access and limits
//! applied at once; a missing, unreadable or invalid file keeps the
//! running config. Every reload says what it changed and what waits for
//! a restart.

use std::path::Path;

use relay_core::config::Config;
use relay_core::metrics::RELOADS;
use relay_core::shard::Server;

use crate::check::startup;
use crate::Cli;

pub fn on_sighup(cli: &Cli, running: &mut Config, server: &Server) {
    let Some(path) = cli.config_path.as_deref() else {
        tracing::info!("SIGHUP: started without --config-path, nothing to reload");
        return;
    };
    if reload(path, cli, running, server) {
        RELOADS.reload_applied();
    } else {
        RELOADS.reload_rejected();
    }
}

/// Applies the file at `path`; false when it was refused.
fn reload(path: &Path, cli: &Cli, running: &mut Config, server: &Server) -> bool {
    // A file gone (a redeploy, a package upgrade) is never a reason to
    // fall back to defaults: that would open an allowlisted relay.
    if !path.exists() {
        tracing::warn!(
            "SIGHUP: keeping the running config: config file {} does not exist",
            path.display()
        );
        return false;
    }
    let s = match startup(Some(path), cli.dev, cli.io_backend) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("SIGHUP: keeping the running config: {e}");
            return false;
        }
    };
    let name = path.display();
    for u in &s.unknown {
        tracing::warn!("SIGHUP: {name}, {u}");
    }
    for e in &s.review.errors {
        tracing::warn!("SIGHUP: {name}: {e} (a restart with this file would fail)");
    }
    let new = s.config;
    let changes = running.changes(&new);
    for r in &changes.need_restart {
        tracing::warn!("SIGHUP: {r} needs a restart; running on as before");
    }
    if changes.applied.is_empty() {
        tracing::info!("SIGHUP: {name} read; access and limits unchanged");
    } else {
        tracing::info!("SIGHUP: {name} applied: {}", changes.applied.join("; "));
    }
    server.reload(new.policy());
    running.apply_reloadable(&new);
    true
}
