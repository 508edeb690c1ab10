//! End to end: loadgen against its own pump, as two processes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_loadgen");

/// Kills the pump even when an assertion fails.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_pump() -> (Kill, String) {
    let mut child = Command::new(BIN)
        .args(["pump", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start pump");
    let stdout = child.stdout.take().expect("pump stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("pump prints its address");
    let addr = line
        .trim()
        .strip_prefix("pump listening on ")
        .unwrap_or_else(|| panic!("unexpected pump output {line:?}"))
        .to_string();
    (Kill(child), addr)
}

fn run_loadgen(addr: &str, pid: u32, extra: &[&str]) -> serde_json::Value {
    let dir = std::env::temp_dir().join(format!(
        "loadgen-test-{}-{}",
        std::process::id(),
        extra.join("_")
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let json = dir.join("out.json");
    let pid = pid.to_string();
    let mut args = vec![
        "--clients",
        "6",
        "--duration",
        "1s",
        "--quiet",
        "--server-pid",
        &pid,
    ];
    args.extend_from_slice(extra);
    let url = format!("http://{addr}");
    let json_s = json.to_string_lossy().to_string();
    let out = Command::new(BIN)
        .args(["--url", &url, "--json", &json_s])
        .args(&args)
        .output()
        .expect("run loadgen");
    assert!(
        out.status.success(),
        "loadgen failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&json).expect("json written");
    let _ = std::fs::remove_dir_all(&dir);
    serde_json::from_str(&text).expect("valid json")
}

#[test]
fn loadgen_against_pump_delivers_everything() {
    let (pump, addr) = start_pump();
    for extra in [
        &["--rate", "max"][..],
        &["--protocol", "ws", "--rate", "2000", "--pattern", "ring"][..],
    ] {
        let v = run_loadgen(&addr, pump.0.id(), extra);
        assert_eq!(v["connect"]["connected"], 6, "{v}");
        let delivered = v["traffic"]["delivered"].as_u64().unwrap_or(0);
        assert!(delivered > 0, "{v}");
        assert_eq!(v["traffic"]["lost"], 0, "{v}");
        assert_eq!(v["traffic"]["bad_payload"], 0, "{v}");
        assert!(v["latency_us"]["p50"].as_f64().unwrap_or(0.0) > 0.0, "{v}");
        assert!(
            v["server"]["rss_after_connect_kib"].as_u64().is_some(),
            "{v}"
        );
    }
}
