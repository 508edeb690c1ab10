//! One timer per shard instead of several per connection: write stalls,
//! and each client session's timeouts (server pings, pong deadlines),
//! twice a second.
//!
//! Each tick visits a slice of the clients, so 10k clients never stall the
//! shard for a whole pass at once.

use std::rc::Rc;
use std::time::{Duration, Instant};

use std::os::fd::AsRawFd;

use super::client::{Client, CloseReason};
use super::state::Shard;
use crate::proto::session::Timeout;
use crate::proto::ServerFrame;

/// A write that made no progress for this long disconnects its receiver.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Time without an observed write completion after which the kernel is
/// asked whether the receiver still takes bytes.
const SUSPECT_AFTER: Duration = Duration::from_millis(500);
const TICK: Duration = Duration::from_millis(50);
/// Ticks per full pass over the clients (one pass per 500 ms).
const SLICES: usize = 10;
/// Write buffers unused for this many ticks (2 s) are freed.
const TRIM_EVERY: u64 = 40;

pub async fn run(shard: Rc<Shard>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for n in 0u64.. {
        tick.tick().await;
        if shard.shutting_down.get() {
            return;
        }
        sweep(&shard, Instant::now());
        let m = &shard.metrics.shard;
        m.queued_bytes.set(shard.budget.used() as u64);
        m.read_busy.set(shard.reads.busy() as u64);
        if n % TRIM_EVERY == 0 {
            shard.pool.trim();
            if let Some(ring) = &shard.ring {
                ring.trim();
            }
        }
    }
}

fn sweep(shard: &Shard, now: Instant) {
    let mut to_close = Vec::new();
    let mut list = shard.sweep_list.borrow_mut();
    let budget = list.len().div_ceil(SLICES);
    let mut i = shard.sweep_cursor.get();
    for _ in 0..budget {
        if list.is_empty() {
            break;
        }
        if i >= list.len() {
            i = 0;
        }
        // Entries of finished connections are dropped as they are met.
        let Some(c) = list[i].upgrade() else {
            list.swap_remove(i);
            continue;
        };
        i += 1;
        if c.is_closed() {
            continue;
        }
        if write_stalled(&c, now) {
            to_close.push((c, CloseReason::WriteStall));
            continue;
        }
        // The session keeps the liveness rules; this only moves frames.
        let due = c.session.borrow_mut().handle_timeout(now);
        match due {
            Some(Timeout::Ping(data)) if !c.enqueue_frame(&ServerFrame::Ping(data)) => {
                c.session.borrow_mut().ping_not_sent();
            }
            Some(Timeout::Expired) => to_close.push((c, CloseReason::PingTimeout)),
            Some(Timeout::Ping(_)) | None => {}
        }
    }
    shard.sweep_cursor.set(i);
    // Sized for the most clients ever connected otherwise.
    if list.capacity() > 1024 && list.len() * 4 < list.capacity() {
        let keep = list.len() * 2;
        list.shrink_to(keep);
    }
    drop(list);
    let m = &shard.metrics;
    for (c, reason) in to_close {
        if c.close(reason, m) {
            let fm = m.family(c.family);
            match reason {
                CloseReason::WriteStall => fm.write_stalls.inc(),
                _ => fm.ping_timeouts.inc(),
            }
            tracing::debug!(client = %crate::proto::key::short_hex(&c.key), %reason, "closing");
        }
    }
}

/// Whether the client's write has made no progress for [`WRITE_TIMEOUT`].
/// A shard that is busy submits and sees completions late, so a write
/// that looks stuck is checked against the kernel: stalled means bytes
/// wait for the receiver and it acknowledged none of them for that long.
fn write_stalled(c: &Client, now: Instant) -> bool {
    let Some(progress) = c.write_progress.get() else {
        c.stall_probe.set(None);
        return false;
    };
    if now.duration_since(progress) < SUSPECT_AFTER {
        return false;
    }
    let Some(kernel) = super::tcp_info::send_progress(c.stream.as_raw_fd()) else {
        // No kernel counters: judge by the completions seen.
        return now.duration_since(progress) > WRITE_TIMEOUT;
    };
    match c.stall_probe.get() {
        Some((acked, since)) if kernel.waiting && acked == kernel.acked => {
            now.duration_since(since) > WRITE_TIMEOUT
        }
        _ => {
            c.stall_probe.set(Some((kernel.acked, now)));
            false
        }
    }
}
