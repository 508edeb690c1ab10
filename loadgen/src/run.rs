//! The load run: generate identities, start the threads, walk them through
//! connect, traffic, drain and exit, optionally wait for the server to
//! settle, then assemble the report.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ed25519_dalek::SigningKey;
use relay_proto::client_info;
use relay_proto::key::NodeKey;

use crate::config::Config;
use crate::groups::{self, GroupHists};
use crate::memory::{self, PeakSampler};
use crate::pattern::thread_ranges;
use crate::progress::Progress;
use crate::report::{
    ConfigReport, ConnectReport, CpuReport, ErrorEntry, MachineReport, Report, ServerReport,
    TrafficReport,
};
use crate::shared::{Phase, Shared};
use crate::stats::{self, Percentiles};
use crate::{limits, procfs, worker};

/// Runs the whole measurement and returns the report.
pub fn run(cfg: Config) -> Result<Report> {
    limits::ensure_nofile(cfg.clients + cfg.fault.as_ref().map_or(0, |f| f.sockets()))?;
    let (keys, infos, secrets) = identities(cfg.clients, cfg.threads);
    let shared = Arc::new(Shared::new(cfg, keys, infos, secrets));
    let cfg = &shared.cfg;
    let pid = cfg.server_pid;
    let mut progress = Progress::new(cfg.quiet);

    let rss_before = pid.and_then(procfs::proc_rss_kib);
    let fds_before = pid.and_then(procfs::proc_fds);
    let sampler = pid
        .map(PeakSampler::start)
        .transpose()
        .context("starting the RSS sampler thread")?;
    let server_cpu_0 = pid.and_then(procfs::proc_cpu);
    let connect_start = Instant::now();
    let mut handles = Vec::with_capacity(cfg.threads);
    for (tid, range) in thread_ranges(cfg.clients, cfg.threads)
        .into_iter()
        .enumerate()
    {
        handles
            .push(worker::spawn(shared.clone(), tid, range).context("starting a loadgen thread")?);
    }

    // Connect phase: every attempt ends (success, failure or timeout).
    loop {
        let done = shared.total(|c| &c.connected) + shared.total(|c| &c.connect_failed);
        progress.connecting(&shared);
        if done >= cfg.clients as u64 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let connect_wall = connect_start.elapsed();
    let server_cpu_1 = pid.and_then(procfs::proc_cpu);
    let rss_after = pid.and_then(procfs::proc_rss_kib);

    // Traffic phase.
    let (u0, s0) = procfs::self_cpu();
    let machine_0 = procfs::machine_cpu();
    let traffic_start = Instant::now();
    shared.phase.send_replace(Phase::Traffic);
    let fault = crate::fault::Runner::start(&shared)?;
    while traffic_start.elapsed() < cfg.duration {
        progress.traffic(&shared, traffic_start.elapsed());
        let left = cfg.duration.saturating_sub(traffic_start.elapsed());
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
    shared.phase.send_replace(Phase::Drain);
    let traffic_wall = traffic_start.elapsed();

    // Grace period: stop early once everything sent has arrived. Counting
    // starts once every thread has stopped sending, so `sent` is final.
    let drain_start = Instant::now();
    while !shared.all_seen(Phase::Drain) && drain_start.elapsed() < cfg.grace {
        std::thread::sleep(Duration::from_millis(1));
    }
    while drain_start.elapsed() < cfg.grace
        && shared.total(|c| &c.delivered) < shared.total(|c| &c.sent)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let measured_wall = traffic_start.elapsed();
    let (u1, s1) = procfs::self_cpu();
    let machine_1 = procfs::machine_cpu();
    let server_cpu_2 = pid.and_then(procfs::proc_cpu);
    let server_threads = pid.and_then(procfs::proc_threads);
    let rss_end = pid.and_then(procfs::proc_rss_kib);
    progress.finish();
    let fault = fault.map(crate::fault::Runner::finish);
    shared.phase.send_replace(Phase::Exit);

    let mut latency = stats::histogram();
    let mut connect = stats::histogram();
    let mut errors: BTreeMap<String, ErrorEntry> = BTreeMap::new();
    let mut group_hists: Vec<GroupHists> = Vec::new();
    for h in handles {
        let r = h
            .join()
            .map_err(|_| anyhow::anyhow!("a loadgen thread panicked"))?;
        // Same bounds on both sides, so adding cannot fail.
        let _ = latency.add(&r.latency);
        let _ = connect.add(&r.connect);
        group_hists.resize_with(r.groups.len().max(group_hists.len()), GroupHists::new);
        for (acc, g) in group_hists.iter_mut().zip(&r.groups) {
            acc.merge(g);
        }
        for (kind, (count, example)) in r.errors {
            errors
                .entry(kind.to_string())
                .and_modify(|e| e.count += count)
                .or_insert(ErrorEntry { count, example });
        }
    }
    // Every thread has returned, and with it every client socket is closed
    // (they live only in the threads' tasks): the settle clock starts now.
    let rss_peak = sampler.and_then(|s| {
        s.note(rss_after);
        s.note(rss_end);
        s.stop()
    });
    let rss_hwm = pid.and_then(procfs::proc_rss_hwm_kib);
    let settled = pid.map_or_else(memory::Settled::default, |pid| {
        memory::settle(pid, cfg.settle, &mut progress)
    });
    progress.finish();

    let t = |f: fn(&crate::shared::ThreadCounters) -> &stats::Counter| shared.total(f);
    let connected = t(|c| &c.connected);
    let sent = t(|c| &c.sent);
    let delivered = t(|c| &c.delivered);
    let in_window = t(|c| &c.delivered_in_window);
    let secs = traffic_wall.as_secs_f64().max(1e-9);
    let traffic = TrafficReport {
        duration_s: traffic_wall.as_secs_f64(),
        offered: t(|c| &c.offered),
        sent,
        unsent: t(|c| &c.unsent),
        delivered,
        delivered_in_window: in_window,
        lost: sent.saturating_sub(delivered),
        offered_pps: t(|c| &c.offered) as f64 / secs,
        delivered_pps: in_window as f64 / secs,
        delivered_gbps: in_window as f64 * cfg.size as f64 * 8.0 / secs / 1e9,
        bad_payload: t(|c| &c.bad_payload),
        protocol_errors: t(|c| &c.protocol_errors),
        disconnects: t(|c| &c.disconnects),
        server_pings: t(|c| &c.server_pings),
        peer_gone: t(|c| &c.peer_gone),
        health_frames: t(|c| &c.health),
        window_stalls: t(|c| &c.window_stalls),
    };
    let loadgen_cpu = {
        let user = (u1 - u0).as_secs_f64();
        let sys = (s1 - s0).as_secs_f64();
        CpuReport {
            user_s: user,
            sys_s: sys,
            cpu_s: user + sys,
            cores: (user + sys) / measured_wall.as_secs_f64().max(1e-9),
        }
    };
    let server = pid.map(|pid| {
        let d = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
            (Some(a), Some(b)) => b.saturating_sub(a).as_secs_f64(),
            _ => 0.0,
        };
        let cpu = d(server_cpu_1, server_cpu_2);
        let connect_cpu = d(server_cpu_0, server_cpu_1);
        ServerReport {
            pid,
            threads: server_threads,
            cpu_s: cpu,
            cores: cpu / measured_wall.as_secs_f64().max(1e-9),
            cpu_ns_per_packet: (delivered > 0).then(|| cpu * 1e9 / delivered as f64),
            connect_cpu_s: connect_cpu,
            connect_cpu_us_per_client: (connected > 0)
                .then(|| connect_cpu * 1e6 / connected as f64),
            rss_before_kib: rss_before,
            rss_after_connect_kib: rss_after,
            rss_per_client_bytes: match (rss_before, rss_after) {
                (Some(b), Some(a)) if connected > 0 => {
                    Some((a as f64 - b as f64) * 1024.0 / connected as f64)
                }
                _ => None,
            },
            rss_peak_kib: rss_peak,
            rss_end_kib: rss_end,
            rss_after_settle_kib: settled.rss_kib,
            rss_hwm_kib: rss_hwm,
            fds_before,
            fds_after_settle: settled.fds,
        }
    });
    let wall = measured_wall.as_secs_f64().max(1e-9);
    let machine = match (machine_0, machine_1) {
        (Some(a), Some(b)) => {
            let busy = b.busy.saturating_sub(a.busy).as_secs_f64() / wall;
            let server_cores = server.as_ref().map_or(0.0, |s| s.cores);
            MachineReport {
                cpus: std::thread::available_parallelism()
                    .map_or(1, |n| n.get())
                    .max(online_cpus()),
                busy_cores: busy,
                other_cores: (busy - loadgen_cpu.cores - server_cores).max(0.0),
                steal_cores: b.steal.saturating_sub(a.steal).as_secs_f64() / wall,
            }
        }
        _ => MachineReport::default(),
    };
    Ok(Report {
        label: cfg.label.clone(),
        config: ConfigReport {
            url: cfg.url.clone(),
            protocol: cfg.protocol,
            clients: cfg.clients,
            pattern: cfg.pattern,
            size: cfg.size,
            rate: ConfigReport::rate_str(cfg.rate),
            window: cfg.window,
            duration_s: cfg.duration.as_secs_f64(),
            threads: cfg.threads,
            connect_inflight: cfg.connect_inflight,
            connect_rate: cfg.connect_rate,
            src_ips: cfg.src_ips,
            settle_s: cfg.settle.as_secs_f64(),
        },
        connect: ConnectReport {
            attempted: cfg.clients,
            connected,
            failed: t(|c| &c.connect_failed),
            wall_s: connect_wall.as_secs_f64(),
            per_s: connected as f64 / connect_wall.as_secs_f64().max(1e-9),
            time_ms: Percentiles::of(&connect, 1e3),
        },
        traffic,
        latency_us: Percentiles::of(&latency, 1e3),
        errors,
        loadgen: loadgen_cpu,
        server,
        machine,
        fault,
        groups: groups::report(&shared, &group_hists, traffic_wall.as_secs_f64()),
    })
}

/// CPUs online (the loadgen itself may be pinned to fewer).
fn online_cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

/// Fresh ed25519 keys and signed ClientInfo payloads, made in parallel
/// before connecting so the connect storm measures the server only.
fn identities(n: usize, threads: usize) -> (Vec<NodeKey>, Vec<Vec<u8>>, Vec<SigningKey>) {
    let chunk = n.div_ceil(threads.max(1)).max(1);
    let made: Vec<(SigningKey, Vec<u8>)> = std::thread::scope(|s| {
        let parts: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| {
                s.spawn(move || {
                    (start..n.min(start + chunk))
                        .map(|_| {
                            let sk = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
                            let info = client_info::build(&sk, client_info::PROTOCOL_VERSION);
                            (sk, info)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let keys = made
        .iter()
        .map(|(s, _)| s.verifying_key().to_bytes())
        .collect();
    let (secrets, infos) = made.into_iter().unzip();
    (keys, infos, secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_distinct_and_valid() {
        let (keys, infos, _) = identities(9, 4);
        assert_eq!(keys.len(), 9);
        for (k, i) in keys.iter().zip(&infos) {
            let info = client_info::verify(i).unwrap();
            assert_eq!(&info.key, k);
        }
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 9);
    }
}
