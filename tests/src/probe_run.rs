//! Running `uring-relay probe` as an operator does (a subprocess, to its
//! exit, bounded) and reading its JSON report.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::relay::uring_relay_binary;

/// Bound on one probe run in these tests.
pub const RUN_LIMIT: Duration = Duration::from_secs(60);

pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("probe printed no JSON ({e}): {}", self.stdout))
    }
}

/// A probe child (a monitor) that is killed when dropped, so a failed
/// assertion does not leave it running.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn probe_command(args: &[&str]) -> Command {
    let bin = uring_relay_binary().expect("uring-relay binary");
    let mut cmd = Command::new(bin);
    cmd.arg("probe").args(args).stdin(Stdio::null());
    cmd
}

/// Runs `uring-relay probe ARGS` to its exit.
pub fn probe(args: &[&str]) -> Outcome {
    let mut child = probe_command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn uring-relay probe");
    let out = read_all(child.stdout.take());
    let err = read_all(child.stderr.take());
    let status = wait(&mut child, RUN_LIMIT).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("uring-relay probe {args:?} still running after {RUN_LIMIT:?}")
    });
    let o = Outcome {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    };
    assert!(
        !o.stderr.contains("unrecognized subcommand"),
        "target/…/uring-relay predates `probe`: cargo build -p relay-core --bin uring-relay"
    );
    o
}

pub fn read_all<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_string(&mut s);
        }
        s
    })
}

pub fn wait(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

pub fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name} in {report}"))
}

/// The checks of a run, in order.
pub const CHECK_NAMES: [&str; 6] = [
    "generate_204",
    "ping",
    "connect_a",
    "connect_b",
    "forward_a_to_b",
    "forward_b_to_a",
];

/// Everything a passing run must show, for `count` packets each way.
pub fn assert_passes(o: &Outcome, count: u64) {
    let r = o.json();
    assert_eq!(o.code, 0, "{r:#}\n{}", o.stderr);
    assert_eq!(r["ok"], true);
    assert!(r["error"].is_null());
    for name in CHECK_NAMES {
        let c = check(&r, name);
        assert_eq!(c["ok"], true, "{c}");
        assert!(c["error"].is_null() && c["skipped"].is_null(), "{c}");
    }
    for dir in ["a_to_b", "b_to_a"] {
        let d = &r["packets"][dir];
        assert_eq!(d["sent"], count, "{d}");
        assert_eq!(d["delivered"], count, "{d}");
        assert_eq!(d["returned"], count, "{d}");
    }
    let rtt = &r["rtt"];
    assert_eq!(rtt["samples"], 2 * count);
    let (min, med, max) = (
        rtt["min_seconds"].as_f64().unwrap_or(-1.0),
        rtt["median_seconds"].as_f64().unwrap_or(-1.0),
        rtt["max_seconds"].as_f64().unwrap_or(-1.0),
    );
    assert!(0.0 < min && min <= med && med <= max, "{rtt}");
}

/// The reference: `REFERENCE_RELAY_BIN`, else where
/// scripts/install-reference-relay.sh puts it.
pub fn reference_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("REFERENCE_RELAY_BIN") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "REFERENCE_RELAY_BIN={} is not a file",
            p.display()
        );
        return Some(p);
    }
    let cached = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../.cache/iroh-relay-0.35/bin/iroh-relay");
    cached.is_file().then_some(cached)
}

pub fn url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}
