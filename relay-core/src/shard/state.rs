//! A shard's own state: its client map, outboxes to other shards and
//! counters. Only the shard's thread touches it.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::Arc;

use tokio_uring::net::TcpStream;

use super::client::{Client, CloseReason};
use super::pool::BufPool;
use crate::budget::{QueueBudget, ReadShare, TransitShare};
use crate::config::Policy;
use crate::metrics::ShardMetrics;
use crate::proto::key::{KeyMap, NodeKey};
use crate::proto::reader::FrameReader;
use crate::proto::{Frame, Transport};
use crate::router::{Batch, RecordKind, Router};

pub struct Shard {
    pub id: usize,
    pub router: Router,
    pub metrics: Arc<ShardMetrics>,
    pub policy: RefCell<Arc<Policy>>,
    pub clients: RefCell<KeyMap<Rc<Client>>>,
    outboxes: RefCell<Vec<Vec<u8>>>,
    /// Set while the flusher is due to run: outboxes go out once per
    /// runtime tick, after every reader woken in it has had its turn.
    flush_due: Cell<bool>,
    flush_wake: tokio::sync::Notify,
    next_id: Cell<u64>,
    pub shutting_down: Cell<bool>,
    pub pool: Rc<BufPool>,
    /// This shard's part of `limits.max_queued_bytes`.
    pub budget: Rc<QueueBudget>,
    /// Read buffer bytes shared by the connections that are busy.
    pub reads: ReadShare,
    /// Bytes towards other shards, shared among the sending clients.
    transit: TransitShare,
    /// Every registered client, for the sweeper's incremental pass.
    pub sweep_list: RefCell<Vec<Weak<Client>>>,
    pub sweep_cursor: Cell<usize>,
}

impl Shard {
    pub fn new(id: usize, router: Router, metrics: Arc<ShardMetrics>, policy: Arc<Policy>) -> Self {
        let n = router.shards();
        let budget = Rc::new(QueueBudget::new(queue_share(&policy, n)));
        Self {
            id,
            router,
            metrics,
            policy: RefCell::new(policy),
            clients: RefCell::new(KeyMap::default()),
            outboxes: RefCell::new(vec![Vec::new(); n]),
            flush_due: Cell::new(false),
            flush_wake: tokio::sync::Notify::new(),
            next_id: Cell::new(0),
            shutting_down: Cell::new(false),
            pool: Rc::new(BufPool::default()),
            budget,
            reads: ReadShare::default(),
            transit: TransitShare::default(),
            sweep_list: RefCell::new(Vec::new()),
            sweep_cursor: Cell::new(0),
        }
    }

    /// Registers a handshaken connection owned by this shard and starts
    /// its tasks. Newest wins: an existing connection for the key is closed
    /// at once and packets go to the new one.
    pub fn register(
        self: &Rc<Self>,
        stream: TcpStream,
        key: NodeKey,
        transport: Transport,
        leftover: Vec<u8>,
        reader: FrameReader,
    ) {
        if self.shutting_down.get() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let client = Rc::new(Client::new(
            id,
            key,
            transport,
            stream,
            self.pool.clone(),
            self.budget.clone(),
        ));
        if let Some(limit) = self.policy.borrow().rx_limit {
            client.set_rx_limit(Some(limit));
        }
        self.sweep_list.borrow_mut().push(Rc::downgrade(&client));
        let old = self.clients.borrow_mut().insert(key, client.clone());
        if let Some(old) = old {
            old.close(CloseReason::Replaced, &self.metrics);
            self.metrics.replaced.inc();
        }
        self.metrics.accepts.inc();
        self.metrics.unique_client_keys.inc();
        self.update_client_gauge();
        tokio_uring::spawn(super::conn::run(self.clone(), client, leftover, reader));
    }

    /// Applies a reloaded policy; connected clients keep their connection
    /// and get the new receive limit.
    pub fn reload(&self, policy: Arc<Policy>) {
        for c in self.clients.borrow().values() {
            c.set_rx_limit(policy.rx_limit);
        }
        self.budget
            .set_limit(queue_share(&policy, self.router.shards()));
        *self.policy.borrow_mut() = policy;
    }

