//! A registered client on its owner shard: its socket, its bounded send
//! queue (already-encoded frames, written in one go) and its protocol
//! session (liveness, receive limit, destinations: `relay_proto::session`).

use std::cell::{Cell, OnceCell, RefCell};
use std::time::{Duration, Instant};

use std::rc::Rc;

use super::io::Stream;
use tokio::sync::Notify;

use super::pool::BufPool;
use super::registry::Member;
use super::ring::RingHook;
use crate::budget::{QueueBudget, TransitUse};
use crate::metrics::ShardMetrics;
use crate::proto::key::{KeySet, NodeKey};
use crate::proto::session::Session;
use crate::proto::{Datagram, Family, ServerFrame};
use crate::queue::{recv_packet_cost, Pushed, SendQueue, Taken};
use crate::ratelimit::RxLimit;

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
    /// The protocol state; borrowed only for a synchronous step (reading
    /// frames, a timeout, a reload), never across an await.
    pub session: RefCell<Session>,
    queue: RefCell<SendQueue>,
    pool: Rc<BufPool>,
    /// The shard's budget for queued bytes, charged for every byte this
    /// client holds queued or in flight.
    budget: Rc<QueueBudget>,
    /// Bytes this client holds against the budget.
    held: Cell<usize>,
    /// What this client sent towards other shards in this flush round.
    pub transit: TransitUse,
    /// Wakes the writer task; or, on the shard ring, marks the client
    /// dirty for the ring's next turn.
    wake: Notify,
    ring: OnceCell<RingHook>,
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
}

impl Client {
    /// A client whose `session` was admitted: its key and dialect are
    /// read from it.
    pub fn new(
        id: u64,
        stream: Stream,
        session: Session,
        pool: Rc<BufPool>,
        budget: Rc<QueueBudget>,
    ) -> Option<Self> {
        let key = *session.key()?;
        let dialect = session.dialect()?;
        Some(Self {
            id,
            key,
            family: dialect.family(),
            stream,
            session: RefCell::new(session),
            queue: RefCell::new(SendQueue::new(dialect)),
            pool,
            budget,
            held: Cell::new(0),
            transit: TransitUse::default(),
            wake: Notify::new(),
            ring: OnceCell::new(),
            closed: Cell::new(None),
            write_progress: Cell::new(None),
            queued_since: Cell::new(None),
            stall_probe: Cell::new(None),
        })
    }

    /// Hands the client's reads and writes to the shard ring.
    pub fn attach_ring(&self, hook: RingHook) {
        let _ = self.ring.set(hook);
    }

    /// Something for the writer: queued frames, or the close.
    fn wake_writer(&self) {
        match self.ring.get() {
            Some(hook) => hook.dirty.mark(hook.slot),
            None => self.wake.notify_one(),
        }
    }

    /// Sets, changes or removes the receive limit.
    pub fn set_rx_limit(&self, limit: Option<RxLimit>) {
        self.session
            .borrow_mut()
            .set_rx_limit(Instant::now(), limit);
    }

    pub fn is_closed(&self) -> bool {
        self.closed.get().is_some()
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        self.closed.get()
    }

    /// Queues a packet from `src`; false (and counted) when the queue is
    /// full or the shard's budget for queued bytes is spent.
    pub fn enqueue_datagram(&self, src: &NodeKey, d: &Datagram<'_>, m: &ShardMetrics) -> bool {
        let fm = m.family(self.family);
        let disco = d.disco;
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
            self.wake_writer();
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
            self.wake_writer();
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
        self.wake_writer();
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
        set.extend(self.session.borrow().destinations().copied());
    }
}
