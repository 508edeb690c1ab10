//! uring-relay as a child process for the probe tests: built if missing,
//! on a free loopback port, killed on drop.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Upper bound for the relay to start serving.
const START: Duration = Duration::from_secs(20);

/// A uring-relay child on a free loopback port; killed on drop.
pub struct Relay {
    child: Child,
    pub url: String,
    pub addr: SocketAddr,
    _config: tempfile::NamedTempFile,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// target/<profile>/uring-relay, built if missing.
pub fn uring_relay() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let bin = profile.join("uring-relay");
    if !bin.is_file() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace)
            .args(["build", "-p", "relay-core", "--bin", "uring-relay"]);
        if profile.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building uring-relay failed");
    }
    bin
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

pub fn start_relay() -> Relay {
    start_relay_with("")
}

/// A relay whose config file also holds `extra_toml`.
pub fn start_relay_with(extra_toml: &str) -> Relay {
    use std::io::Write;
    let port = free_port();
    let mut config = tempfile::NamedTempFile::new().expect("config file");
    write!(
        config,
        "http_bind_addr = \"127.0.0.1:{port}\"\nenable_stun = false\nenable_metrics = false\nshards = 1\n{extra_toml}\n"
    )
    .expect("write config");
    let child = Command::new(uring_relay())
        .arg("-c")
        .arg(config.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start uring-relay");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + START;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "uring-relay not serving on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Relay {
        child,
        addr,
        url: format!("http://{addr}"),
        _config: config,
    }
}
