//! The config a start runs with, and `check-config`, which reads and
//! judges a file exactly as a start would, without serving.

use std::path::Path;
use std::process::ExitCode;

use relay_core::config::{self, Config, ConfigError, Host, IoBackend, Review, UnknownKey};

use crate::Cli;

/// A config ready to start with, and what the operator should hear of it.
pub struct Startup {
    pub config: Config,
    /// The file it came from, or "built-in defaults".
    pub source: String,
    pub unknown: Vec<UnknownKey>,
    pub review: Review,
    /// Said once at start (e.g. a missing file under --dev).
    pub notes: Vec<String>,
}

/// Reads `path` (which must exist, unless `dev`), applies the command
/// line's backend and holds the result against this machine. Errors are
/// one line each, naming the file and line.
pub fn startup(path: Option<&Path>, dev: bool, io: Option<IoBackend>) -> Result<Startup, String> {
    let mut notes = Vec::new();
    let (loaded, source) = match path {
        Some(p) => match config::load(p) {
            Ok(l) => (l, p.display().to_string()),
            Err(ConfigError::Missing(name)) if dev => {
                notes.push(format!(
                    "config file {name} does not exist: --dev runs on built-in defaults"
                ));
                (default_file()?, "built-in defaults".to_owned())
            }
            Err(ConfigError::Missing(name)) => {
                return Err(format!(
                "config file {name} does not exist (--dev runs on built-in defaults without one)"
            ))
            }
            Err(e) => return Err(e.to_string()),
        },
        None => (default_file()?, "built-in defaults".to_owned()),
    };
    let unknown = loaded.unknown.clone();
    let mut config = loaded.resolve(dev).map_err(|e| e.to_string())?;
    if let Some(b) = io {
        config.io_backend = b;
    }
    let review = config::review(&config, &Host::current());
    Ok(Startup {
        config,
        source,
        unknown,
        review,
        notes,
    })
}

fn default_file() -> Result<config::Loaded, String> {
    config::parse("").map_err(|e| e.to_string())
}

/// `check-config FILE`: exit 0 when a start would succeed with the file
/// and it has no unknown keys; the listeners and settings on stdout,
/// warnings and errors on stderr.
pub fn main(file: &Path, cli: &Cli) -> ExitCode {
    let s = match startup(Some(file), cli.dev, cli.io_backend) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("uring-relay: {e}");
            return ExitCode::FAILURE;
        }
    };
    for n in &s.notes {
        eprintln!("note: {n}");
    }
    for w in &s.review.warnings {
        eprintln!("warning: {w}");
    }
    let name = file.display();
    let mut failed = false;
    for u in &s.unknown {
        eprintln!("uring-relay: {name}, {u}");
        failed = true;
    }
    for e in &s.review.errors {
        eprintln!("uring-relay: {name}: {e}");
        failed = true;
    }
    if failed {
        return ExitCode::FAILURE;
    }
    let c = &s.config;
    println!("{name}: ok");
    for l in config::listeners(c) {
        println!("  {l}");
    }
    println!(
        "  {} shards, io backend {}, access {}",
        c.shards,
        c.io_backend.name(),
        c.access
    );
    ExitCode::SUCCESS
}
