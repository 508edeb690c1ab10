//! Running a fault beside the load run, and what it reports: offender
//! counters, the well-behaved clients' delivered rate while the fault was
//! on, and the server's VmRSS and open descriptors over time.
//!
//! Timeline (seconds from the start of the traffic phase): `start` (the
//! well-behaved clients are connected, no offender yet), `ready` (every
//! offender in place; churn: all connected, before the first
//! reconnect), `stopped` (the fault ends), `after` (offenders gone, or for
//! churn all connected again, at least [`AFTER_WAIT`] after the stop).

use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use tokio::sync::watch;

use super::options::{FaultConfig, Mode};
use super::{churn, garbage, half_open, slow_reader, slowloris, Counters, Ctx};
use crate::procfs;
use crate::shared::Shared;

/// Least time between the fault's end and the `after` reading, so the
/// server can see the offenders' sockets close.
pub const AFTER_WAIT: Duration = Duration::from_secs(1);
/// Longest wait for the offenders to wind down at the end.
const WIND_DOWN: Duration = Duration::from_secs(20);

/// One reading of the server (absent without --server-pid).
#[derive(Debug, Clone, Copy, Serialize, Default, PartialEq)]
pub struct Sample {
    pub t_s: f64,
    pub rss_kib: Option<u64>,
    pub fds: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct OffenderReport {
    pub opened: u64,
    pub established: u64,
    pub failed: u64,
    pub closed_by_server: u64,
    /// Mean and largest time from the offence starting to the server's close.
    pub close_s_mean: Option<f64>,
    pub close_s_max: Option<f64>,
    pub closed_by_client: u64,
    pub open_at_stop: u64,
    pub bytes_sent: u64,
    pub packets_sent: u64,
    pub packets_received: u64,
    pub peer_gone: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FaultReport {
    pub mode: Mode,
    pub clients: usize,
    pub rate: f64,
    /// From `ready` to `stopped`.
    pub active_s: f64,
    pub offenders: OffenderReport,
    /// Well-behaved packets delivered per second from `ready` to `stopped`.
    pub pairs_delivered_pps: f64,
    pub start: Sample,
    pub ready: Sample,
    pub stopped: Sample,
    pub after: Sample,
    pub rss_peak_kib: Option<u64>,
    pub fds_peak: Option<u64>,
    /// What `after` should come back to: `ready` for churn (its clients
    /// are connected again at `after`), `start` for the other modes.
    pub before: Sample,
    /// after / before - 1, in percent: 0 when the fault left nothing behind.
    pub rss_after_vs_before_pct: Option<f64>,
    pub fds_after_vs_before_pct: Option<f64>,
    pub samples: Vec<Sample>,
}

/// Timeline marks the sampler thread fills in.
#[derive(Default)]
struct Marks {
    samples: Vec<Sample>,
    ready: Option<(Sample, u64)>,
    stopped: Option<(Sample, u64)>,
}

/// A fault in progress.
pub struct Runner {
    cfg: FaultConfig,
    pid: Option<u32>,
    shared: Arc<Shared>,
    t0: Instant,
    counters: Arc<Counters>,
    marks: Arc<Mutex<Marks>>,
    stop: watch::Sender<bool>,
    exit: watch::Sender<bool>,
    done: watch::Receiver<bool>,
    finish: Option<mpsc::Sender<()>>,
    sampler: Option<JoinHandle<()>>,
    offenders: Option<JoinHandle<()>>,
}

fn read(pid: Option<u32>, t0: Instant) -> Sample {
    Sample {
        t_s: t0.elapsed().as_secs_f64(),
        rss_kib: pid.and_then(procfs::proc_rss_kib),
        fds: pid.and_then(procfs::proc_fds),
    }
}

fn delivered(shared: &Shared) -> u64 {
    shared.total(|c| &c.delivered)
}

impl Runner {
    /// Starts the fault configured in `shared.cfg.fault`, if any.
    pub fn start(shared: &Arc<Shared>) -> Result<Option<Self>> {
        let Some(cfg) = shared.cfg.fault.clone() else {
            return Ok(None);
        };
        let pid = shared.cfg.server_pid;
        let t0 = Instant::now();
        let marks = Arc::new(Mutex::new(Marks::default()));
        let start = read(pid, t0);
        if let Ok(mut m) = marks.lock() {
            m.samples.push(start);
        }
        let (stop, stop_rx) = watch::channel(false);
        let (exit, exit_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = watch::channel(false);
        let (done_tx, done) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let ctx = Ctx {
            cfg: cfg.clone(),
            target: shared.cfg.target,
            host: shared.cfg.host.clone(),
            counters: counters.clone(),
            stop: stop_rx,
            exit: exit_rx,
            ready: ready_tx,
            done: done_tx,
            shared: shared.clone(),
        };
        let offenders = std::thread::Builder::new()
            .name("loadgen-fault".into())
            .spawn(move || run_offenders(ctx))
            .context("starting the fault thread")?;
        let (finish, finished) = mpsc::channel::<()>();
        let sampler = {
            let (marks, shared, stop, cfg) =
                (marks.clone(), shared.clone(), stop.clone(), cfg.clone());
            std::thread::Builder::new()
                .name("loadgen-fault-rss".into())
                .spawn(move || {
                    sample_loop(&cfg, pid, t0, &shared, &marks, &stop, &ready_rx, &finished)
                })
                .context("starting the fault sampler thread")?
        };
        Ok(Some(Self {
            cfg,
            pid,
            shared: shared.clone(),
            t0,
            counters,
            marks,
            stop,
            exit,
            done,
            finish: Some(finish),
            sampler: Some(sampler),
            offenders: Some(offenders),
        }))
    }

    /// Ends the fault (if `--fault-for` has not already), waits for the
    /// offenders to wind down and [`AFTER_WAIT`], reads the server once more,
    /// then closes whatever the fault still holds.
    pub fn finish(mut self) -> FaultReport {
        let stopped_now = !*self.stop.borrow();
        self.stop.send_replace(true);
        let mut done = self.done.clone();
        let wind_down = async move {
            let _ = tokio::time::timeout(WIND_DOWN, done.wait_for(|d| *d)).await;
        };
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            rt.block_on(wind_down);
        }
        self.finish = None;
        if let Some(s) = self.sampler.take() {
            let _ = s.join();
        }
        let marks = std::mem::take(&mut *self.marks.lock().unwrap_or_else(|e| e.into_inner()));
        let now = read(self.pid, self.t0);
        let stopped = match marks.stopped {
            Some(s) if !stopped_now => s,
            _ => (now, delivered(&self.shared)),
        };
        if let Some(left) = AFTER_WAIT.checked_sub(
            self.t0
                .elapsed()
                .saturating_sub(Duration::from_secs_f64(stopped.0.t_s)),
        ) {
            std::thread::sleep(left);
        }
        let after = read(self.pid, self.t0);
        self.exit.send_replace(true);
        if let Some(t) = self.offenders.take() {
            let _ = t.join();
        }
        let start = marks.samples.first().copied().unwrap_or_default();
        let ready = marks.ready.unwrap_or((start, 0));
        let before = if self.cfg.mode == Mode::Churn {
            ready.0
        } else {
            start
        };
        let mut samples = marks.samples;
        samples.extend([stopped.0, after]);
        let active = (stopped.0.t_s - ready.0.t_s).max(1e-9);
        let pct = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) if b > 0 => Some((a as f64 / b as f64 - 1.0) * 100.0),
            _ => None,
        };
        FaultReport {
            mode: self.cfg.mode,
            clients: self.cfg.clients,
            rate: self.cfg.rate,
            active_s: active,
            offenders: offender_report(&self.counters),
            pairs_delivered_pps: stopped.1.saturating_sub(ready.1) as f64 / active,
            start,
            ready: ready.0,
            stopped: stopped.0,
            after,
            rss_peak_kib: samples.iter().filter_map(|s| s.rss_kib).max(),
            fds_peak: samples.iter().filter_map(|s| s.fds).max(),
            before,
            rss_after_vs_before_pct: pct(after.rss_kib, before.rss_kib),
            fds_after_vs_before_pct: pct(after.fds, before.fds),
            samples,
        }
    }
}

