//! A registered client on its owner shard: its socket, its bounded send
//! queue (already-encoded frames, written in one go) and its liveness state.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use std::rc::Rc;

use super::io::Stream;
use tokio::sync::Notify;

use super::pool::BufPool;
use super::registry::Member;
use crate::budget::{QueueBudget, TransitUse};
use crate::metrics::ShardMetrics;
use crate::proto::key::{KeySet, NodeKey};
use crate::proto::v035::frame::is_disco;
use crate::proto::{Datagram, Dialect, Family, ServerFrame};
use crate::queue::{recv_packet_cost, Pushed, SendQueue, Taken};
use crate::ratelimit::{RxLimit, TokenBucket};

/// Distinct destinations remembered per client for PeerGone.
pub const MAX_SENT_TO: usize = 4096;

/// Why a client is being closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// EOF, websocket Close or a socket error.
    Disconnected,
    ProtocolError,
    WriteStall,
    PingTimeout,
    /// The same key connected again.
    Replaced,
    Shutdown,
    /// A reloaded access list no longer admits the key.
    AccessRevoked,
}

impl CloseReason {
    /// The reason in words, for logs.
    pub fn name(self) -> &'static str {
        match self {
            CloseReason::Disconnected => "disconnected",
            CloseReason::ProtocolError => "protocol error",
            CloseReason::WriteStall => "write stall",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::Replaced => "replaced by a newer connection",
            CloseReason::Shutdown => "shutdown",
            CloseReason::AccessRevoked => "access revoked",
        }
    }
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

pub struct Client {
    pub id: u64,
    pub key: NodeKey,
    pub family: Family,
    pub stream: Stream,
    /// The access token presented at the upgrade (1.x `shared_token`).
    pub token: Option<Box<str>>,
    queue: RefCell<SendQueue>,
    pool: Rc<BufPool>,
    /// The shard's budget for queued bytes, charged for every byte this
    /// client holds queued or in flight.
    budget: Rc<QueueBudget>,
    /// Bytes this client holds against the budget.
    held: Cell<usize>,
    /// What this client sent towards other shards in this flush round.
    pub transit: TransitUse,
    wake: Notify,
    closed: Cell<Option<CloseReason>>,
    /// Set while a write is in flight: when it last made progress. A
    /// receiver is stalled only if this gets old, not if a large write
    /// drains slowly.
    pub write_progress: Cell<Option<Instant>>,
    /// When the queue last went from empty to holding a frame.
    queued_since: Cell<Option<Instant>>,
    /// The kernel's acknowledged-bytes count when the write was first
    /// suspected of stalling, and when (see [`super::tcp_info`]).
    pub stall_probe: Cell<Option<(u64, Instant)>>,
    pub last_recv: Cell<Instant>,
    pub ping_interval: Duration,
    /// Outstanding server ping: data and when it was sent.
    pub ping_out: Cell<Option<([u8; 8], Instant)>>,
    /// Destinations this client sent to (validated keys, PeerGone targets).
    pub sent_to: RefCell<KeySet>,
    pub last_dst: Cell<Option<NodeKey>>,
    /// Receive rate limit, when configured.
    pub rx_bucket: RefCell<Option<TokenBucket>>,
    /// Whether this connection was ever slowed (counted once).
    pub rate_limited: Cell<bool>,
}

impl Client {
    pub fn new(
        id: u64,
        key: NodeKey,
        dialect: Dialect,
        stream: Stream,
        token: Option<Box<str>>,
        pool: Rc<BufPool>,
        budget: Rc<QueueBudget>,
    ) -> Self {
        // 15 s + 1..=5 s, chosen once per connection (docs/protocol-0.35.md §5.3).
        let jitter = 1 + rand::random::<u64>() % 5;
        Self {
            id,
            key,
            family: dialect.family(),
            stream,
            token,
            queue: RefCell::new(SendQueue::new(dialect)),
            pool,
            budget,
            held: Cell::new(0),
            transit: TransitUse::default(),
            wake: Notify::new(),
            closed: Cell::new(None),
            write_progress: Cell::new(None),
            queued_since: Cell::new(None),
            stall_probe: Cell::new(None),
            last_recv: Cell::new(Instant::now()),
            ping_interval: Duration::from_secs(15 + jitter),
            ping_out: Cell::new(None),
            sent_to: RefCell::new(KeySet::default()),
            last_dst: Cell::new(None),
            rx_bucket: RefCell::new(None),
            rate_limited: Cell::new(false),
        }
    }