    /// Removes the client unless a newer connection took its key, and tells
    /// the peers it sent to that it is gone.
    pub fn unregister(&self, client: &Client) {
        let mut map = self.clients.borrow_mut();
        let current = map.get(&client.key).is_some_and(|c| c.id == client.id);
        if current {
            map.remove(&client.key);
        }
        drop(map);
        self.metrics.disconnects.inc();
        self.update_client_gauge();
        let replaced = client.close_reason() == Some(CloseReason::Replaced);
        if current && !replaced && !self.shutting_down.get() {
            let peers: Vec<NodeKey> = client.sent_to.borrow().iter().copied().collect();
            for peer in peers {
                self.route(RecordKind::PeerGone, &peer, client, &[]);
            }
        }
    }

    fn update_client_gauge(&self) {
        self.metrics.clients.set(self.clients.borrow().len() as u64);
    }

    /// Sends a packet (or PeerGone) from `src` towards `dst`: queued
    /// directly if this shard owns it, else appended to the owner's outbox.
    pub fn route(&self, kind: RecordKind, dst: &NodeKey, src: &Client, packet: &[u8]) {
        let owner = self.router.owner(dst);
        if owner == self.id {
            self.deliver(kind, dst, &src.key, packet);
            return;
        }
        let mut boxes = self.outboxes.borrow_mut();
        let Some(b) = boxes.get_mut(owner) else {
            return;
        };
        // A lagging shard must not make its peers hold without bound what
        // it has not taken yet, nor one flood crowd out other senders.
        // PeerGone records are tiny and always go.
        let n = Batch::record_len(packet);
        if kind == RecordKind::Packet {
            let held = b.len() + self.router.in_transit(owner);
            let cap = transit_limit(&self.policy.borrow(), self.router.shards());
            if !self.transit.admits(&src.transit, held, n, cap) {
                self.metrics.dropped_cross_shard.inc();
                return;
            }
            self.transit.charge(&src.transit, n);
            self.metrics.cross_shard_packets.inc();
        }
        Batch::push(b, kind, dst, &src.key, packet);
        if !self.flush_due.replace(true) {
            self.flush_wake.notify_one();
        }
    }

    /// Delivers to a client of this shard.
    pub fn deliver(&self, kind: RecordKind, dst: &NodeKey, src: &NodeKey, packet: &[u8]) {
        let map = self.clients.borrow();
        let Some(c) = map.get(dst) else {
            if kind == RecordKind::Packet {
                self.metrics.dropped_unknown_dst.inc();
                self.metrics.send_packets_dropped.inc();
            }
            return;
        };
        match kind {
            RecordKind::Packet => {
                c.enqueue_packet(src, packet, &self.metrics);
            }
            RecordKind::PeerGone => {
                if c.enqueue_frame(&Frame::PeerGone(src)) {
                    self.metrics.peer_gone_sent.inc();
                }
            }
        }
    }

    /// Flushes the outboxes whenever packets for other shards were routed:
    /// woken by the first of them, it runs after the tasks already queued
    /// in this tick, so one batch carries what all of their reads held.
    pub async fn flusher(&self) {
        loop {
            self.flush_wake.notified().await;
            self.flush_due.set(false);
            self.flush_outboxes();
        }
    }

    /// Hands every non-empty outbox to its shard: one wake-up per batch.
    fn flush_outboxes(&self) {
        self.transit.next_round();
        let mut boxes = self.outboxes.borrow_mut();
        for (shard, b) in boxes.iter_mut().enumerate() {
            if !b.is_empty() {
                let batch = std::mem::take(b);
                self.metrics.cross_shard_batches.inc();
                self.router.send_batch(shard, batch);
            }
        }
    }
}

/// A shard's part of the queue budget: 3/4 of an even share, the rest
/// being what may be in transit to it from other shards.
fn queue_share(policy: &Policy, shards: usize) -> usize {
    let share = policy.max_queued_bytes / shards.max(1);
    if shards > 1 {
        share - share / 4
    } else {
        share
    }
}

/// Bytes one shard may have in transit to another: together the senders
/// to a shard stay within 1/4 of its share.
fn transit_limit(policy: &Policy, shards: usize) -> usize {
    policy.max_queued_bytes / shards.max(1) / 4 / (shards - 1).max(1)
}