fn offender_report(c: &Counters) -> OffenderReport {
    let g = Counters::get;
    let closed = g(&c.closed_by_server);
    let timed = g(&c.close_timed);
    OffenderReport {
        opened: g(&c.opened),
        established: g(&c.established),
        failed: g(&c.failed),
        closed_by_server: closed,
        close_s_mean: (timed > 0).then(|| g(&c.close_ms_sum) as f64 / 1e3 / timed as f64),
        close_s_max: (timed > 0).then(|| g(&c.close_ms_max) as f64 / 1e3),
        closed_by_client: g(&c.closed_by_client),
        open_at_stop: g(&c.open_at_stop),
        bytes_sent: g(&c.bytes_sent),
        packets_sent: g(&c.packets_sent),
        packets_received: g(&c.packets_received),
        peer_gone: g(&c.peer_gone),
    }
}

/// The offenders' thread: one current-thread runtime for all of them.
fn run_offenders(ctx: Ctx) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => {
            ctx.done.send_replace(true);
            return;
        }
    };
    let ctx = Rc::new(ctx);
    let set = tokio::task::LocalSet::new();
    set.block_on(&rt, async {
        match ctx.cfg.mode {
            Mode::Churn => churn::run(ctx.clone()).await,
            Mode::Slowloris => slowloris::run(ctx.clone()).await,
            Mode::SlowReader => slow_reader::run(ctx.clone()).await,
            Mode::Garbage => garbage::run(ctx.clone()).await,
            Mode::HalfOpen => half_open::run(ctx.clone()).await,
        }
    });
    ctx.ready.send_replace(true);
    ctx.done.send_replace(true);
}

