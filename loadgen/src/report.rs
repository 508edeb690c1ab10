//! The results of one run: JSON (for scripts) and a human table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::config::Rate;
use crate::pattern::Pattern;
use crate::protocol::Protocol;
use crate::stats::Percentiles;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub label: Option<String>,
    pub config: ConfigReport,
    pub connect: ConnectReport,
    pub traffic: TrafficReport,
    /// One-way latency (send timestamp in the payload to parse at the receiver), microseconds.
    pub latency_us: Percentiles,
    /// Connect failures and disconnects by kind, with the first message seen.
    pub errors: BTreeMap<String, ErrorEntry>,
    pub loadgen: CpuReport,
    pub server: Option<ServerReport>,
    pub machine: MachineReport,
    /// Misbehaving clients run beside the well-behaved ones (--fault).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<crate::fault::FaultReport>,
    /// Per protocol group of a mixed run (--mix), by label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<BTreeMap<String, crate::groups::GroupReport>>,
}

/// Whole-machine CPU over the traffic phase and grace period: shows
/// whether something besides the loadgen and the server competed.
#[derive(Debug, Clone, Serialize, Default)]
pub struct MachineReport {
    pub cpus: usize,
    pub busy_cores: f64,
    /// busy - loadgen - server (only meaningful with --server-pid).
    pub other_cores: f64,
    pub steal_cores: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfigReport {
    pub url: String,
    pub protocol: Protocol,
    pub clients: usize,
    pub pattern: Pattern,
    pub size: usize,
    /// "max" or packets/s.
    pub rate: String,
    pub window: u32,
    pub duration_s: f64,
    pub threads: usize,
    pub connect_inflight: usize,
    pub connect_rate: Option<f64>,
    pub src_ips: u8,
    /// Wait after the clients left before `server.rss_after_settle_kib`.
    pub settle_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConnectReport {
    pub attempted: usize,
    pub connected: u64,
    pub failed: u64,
    /// From the first connect attempt to the last client finishing (or failing).
    pub wall_s: f64,
    pub per_s: f64,
    /// TCP connect to first Pong, milliseconds.
    pub time_ms: Percentiles,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct TrafficReport {
    /// Length of the sending phase.
    pub duration_s: f64,
    pub offered: u64,
    pub sent: u64,
    /// Offered but never sent (destination down, or send backlog full).
    pub unsent: u64,
    /// Delivered at any time, including the grace period.
    pub delivered: u64,
    pub delivered_in_window: u64,
    /// sent - delivered after the grace period.
    pub lost: u64,
    pub offered_pps: f64,
    /// delivered_in_window / duration_s.
    pub delivered_pps: f64,
    /// Payload bits delivered per second (frame headers and keys not counted).
    pub delivered_gbps: f64,
    pub bad_payload: u64,
    pub protocol_errors: u64,
    pub disconnects: u64,
    pub server_pings: u64,
    pub peer_gone: u64,
    pub health_frames: u64,
    pub window_stalls: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorEntry {
    pub count: u64,
    pub example: String,
}

/// CPU used during the traffic phase plus grace period.
#[derive(Debug, Clone, Serialize, Default)]
pub struct CpuReport {
    pub user_s: f64,
    pub sys_s: f64,
    pub cpu_s: f64,
    /// cpu_s / wall seconds: 1.0 = one core fully busy.
    pub cores: f64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct ServerReport {
    pub pid: u32,
    pub threads: Option<u64>,
    /// utime + stime during the traffic phase plus grace period.
    pub cpu_s: f64,
    pub cores: f64,
    pub cpu_ns_per_packet: Option<f64>,
    /// Server CPU spent while the clients connected.
    pub connect_cpu_s: f64,
    pub connect_cpu_us_per_client: Option<f64>,
    pub rss_before_kib: Option<u64>,
    pub rss_after_connect_kib: Option<u64>,
    /// (RSS after connect - RSS before) / connected clients.
    pub rss_per_client_bytes: Option<f64>,
    /// Largest VmRSS from connecting until every client socket was closed,
    /// sampled every 20 ms.
    pub rss_peak_kib: Option<u64>,
    /// VmRSS at the end of the grace period, clients still connected.
    pub rss_end_kib: Option<u64>,
    /// VmRSS once every client socket was closed and `config.settle_s` passed.
    pub rss_after_settle_kib: Option<u64>,
    /// The kernel's peak VmRSS (VmHWM) since the server started: a check on
    /// the sampled peak (on a freshly started server the two should agree).
    pub rss_hwm_kib: Option<u64>,
    /// Open descriptors before connecting and after the settle wait: equal
    /// when the server closed every connection of the clients that left.
    pub fds_before: Option<u64>,
    pub fds_after_settle: Option<u64>,
}

impl ConfigReport {
    pub fn rate_str(rate: Rate) -> String {
        match rate {
            Rate::Max => "max".into(),
            Rate::Fixed(r) => format!("{r}"),
        }
    }
}

impl Report {
    /// A human-readable summary table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let c = &self.config;
        let t = &self.traffic;
        let l = &self.latency_us;
        let k = &self.connect;
        let _ = writeln!(
            s,
            "loadgen {}: {} clients, {}, {}, {} B, rate {}, {:.1} s, {} thread(s)",
            self.label.as_deref().unwrap_or(&c.url),
            c.clients,
            match &self.groups {
                Some(g) => g.keys().cloned().collect::<Vec<_>>().join("+"),
                None => c.protocol.name().to_string(),
            },
            format!("{:?}", c.pattern).to_lowercase(),
            c.size,
            c.rate,
            c.duration_s,
            c.threads
        );
        let mut row = |name: &str, value: String| {
            let _ = writeln!(s, "  {name:<22} {value}");
        };
        row(
            "connected",
            format!(
                "{} / {} ({} failed) in {:.2} s, {:.0}/s",
                k.connected, k.attempted, k.failed, k.wall_s, k.per_s
            ),
        );
        row(
            "connect time ms",
            format!(
                "p50 {:.2}  p99 {:.2}  max {:.2}",
                k.time_ms.p50, k.time_ms.p99, k.time_ms.max
            ),
        );
        row(
            "packets",
            format!(
                "offered {}  sent {}  delivered {}  lost {}  unsent {}",
                t.offered, t.sent, t.delivered, t.lost, t.unsent
            ),
        );
        row(
            "throughput",
            format!(
                "{:.0} pkt/s  {:.3} Gbit/s (offered {:.0} pkt/s)",
                t.delivered_pps, t.delivered_gbps, t.offered_pps
            ),
        );
        row(
            "latency us",
            format!(
                "p50 {:.0}  p99 {:.0}  p999 {:.0}  max {:.0}",
                l.p50, l.p99, l.p999, l.max
            ),
        );
        row(
            "errors",
            format!(
                "bad payload {}  protocol {}  disconnects {}  health {}  window stalls {}",
                t.bad_payload, t.protocol_errors, t.disconnects, t.health_frames, t.window_stalls
            ),
        );
        row(
            "loadgen cpu",
            format!(
                "{:.2} s ({:.2} cores; user {:.2} sys {:.2})",
                self.loadgen.cpu_s, self.loadgen.cores, self.loadgen.user_s, self.loadgen.sys_s
            ),
        );
        row(
            "machine cpu",
            format!(
                "{:.2} of {} cores busy ({:.2} other processes, {:.2} steal)",
                self.machine.busy_cores,
                self.machine.cpus,
                self.machine.other_cores,
                self.machine.steal_cores
            ),
        );
        if let Some(sv) = &self.server {
            row(
                "server cpu",
                format!(
                    "{:.2} s ({:.2} cores), {} ns/packet, connect {:.2} s ({} us/client)",
                    sv.cpu_s,
                    sv.cores,
                    opt(sv.cpu_ns_per_packet, 0),
                    sv.connect_cpu_s,
                    opt(sv.connect_cpu_us_per_client, 1)
                ),
            );
            row(
                "server rss",
                format!(
                    "{} KiB before, {} KiB after connect, {} B/client",
                    int(sv.rss_before_kib),
                    int(sv.rss_after_connect_kib),
                    opt(sv.rss_per_client_bytes, 0)
                ),
            );
            row(
                "server rss burst",
                format!(
                    "peak {} KiB (kernel high-water {}), {} KiB at end, {} KiB {:.0} s after the clients left",
                    int(sv.rss_peak_kib),
                    int(sv.rss_hwm_kib),
                    int(sv.rss_end_kib),
                    int(sv.rss_after_settle_kib),
                    c.settle_s
                ),
            );
            row(
                "server open fds",
                format!(
                    "{} before connecting, {} after the clients left",
                    int(sv.fds_before),
                    int(sv.fds_after_settle)
                ),
            );
        }
        for (kind, e) in &self.errors {
            row(
                &format!("! {kind}"),
                format!("{} x, e.g. {}", e.count, e.example),
            );
        }
        if let Some(f) = &self.fault {
            s.push_str(&f.table());
        }
        if let Some(g) = &self.groups {
            s.push_str(&crate::groups::table(g));
        }
        s
    }

    pub fn to_json(&self) -> String {
        // Serializing plain structs of numbers and strings cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// A whole number read from /proc, or `-` when it could not be read.
fn int(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.decimals$}"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sample() -> Report {
        Report {
            label: Some("test".into()),
            config: ConfigReport {
                url: "http://127.0.0.1:3340".into(),
                protocol: Protocol::Derp,
                clients: 2,
                pattern: Pattern::Pairs,
                size: 1200,
                rate: ConfigReport::rate_str(Rate::Max),
                window: 64,
                duration_s: 1.0,
                threads: 1,
                connect_inflight: 512,
                connect_rate: None,
                src_ips: 16,
                settle_s: 30.0,
            },
            connect: ConnectReport {
                attempted: 2,
                connected: 2,
                failed: 0,
                wall_s: 0.01,
                per_s: 200.0,
                time_ms: Percentiles::default(),
            },
            traffic: TrafficReport {
                sent: 10,
                delivered: 10,
                ..Default::default()
            },
            latency_us: Percentiles::default(),
            errors: BTreeMap::from([(
                "server_closed".to_string(),
                ErrorEntry {
                    count: 1,
                    example: "x".into(),
                },
            )]),
            loadgen: CpuReport::default(),
            server: Some(ServerReport {
                rss_before_kib: Some(9000),
                rss_peak_kib: Some(900_000),
                rss_end_kib: Some(400_000),
                rss_after_settle_kib: Some(20_000),
                ..Default::default()
            }),
            machine: MachineReport::default(),
            fault: None,
            groups: None,
        }
    }

    #[test]
    fn json_shape() {
        let v: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        for key in [
            "label",
            "config",
            "connect",
            "traffic",
            "latency_us",
            "errors",
            "loadgen",
            "server",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["config"]["protocol"], "derp");
        assert_eq!(v["config"]["pattern"], "pairs");
        assert_eq!(v["config"]["rate"], "max");
        for key in [
            "offered",
            "sent",
            "delivered",
            "lost",
            "delivered_pps",
            "delivered_gbps",
        ] {
            assert!(v["traffic"][key].is_number(), "traffic.{key}");
        }
        for key in ["p50", "p99", "p999", "max"] {
            assert!(v["latency_us"][key].is_number(), "latency_us.{key}");
            assert!(
                v["connect"]["time_ms"][key].is_number(),
                "connect.time_ms.{key}"
            );
        }
        assert_eq!(v["errors"]["server_closed"]["count"], 1);
        assert!(v["server"]["cpu_ns_per_packet"].is_null());
        assert_eq!(v["config"]["settle_s"], 30.0);
        assert_eq!(v["server"]["rss_peak_kib"], 900_000);
        assert_eq!(v["server"]["rss_end_kib"], 400_000);
        assert_eq!(v["server"]["rss_after_settle_kib"], 20_000);
        assert!(v["server"]["rss_hwm_kib"].is_null());
        assert!(v["server"]["fds_after_settle"].is_null());
        assert!(v["loadgen"]["cores"].is_number());
    }

    #[test]
    fn table_mentions_the_numbers() {
        let t = sample().table();
        assert!(t.contains("delivered 10"), "{t}");
        assert!(t.contains("server rss"), "{t}");
        assert!(
            t.contains("peak 900000 KiB (kernel high-water -), 400000 KiB at end, 20000 KiB 30 s after the clients left"),
            "{t}"
        );
        assert!(t.contains("! server_closed"), "{t}");
    }
}
