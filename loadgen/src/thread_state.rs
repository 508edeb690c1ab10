//! What one loadgen thread's client tasks share: the run's shared state,
//! the thread's scratch buffers, send credits, histograms and errors.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use hdrhistogram::Histogram;

use crate::groups::GroupHists;
use crate::shared::{Phase, Shared, ThreadCounters};
use crate::stats;

/// Credits a client may hold; beyond this the schedule is counted unsent.
const MAX_CREDITS: u32 = 1024;

/// Thread-local state shared by the thread's client tasks.
pub struct ThreadState {
    pub shared: Arc<Shared>,
    pub tid: usize,
    pub range: Range<usize>,
    pub phase: Cell<Phase>,
    /// Read scratch buffer (tasks never hold it across an await).
    pub rbuf: RefCell<Vec<u8>>,
    /// Payload template: measurement header, then zero filler.
    pub packet: RefCell<Vec<u8>>,
    /// Fixed-rate send credits per client of this thread.
    credits: Vec<Cell<u32>>,
    /// One-way latency in ns.
    pub latency: RefCell<Histogram<u64>>,
    /// Connect time (TCP connect to first Pong) in us.
    pub connect: RefCell<Histogram<u64>>,
    /// Per failure or disconnect kind: count and the first message.
    pub errors: RefCell<BTreeMap<&'static str, (u64, String)>>,
    /// Latency and connect time per protocol group (mixed runs only).
    pub groups: RefCell<Vec<GroupHists>>,
}

impl ThreadState {
    /// The state of thread `tid`, which runs clients `range`.
    pub fn new(shared: Arc<Shared>, tid: usize, range: Range<usize>) -> Self {
        let mix = &shared.cfg.mix;
        Self {
            tid,
            credits: range.clone().map(|_| Cell::new(0)).collect(),
            range,
            phase: Cell::new(Phase::Connect),
            rbuf: RefCell::new(Vec::new()),
            packet: RefCell::new(vec![0u8; shared.cfg.size]),
            latency: RefCell::new(stats::histogram()),
            connect: RefCell::new(stats::histogram()),
            errors: RefCell::new(BTreeMap::new()),
            groups: RefCell::new(if mix.is_mixed() {
                vec![GroupHists::new(); mix.groups.len()]
            } else {
                Vec::new()
            }),
            shared,
        }
    }

    pub fn counters(&self) -> &ThreadCounters {
        &self.shared.counters[self.tid]
    }

    /// Gives client `idx` one more packet to send, waking it if it had
    /// none. `false`: it is not connected or already holds too many (the
    /// packet counts as unsent).
    pub fn give_credit(&self, idx: usize) -> bool {
        let Some(c) = self.credits.get(idx.wrapping_sub(self.range.start)) else {
            return false;
        };
        let have = c.get();
        if have >= MAX_CREDITS || !self.shared.is_connected(idx) {
            return false;
        }
        c.set(have + 1);
        if have == 0 {
            if let Some(slot) = self.shared.slots.get(idx) {
                slot.wake.notify_one();
            }
        }
        true
    }

    pub fn take_credits(&self, idx: usize) -> u32 {
        self.credits
            .get(idx.wrapping_sub(self.range.start))
            .map_or(0, |c| c.replace(0))
    }

    pub fn note_error(&self, kind: &'static str, msg: String) {
        let mut e = self.errors.borrow_mut();
        let entry = e.entry(kind).or_insert((0, msg));
        entry.0 += 1;
    }
}
