//! State shared by all loadgen threads: identities, per-client slots,
//! per-thread counters and the run phase.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::time::Instant;

use relay_proto::key::NodeKey;
use tokio::sync::{watch, Notify};

use ed25519_dalek::SigningKey;

use crate::config::Config;
use crate::mix::MAX_GROUPS;
use crate::stats::Counter;

/// Where the run is. Workers mirror it; clients act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// Clients are connecting (and answer pings once connected).
    Connect,
    /// Senders send.
    Traffic,
    /// Nothing new is sent; in-flight packets are still counted.
    Drain,
    /// Tear down.
    Exit,
}

/// Per-client cross-thread state.
#[derive(Debug, Default)]
pub struct Slot {
    /// Finished its handshake and has not disconnected.
    pub connected: AtomicBool,
    /// Packets this client sent (max mode window accounting).
    pub sent: AtomicU64,
    /// Packets of this client that were delivered or written off.
    pub acked: AtomicU64,
    /// The sender waits for its window to open.
    pub blocked: AtomicBool,
    /// Wakes the client's task (credits, window, phase change).
    pub wake: Notify,
}

/// Counters owned by one thread, read by the main thread.
#[derive(Debug, Default)]
pub struct ThreadCounters {
    /// The last phase this thread's clients act on (`Phase as u8`). Once it
    /// reads Drain, the thread's `sent` is final.
    pub phase_seen: AtomicU8,
    pub connected: Counter,
    pub connect_failed: Counter,
    /// Packets the rate schedule asked for (max mode: = sent).
    pub offered: Counter,
    /// Packets handed to the kernel (or queued behind a partial write).
    pub sent: Counter,
    /// Offered but not sent: destination gone or the socket backlog full.
    pub unsent: Counter,
    pub delivered: Counter,
    /// Delivered while the traffic phase was running (the rate's numerator).
    pub delivered_in_window: Counter,
    /// RecvPacket whose payload or source key did not match what we sent.
    pub bad_payload: Counter,
    /// Undecodable or unexpected frames from the server.
    pub protocol_errors: Counter,
    /// Established connections that ended before the run did.
    pub disconnects: Counter,
    pub server_pings: Counter,
    pub peer_gone: Counter,
    pub health: Counter,
    /// A max-mode sender saw no delivery for a while and wrote its window off.
    pub window_stalls: Counter,
    /// The same figures per protocol group (--mix).
    pub groups: [GroupCounters; MAX_GROUPS],
}

/// One group's counters in one thread.
#[derive(Debug, Default)]
pub struct GroupCounters {
    pub connected: Counter,
    pub sent: Counter,
    pub delivered: Counter,
    pub delivered_in_window: Counter,
}

pub struct Shared {
    pub cfg: Config,
    /// Public key of each client.
    pub keys: Vec<NodeKey>,
    /// Signed ClientInfo payload of each client (0.35).
    pub infos: Vec<Vec<u8>>,
    /// Secret key of each client (1.x signs the server's challenge).
    pub secrets: Vec<SigningKey>,
    pub slots: Vec<Slot>,
    pub counters: Vec<ThreadCounters>,
    pub phase: watch::Sender<Phase>,
    /// Clock base for send timestamps (one process, one monotonic clock).
    pub base: Instant,
}

impl Shared {
    pub fn new(
        cfg: Config,
        keys: Vec<NodeKey>,
        infos: Vec<Vec<u8>>,
        secrets: Vec<SigningKey>,
    ) -> Self {
        let n = cfg.clients;
        let threads = cfg.threads;
        Self {
            cfg,
            keys,
            infos,
            secrets,
            slots: (0..n).map(|_| Slot::default()).collect(),
            counters: (0..threads).map(|_| ThreadCounters::default()).collect(),
            phase: watch::channel(Phase::Connect).0,
            base: Instant::now(),
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// Sum of one counter over all threads.
    pub fn total(&self, f: impl Fn(&ThreadCounters) -> &Counter) -> u64 {
        self.counters.iter().map(|c| f(c).get()).sum()
    }

    /// Whether every thread has switched to `phase` (or later).
    pub fn all_seen(&self, phase: Phase) -> bool {
        self.counters
            .iter()
            .all(|c| c.phase_seen.load(Ordering::SeqCst) >= phase as u8)
    }

    pub fn is_connected(&self, idx: usize) -> bool {
        self.slots
            .get(idx)
            .is_some_and(|s| s.connected.load(Ordering::Relaxed))
    }
}