/// Samples the server every `cfg.sample`, notes `ready`, and ends the
/// fault once `cfg.duration` has passed since `ready`.
#[allow(clippy::too_many_arguments)]
fn sample_loop(
    cfg: &FaultConfig,
    pid: Option<u32>,
    t0: Instant,
    shared: &Shared,
    marks: &Mutex<Marks>,
    stop: &watch::Sender<bool>,
    ready: &watch::Receiver<bool>,
    finished: &mpsc::Receiver<()>,
) {
    let mut next_sample = cfg.sample;
    let mut stop_at: Option<Duration> = None;
    loop {
        let now = t0.elapsed();
        let is_ready = *ready.borrow();
        let mut m = marks.lock().unwrap_or_else(|e| e.into_inner());
        if is_ready && m.ready.is_none() {
            let s = read(pid, t0);
            m.samples.push(s);
            m.ready = Some((s, delivered(shared)));
            stop_at = cfg.duration.map(|d| now + d);
        }
        if m.stopped.is_none() && stop_at.is_some_and(|at| now >= at) {
            stop.send_replace(true);
            m.stopped = Some((read(pid, t0), delivered(shared)));
        }
        if now >= next_sample {
            m.samples.push(read(pid, t0));
            next_sample = now + cfg.sample;
        }
        drop(m);
        let mut wake = next_sample.saturating_sub(now);
        if let Some(at) = stop_at.filter(|_| !*stop.borrow()) {
            wake = wake.min(at.saturating_sub(now));
        }
        if !is_ready {
            wake = wake.min(Duration::from_millis(20));
        }
        if !matches!(
            finished.recv_timeout(wake),
            Err(mpsc::RecvTimeoutError::Timeout)
        ) {
            return;
        }
    }
}

impl FaultReport {
    /// Rows appended to the run's table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let o = &self.offenders;
        let i = |v: Option<u64>| v.map_or_else(|| "-".into(), |v| v.to_string());
        let f = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.2}"));
        let mut row = |name: &str, value: String| {
            let _ = writeln!(s, "  {name:<22} {value}");
        };
        row(
            "fault",
            format!(
                "{} x{} rate {} for {:.1} s; pairs delivered {:.0} pkt/s meanwhile",
                self.mode.name(),
                self.clients,
                self.rate,
                self.active_s,
                self.pairs_delivered_pps
            ),
        );
        row(
            "fault offenders",
            format!(
                "opened {} established {} failed {} closed by server {} (mean {} s, max {} s) by client {} open at stop {}",
                o.opened, o.established, o.failed, o.closed_by_server, f(o.close_s_mean),
                f(o.close_s_max), o.closed_by_client, o.open_at_stop
            ),
        );
        row(
            "fault traffic",
            format!(
                "{} bytes, {} packets sent, {} received, {} PeerGone",
                o.bytes_sent, o.packets_sent, o.packets_received, o.peer_gone
            ),
        );
        type Field = fn(&Sample) -> Option<u64>;
        let rows: [(&str, Field, Option<u64>); 2] = [
            ("rss KiB", |s| s.rss_kib, self.rss_peak_kib),
            ("fds", |s| s.fds, self.fds_peak),
        ];
        for (name, v, peak) in rows {
            row(
                &format!("fault server {name}"),
                format!(
                    "start {} ready {} peak {} stopped {} after {}",
                    i(v(&self.start)),
                    i(v(&self.ready)),
                    i(peak),
                    i(v(&self.stopped)),
                    i(v(&self.after))
                ),
            );
        }
        s
    }
}
