//! What `imap-meta probe` was asked to check: the IMAP server, how to reach
//! it, the account, and how long to wait for each step.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{ProbeArgs, ProbeTls};

/// One probe run's settings, from the command line.
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub tls: ProbeTls,
    pub user: String,
    pub password: String,
    pub ca_file: Option<PathBuf>,
    pub insecure: bool,
    pub timeout: Duration,
}

impl Settings {
    /// The settings `args` ask for; `Err` says in words what is missing.
    pub fn from_args(a: &ProbeArgs) -> Result<Settings, String> {
        let password = match (&a.password_file, &a.password_env, &a.password) {
            (Some(path), _, _) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!("cannot read the password file {}: {e}", path.display())
                })?;
                let first = text.lines().next().unwrap_or_default().to_owned();
                if first.is_empty() {
                    return Err(format!("the password file {} is empty", path.display()));
                }
                first
            }
            (None, Some(var), _) => std::env::var(var).map_err(|_| {
                format!("the environment variable {var} is not set (--password-env)")
            })?,
            (None, None, Some(p)) => p.clone(),
            (None, None, None) => return Err("no password given".to_owned()),
        };
        let port = a.port.unwrap_or(match a.tls {
            ProbeTls::Imaps => 993,
            ProbeTls::Starttls | ProbeTls::Plain => 143,
        });
        Ok(Settings {
            host: a.host.clone(),
            port,
            tls: a.tls,
            user: a.user.clone(),
            password,
            ca_file: a.ca_file.clone(),
            insecure: a.insecure,
            timeout: a.timeout,
        })
    }
}