    /// Sets, changes or removes the receive limit.
    pub fn set_rx_limit(&self, limit: Option<RxLimit>) {
        let mut b = self.rx_bucket.borrow_mut();
        match (limit, b.as_mut()) {
            (None, _) => *b = None,
            (Some(l), Some(bucket)) => bucket.reconfigure(l.bytes_per_second, l.burst_bytes),
            (Some(l), None) => *b = Some(l.bucket(Instant::now())),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.get().is_some()
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        self.closed.get()
    }

    pub fn dialect(&self) -> Dialect {
        self.queue.borrow().dialect()
    }

    /// Queues a packet from `src`; false (and counted) when the queue is
    /// full or the shard's budget for queued bytes is spent.
    pub fn enqueue_datagram(&self, src: &NodeKey, d: &Datagram<'_>, m: &ShardMetrics) -> bool {
        let fm = m.family(self.family);
        let disco = self.family == Family::V035 && is_disco(d.contents);
        if self.is_closed() {
            fm.dropped_on_close.inc();
            fm.packet_dropped(disco);
            return false;
        }
        let len = d.contents.len();
        if !self.budget.admits(self.held.get(), recv_packet_cost(len)) {
            fm.dropped_budget.inc();
            fm.packet_dropped(disco);
            return false;
        }
        let mut queue = self.queue.borrow_mut();
        if queue.needs_buffer() {
            queue.install(self.pool.get());
        }
        let before = queue.len();
        let pushed = queue.push_datagram(src, d);
        self.budget.charge(&self.held, queue.len() - before);
        drop(queue);
        if pushed == Pushed::Full {
            fm.dropped_queue_full.inc();
            fm.packet_dropped(disco);
            return false;
        }
        m.shard.queued_packets.inc();
        if disco {
            fm.disco_packets_sent.inc();
        } else {
            fm.send_packets_sent.inc();
        }
        fm.bytes_sent.add(len as u64);
        if pushed == Pushed::First {
            self.queued_since.set(Some(Instant::now()));
            self.wake.notify_one();
        }
        true
    }

    /// Queues a control frame (Pong, Ping, Gone, Health, Status, Restarting).
    pub fn enqueue_frame(&self, frame: &ServerFrame<'_>) -> bool {
        self.push(|q| q.push_frame(frame))
    }

    /// Queues bytes already encoded (the handshake's confirmation, which
    /// goes out once the client is registered).
    pub fn enqueue_raw(&self, bytes: &[u8]) -> bool {
        self.push(|q| q.push_raw(bytes))
    }

    fn push(&self, f: impl FnOnce(&mut SendQueue) -> Pushed) -> bool {
        if self.is_closed() {
            return false;
        }
        let mut queue = self.queue.borrow_mut();
        if queue.needs_buffer() {
            queue.install(self.pool.get());
        }
        let before = queue.len();
        let pushed = f(&mut queue);
        self.budget.charge(&self.held, queue.len() - before);
        drop(queue);
        if pushed == Pushed::First {
            self.queued_since.set(Some(Instant::now()));
            self.wake.notify_one();
        }
        pushed != Pushed::Full
    }

    /// Takes everything queued. Hand each buffer back with
    /// [`Client::written`] after writing it.
    pub fn take_queued(&self) -> Taken {
        self.queue.borrow_mut().take()
    }

    /// How long the oldest of the frames just taken waited.
    pub fn queue_wait(&self) -> Option<Duration> {
        self.queued_since.take().map(|t| t.elapsed())
    }

    /// Returns a buffer from [`Client::take_queued`] once its write ended,
    /// written or not: its bytes leave the budget, the buffer the pool.
    pub fn written(&self, buf: Vec<u8>) {
        self.budget.release(&self.held, buf.len());
        self.pool.put(buf);
    }

    pub fn has_queued(&self) -> bool {
        !self.queue.borrow().is_empty()
    }

    /// Waits until something is queued or the client is closed.
    pub async fn wait_for_queued(&self) {
        self.wake.notified().await
    }

    /// Marks the client closed and shuts the socket down, which completes
    /// the in-flight read and write. Idempotent; returns false if it was
    /// already closed.
    pub fn close(&self, reason: CloseReason, m: &ShardMetrics) -> bool {
        if self.is_closed() {
            return false;
        }
        self.closed.set(Some(reason));
        let (lost, bytes) = self.queue.borrow_mut().clear();
        self.budget.release(&self.held, bytes);
        let lost = lost as u64;
        m.shard.queued_packets.sub(lost);
        m.family(self.family).dropped_on_close.add(lost);
        self.stream.shutdown();
        self.wake.notify_one();
        true
    }

    /// Records `dst` as a destination; false if it is not a valid key.
    /// Each new destination costs one point decompression, once.
    pub fn note_destination(&self, dst: &NodeKey) -> bool {
        if self.last_dst.get().as_ref() == Some(dst) {
            return true;
        }
        let mut sent = self.sent_to.borrow_mut();
        if !sent.contains(dst) {
            if !crate::proto::key::is_valid_point(dst) {
                return false;
            }
            if sent.len() < MAX_SENT_TO {
                sent.insert(*dst);
            }
        }
        self.last_dst.set(Some(*dst));
        true
    }
}

impl Member for Client {
    fn id(&self) -> u64 {
        self.id
    }
    fn key(&self) -> &NodeKey {
        &self.key
    }
    fn sent_to_into(&self, set: &mut KeySet) {
        set.extend(self.sent_to.borrow().iter().copied());
    }
}
