//! A shard's own state: its client registries (one per family), outboxes
//! to other shards, budgets and counters. Only the shard's thread touches
//! it. Registration is in `membership.rs`, packet routing in `routing.rs`.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::Arc;

use super::client::{Client, CloseReason};
use super::pool::BufPool;
use super::registry::Registry;
use super::ring::Ring;
use super::sig_batch::SigBatch;
use crate::access::Decision;
use crate::budget::{QueueBudget, ReadShare, TransitShare};
use crate::config::Policy;
use crate::metrics::{FamilyCounters, ShardMetrics};
use crate::proto::key::NodeKey;
use crate::proto::Family;
use crate::router::Router;

pub struct Shard {
    pub id: usize,
    pub backend: super::io::Backend,
    pub router: Router,
    pub metrics: Arc<ShardMetrics>,
    pub policy: RefCell<Arc<Policy>>,
    /// Indexed by [`Family`]: the families' frame numbers collide, so a
    /// key connected over one is unknown to the other.
    pub(super) registries: [RefCell<Registry<Client>>; Family::COUNT],
    pub(super) outboxes: RefCell<Vec<Vec<u8>>>,
    /// Set while the flusher is due to run: outboxes go out once per
    /// runtime tick, after every reader woken in it has had its turn.
    pub(super) flush_due: Cell<bool>,
    pub(super) flush_wake: tokio::sync::Notify,
    pub(super) next_id: Cell<u64>,
    pub shutting_down: Cell<bool>,
    pub pool: Rc<BufPool>,
    /// This shard's part of `limits.max_queued_bytes`.
    pub budget: Rc<QueueBudget>,
    /// Read buffer bytes shared by the connections that are busy.
    pub reads: ReadShare,
    /// Bytes towards other shards, shared among the sending clients.
    pub(super) transit: TransitShare,
    /// Every registered client, for the sweeper's incremental pass.
    pub sweep_list: RefCell<Vec<Weak<Client>>>,
    pub sweep_cursor: Cell<usize>,
    /// Handshake signatures, checked together per turn of the loop.
    pub(super) sigs: SigBatch,
    /// The shard ring (io_uring backend, where the kernel has it):
    /// relaying clients' reads and writes; else each client's tasks.
    pub(super) ring: Option<Rc<Ring>>,
}

impl Shard {
    pub fn new(
        id: usize,
        backend: super::io::Backend,
        router: Router,
        metrics: Arc<ShardMetrics>,
        policy: Arc<Policy>,
        ring: Option<Rc<Ring>>,
    ) -> Self {
        let n = router.shards();
        let budget = Rc::new(QueueBudget::new(queue_share(&policy, n)));
        Self {
            id,
            backend,
            router,
            metrics,
            policy: RefCell::new(policy),
            registries: Family::ALL.map(|f| RefCell::new(Registry::new(f.duplicates()))),
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
            sigs: SigBatch::default(),
            ring,
        }
    }

    pub(super) fn registry(&self, f: Family) -> &RefCell<Registry<Client>> {
        &self.registries[f as usize]
    }

    /// This family's counters on this shard.
    pub fn fm(&self, f: Family) -> &FamilyCounters {
        self.metrics.family(f)
    }

    /// Every connection of every family, active or not.
    pub fn connections(&self) -> Vec<Rc<Client>> {
        self.registries
            .iter()
            .flat_map(|r| r.borrow().connections())
            .collect()
    }

    /// Applies a reloaded policy: connected clients get the new receive
    /// limit, and those the new access list no longer admits are
    /// disconnected (a reconnect is then refused as any other). An HTTP
    /// callout is not asked again for connected clients.
    pub fn reload(&self, policy: Arc<Policy>) {
        *self.policy.borrow_mut() = policy.clone();
        let mut revoked = 0u64;
        for c in self.connections() {
            c.set_rx_limit(policy.rx_limit(c.family));
            let refused = self.revoked(&c.key, c.session.borrow().token());
            if refused && c.close(CloseReason::AccessRevoked, &self.metrics) {
                self.fm(c.family).access_revoked.inc();
                revoked += 1;
            }
        }
        self.budget
            .set_limit(queue_share(&policy, self.router.shards()));
        if revoked > 0 {
            tracing::info!(
                shard = self.id,
                "disconnected {revoked} clients that the reloaded access list no longer admits"
            );
        }
    }

    /// Whether the access list in force refuses `key` (with `token`)
    /// without asking anyone.
    pub(super) fn revoked(&self, key: &NodeKey, token: Option<&str>) -> bool {
        self.policy.borrow().access.decide_local(key, token) == Some(Decision::Deny)
    }

    pub(super) fn update_client_gauge(&self, f: Family) {
        let registry = self.registry(f).borrow();
        self.fm(f).clients.set(registry.len() as u64);
        self.fm(f)
            .duplicate_key_connections
            .set(registry.inactive_len() as u64);
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
pub(super) fn transit_limit(policy: &Policy, shards: usize) -> usize {
    policy.max_queued_bytes / shards.max(1) / 4 / (shards - 1).max(1)
}
