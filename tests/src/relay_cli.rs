//! Running the relay binary as an operator does, to its exit (bounded):
//! `check-config`, a start that must fail, and what it printed.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::relay::relay_binary;

/// How long one run may take.
pub const RUN_LIMIT: Duration = Duration::from_secs(20);

/// A finished run.
#[derive(Debug)]
pub struct Exit {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Exit {
    /// The last line on stderr (the fatal error, when it failed).
    pub fn last(&self) -> &str {
        self.stderr.lines().last().unwrap_or("")
    }
}

/// Runs the relay binary with `args` and `env` to its exit; fails the
/// test if it is still running after [`RUN_LIMIT`].
pub fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> Exit {
    let bin = relay_binary().expect("relay binary");
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn relay");
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + RUN_LIMIT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("relay with {args:?} is still running after {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Exit {
        ok: status.success(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// A config file with `text`, removed on drop.
pub fn config_file(text: &str) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut f = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .expect("temp file");
    f.write_all(text.as_bytes()).expect("write config");
    f
}
