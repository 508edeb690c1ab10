//! The deployment files: deploy/iroh-relay.toml (the config chatmail servers
//! ship) starts the relay as-is, and deploy/uring-relay.service is a valid,
//! hardened systemd unit.

use std::{
    fs,
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use iroh_relay::http::Protocol;
use tests::{bounded, client::TestClient, http, relay::relay_binary};

const T: Duration = Duration::from_secs(60);
const CONFIG_PORT: u16 = 3340;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate is inside the workspace")
        .to_path_buf()
}

fn scratch_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("relay-deploy-{tag}-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A relay child started by this test; killed on drop.
struct RelayChild {
    child: Child,
    log: PathBuf,
}

impl Drop for RelayChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("---- relay output ----\n{log}\n---- end ----");
        }
    }
}

/// Starts `<bin> --config-path <config>` (the unit's command line) and waits
/// until 127.0.0.1:`port` accepts. `Err` with the output if it exits first.
fn spawn_relay(config: &Path, port: u16, log: PathBuf) -> Result<RelayChild, String> {
    let bin = relay_binary().unwrap_or_else(|e| panic!("relay binary: {e:#}"));
    let out = fs::File::create(&log).unwrap();
    let child = Command::new(&bin)
        .arg("--config-path")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {}: {e}", bin.display()));
    let mut c = RelayChild { child, log };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
            return Ok(c);
        }
        if let Ok(Some(status)) = c.child.try_wait() {
            std::thread::sleep(Duration::from_millis(100));
            return Err(format!(
                "exited with {status}: {}",
                fs::read_to_string(&c.log).unwrap_or_default()
            ));
        }
        assert!(
            Instant::now() < deadline,
            "relay not accepting on {addr} after 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn port_is_free(port: u16) -> bool {
    // The config binds [::]:3340 (dual stack); check both families.
    TcpListener::bind(("::", port)).is_ok() && TcpListener::bind(("0.0.0.0", port)).is_ok()
}

#[tokio::test]
async fn example_config_starts_the_relay() {
    bounded(T, async {
        let original = workspace().join("deploy/iroh-relay.toml");
        let text = fs::read_to_string(&original).unwrap();
        assert!(
            text.contains(&format!("http_bind_addr = \"[::]:{CONFIG_PORT}\"")),
            "deploy/iroh-relay.toml no longer binds [::]:{CONFIG_PORT}:\n{text}"
        );
        let dir = scratch_dir("config");

        // The file itself, unchanged, when its port is free. Otherwise (another
        // relay or test holds 3340) a copy that differs only in the port:
        // that still exercises every other line unchanged.
        let mut started = None;
        if port_is_free(CONFIG_PORT) {
            match spawn_relay(&original, CONFIG_PORT, dir.join("unchanged.log")) {
                Ok(c) => started = Some((c, CONFIG_PORT, "unchanged")),
                Err(e) => eprintln!("unchanged config did not start ({e}); using a copy"),
            }
        } else {
            eprintln!("port {CONFIG_PORT} is busy: starting a copy with only the port changed");
        }
        let (_child, port, how) = match started {
            Some(s) => s,
            None => {
                let port = tests::relay::free_port().unwrap();
                let copy = dir.join("iroh-relay.toml");
                let changed = text.replace(&format!("[::]:{CONFIG_PORT}"), &format!("[::]:{port}"));
                assert_eq!(
                    changed.lines().count(),
                    text.lines().count(),
                    "only the port may change"
                );
                fs::write(&copy, changed).unwrap();
                let c = spawn_relay(&copy, port, dir.join("copy.log"))
                    .unwrap_or_else(|e| panic!("relay with the deploy config: {e}"));
                (c, port, "port changed")
            }
        };

        eprintln!("deploy config started ({how}) on port {port}");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let resp = http::roundtrip(addr, &http::get_request("/", &addr.to_string(), &[]))
            .await
            .unwrap();
        assert_eq!(resp.status, 200, "GET / with the deploy config ({how})");

        // And it relays, on both protocols.
        let url: iroh_base::RelayUrl = format!("http://127.0.0.1:{port}").parse().unwrap();
        let mut a = TestClient::connect(&url, Protocol::Relay).await.unwrap();
        let mut b = TestClient::connect(&url, Protocol::Websocket)
            .await
            .unwrap();
        a.send(b.node_id(), &b"deployed"[..]).await.unwrap();
        let (src, data) = b.recv_packet().await.unwrap();
        assert_eq!((src, &data[..]), (a.node_id(), &b"deployed"[..]));
        let _ = fs::remove_dir_all(&dir);
    })
    .await
}

