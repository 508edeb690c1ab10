//! One loadgen thread: a current-thread tokio runtime that connects its
//! block of clients in bounded waves, paces their sends and runs them.

use std::collections::BTreeMap;
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, MissedTickBehavior};

use crate::config::Rate;
use crate::connect::{self, ConnectError};
use crate::groups::GroupHists;
use crate::handshake::Credentials;
use crate::shared::{Phase, Shared};
use crate::stats;
use crate::thread_state::ThreadState;

/// What a thread hands back at the end.
pub struct WorkerResult {
    pub latency: Histogram<u64>,
    pub connect: Histogram<u64>,
    pub errors: BTreeMap<&'static str, (u64, String)>,
    pub groups: Vec<GroupHists>,
}

/// Starts the thread for clients `range`.
pub fn spawn(
    shared: Arc<Shared>,
    tid: usize,
    range: Range<usize>,
) -> std::io::Result<std::thread::JoinHandle<WorkerResult>> {
    std::thread::Builder::new()
        .name(format!("loadgen-{tid}"))
        .spawn(move || {
            let local = Rc::new(ThreadState::new(shared, tid, range));
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => {
                    let set = tokio::task::LocalSet::new();
                    set.block_on(&rt, drive(local.clone()));
                }
                Err(e) => local.note_error("runtime", e.to_string()),
            }
            // Client tasks (and their sockets) are gone with the LocalSet.
            WorkerResult {
                latency: local.latency.replace(stats::histogram()),
                connect: local.connect.replace(stats::histogram()),
                errors: local.errors.take(),
                groups: local.groups.take(),
            }
        })
}

/// Follows the run phase until Exit.
async fn drive(local: Rc<ThreadState>) {
    let sh = local.shared.clone();
    tokio::task::spawn_local(dispatch_connects(local.clone()));
    let mut rx = sh.phase.subscribe();
    loop {
        let phase = *rx.borrow_and_update();
        let prev = local.phase.replace(phase);
        local
            .counters()
            .phase_seen
            .store(phase as u8, std::sync::atomic::Ordering::SeqCst);
        if phase == Phase::Traffic && prev != Phase::Traffic {
            match sh.cfg.rate {
                Rate::Max => {
                    for idx in local.range.clone() {
                        if sh.is_connected(idx) {
                            sh.slots[idx].wake.notify_one();
                        }
                    }
                }
                Rate::Fixed(r) if r > 0.0 => {
                    tokio::task::spawn_local(pace(local.clone(), r));
                }
                Rate::Fixed(_) => {}
            }
        }
        if phase == Phase::Exit || rx.changed().await.is_err() {
            return;
        }
    }
}

/// Connects this thread's clients: at most `inflight` at once and, with
/// --connect-rate, no faster than this thread's share of that rate.
async fn dispatch_connects(local: Rc<ThreadState>) {
    let sh = local.shared.clone();
    let cfg = &sh.cfg;
    let threads = cfg.threads as f64;
    let inflight = cfg.connect_inflight.div_ceil(cfg.threads).max(1);
    let sem = Arc::new(Semaphore::new(inflight));
    let mut ticker = cfg.connect_rate.map(|r| {
        let mut t = tokio::time::interval(Duration::from_secs_f64(threads / r));
        t.set_missed_tick_behavior(MissedTickBehavior::Delay);
        t
    });
    for idx in local.range.clone() {
        let Ok(permit) = sem.clone().acquire_owned().await else {
            return;
        };
        if let Some(t) = ticker.as_mut() {
            t.tick().await;
        }
        if local.phase.get() == Phase::Exit {
            return;
        }
        tokio::task::spawn_local(client_task(local.clone(), idx, permit));
    }
}

async fn client_task(local: Rc<ThreadState>, idx: usize, permit: OwnedSemaphorePermit) {
    let sh = local.shared.clone();
    let cfg = &sh.cfg;
    let (Some(info), Some(secret), Some(slot)) =
        (sh.infos.get(idx), sh.secrets.get(idx), sh.slots.get(idx))
    else {
        return;
    };
    let src = connect::source_ip(cfg.target, idx, cfg.src_ips);
    let start = Instant::now();
    let seed = (idx as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let group = cfg.mix.group_of(idx);
    let protocol = cfg.mix.protocol_of(idx);
    let creds = Credentials {
        client_info: info,
        secret,
    };
    let handshake = connect::establish(cfg.target, src, &cfg.host, protocol, creds, seed);
    let res: Result<Result<_, ConnectError>, _> =
        tokio::time::timeout(cfg.connect_timeout, handshake).await;
    drop(permit);
    match res {
        Ok(Ok(conn)) => {
            let us = start.elapsed().as_micros() as u64;
            stats::record(&mut local.connect.borrow_mut(), us);
            if let Some(g) = local.groups.borrow_mut().get_mut(group) {
                stats::record(&mut g.connect, us);
            }
            slot.connected
                .store(true, std::sync::atomic::Ordering::SeqCst);
            local.counters().connected.add(1);
            if let Some(g) = local.counters().groups.get(group) {
                g.connected.add(1);
            }
            crate::client::run(local, idx, conn).await;
        }
        Ok(Err(e)) => {
            local.counters().connect_failed.add(1);
            local.note_error(e.kind(), e.to_string());
        }
        Err(_) => {
            local.counters().connect_failed.add(1);
            local.note_error(
                "connect_timeout",
                format!("no Pong within {:?}", cfg.connect_timeout),
            );
        }
    }
}

/// Fixed-rate schedule: every millisecond, hands out the packets due since
/// the start to this thread's senders in round-robin order.
async fn pace(local: Rc<ThreadState>, total_rate: f64) {
    let sh = local.shared.clone();
    let cfg = &sh.cfg;
    let senders: Vec<usize> = local
        .range
        .clone()
        .filter(|&i| cfg.pattern.is_sender(i, cfg.clients))
        .collect();
    let all = cfg.pattern.senders(cfg.clients);
    if senders.is_empty() || all == 0 {
        return;
    }
    let rate = total_rate * senders.len() as f64 / all as f64;
    let start = Instant::now();
    let mut issued = 0u64;
    let mut cursor = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let ctr = local.counters();
    loop {
        tick.tick().await;
        if local.phase.get() != Phase::Traffic {
            return;
        }
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        let n = due.saturating_sub(issued);
        issued = due;
        ctr.offered.add(n);
        let mut dropped = 0u64;
        for _ in 0..n {
            let idx = senders[cursor];
            cursor = (cursor + 1) % senders.len();
            if !local.give_credit(idx) {
                dropped += 1;
            }
        }
        ctr.unsent.add(dropped);
    }
}