fn has_systemd_analyze() -> bool {
    Command::new("systemd-analyze")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Runs `systemd-analyze verify <unit>` (bounded); returns success and the
/// output lines that mention the unit.
fn verify(unit: &Path) -> (bool, Vec<String>) {
    let mut child = Command::new("systemd-analyze")
        .arg("verify")
        .arg(unit)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("systemd-analyze verify did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let name = unit.file_name().unwrap().to_string_lossy().into_owned();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = text
        .lines()
        .filter(|l| l.contains(&name))
        .map(str::to_owned)
        .collect();
    (out.status.success(), lines)
}

/// The value of `Key=` in the unit (the last one wins, as in systemd).
fn setting<'a>(unit: &'a str, key: &str) -> Option<&'a str> {
    unit.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .next_back()
}

#[test]
fn systemd_unit_is_valid_and_hardened() {
    let unit_path = workspace().join("deploy/uring-relay.service");
    let unit = fs::read_to_string(&unit_path).unwrap();

    assert_eq!(
        setting(&unit, "ExecStart"),
        Some("/usr/local/bin/uring-relay --config-path /etc/iroh-relay.toml")
    );
    let reloads: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ExecReload="))
        .collect();
    assert_eq!(
        reloads,
        [
            "/usr/local/bin/uring-relay check-config /etc/iroh-relay.toml",
            "/bin/kill -HUP $MAINPID"
        ],
        "the config is checked before SIGHUP"
    );
    assert_eq!(
        setting(&unit, "Type"),
        Some("notify"),
        "READY after binding"
    );
    assert!(
        setting(&unit, "WatchdogSec").is_some(),
        "a hung shard is restarted"
    );
    let nofile: u64 = setting(&unit, "LimitNOFILE")
        .expect("LimitNOFILE set")
        .parse()
        .expect("LimitNOFILE is a number");
    assert!(nofile >= 65536, "LimitNOFILE={nofile}: one fd per client");
    assert_eq!(setting(&unit, "NoNewPrivileges"), Some("yes"));
    assert_eq!(setting(&unit, "DynamicUser"), Some("yes"));
    let protect = setting(&unit, "ProtectSystem").expect("ProtectSystem set");
    assert!(
        ["strict", "full", "yes", "true"].contains(&protect),
        "ProtectSystem={protect}"
    );

    if !has_systemd_analyze() {
        eprintln!("systemd_unit_is_valid_and_hardened: SKIP (systemd-analyze not installed)");
        return;
    }
    let bin = relay_binary().unwrap_or_else(|e| panic!("relay binary: {e:#}"));
    let config = workspace().join("deploy/iroh-relay.toml");
    let dir = scratch_dir("unit");
    let exec = format!(
        "ExecStart={} --config-path {}",
        bin.display(),
        config.display()
    );
    // Every command of the unit runs the installed binary: point them all
    // at the built one.
    let copy: String = unit
        .lines()
        .map(|l| {
            if l.starts_with("ExecStart=") {
                exec.clone()
            } else if l.starts_with("ExecReload=/usr/local/bin/uring-relay ") {
                l.replace("/usr/local/bin/uring-relay", &bin.display().to_string())
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    let path = dir.join("uring-relay.service");
    fs::write(&path, &copy).unwrap();
    let (ok, lines) = verify(&path);
    assert!(
        ok && lines.is_empty(),
        "systemd-analyze verify {} failed (ok={ok}): {lines:#?}",
        path.display()
    );

    // The check has teeth: a missing binary and an unknown setting are both
    // reported.
    let broken = dir.join("broken-relay.service");
    fs::write(
        &broken,
        copy.replace(&exec, "ExecStart=/nonexistent/uring-relay")
            .replace(
                "NoNewPrivileges=yes",
                "NoNewPrivileges=yes\nNoSuchSetting=1",
            ),
    )
    .unwrap();
    let (ok, lines) = verify(&broken);
    assert!(!ok, "verify accepted a unit with a missing binary");
    assert!(
        lines.iter().any(|l| l.contains("NoSuchSetting")),
        "unknown setting not reported: {lines:#?}"
    );
    let _ = fs::remove_dir_all(&dir);
}
