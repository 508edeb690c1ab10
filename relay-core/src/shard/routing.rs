//! Moving packets to their destination: directly when this shard owns the
//! key, else through the owner's outbox, flushed once per runtime tick.

use super::client::Client;
use super::state::{transit_limit, Shard};
use crate::proto::key::NodeKey;
use crate::proto::{Datagram, ServerFrame};
use crate::router::{Batch, Record, RecordKind};

impl Shard {
    /// Sends a packet (or Gone) from `src` towards `dst` in `src`'s family.
    pub fn route(&self, kind: RecordKind, dst: &NodeKey, src: &Client, datagram: &Datagram<'_>) {
        let owner = self.router.owner(dst);
        let record = Record {
            family: src.family,
            kind,
            dst,
            src: &src.key,
            datagram: *datagram,
        };
        if owner == self.id {
            self.deliver(&record);
            return;
        }
        let mut boxes = self.outboxes.borrow_mut();
        let Some(b) = boxes.get_mut(owner) else {
            return;
        };
        // A lagging shard must not make its peers hold without bound what
        // it has not taken yet, nor one flood crowd out other senders.
        // Gone records are tiny and always go.
        let n = Batch::record_len(datagram.contents);
        if kind == RecordKind::Packet {
            let held = b.len() + self.router.in_transit(owner);
            let cap = transit_limit(&self.policy.borrow(), self.router.shards());
            if !self.transit.admits(&src.transit, held, n, cap) {
                self.metrics.shard.dropped_cross_shard.inc();
                return;
            }
            self.transit.charge(&src.transit, n);
            self.metrics.shard.cross_shard_packets.inc();
        }
        Batch::push(b, &record);
        if !self.flush_due.replace(true) {
            self.flush_wake.notify_one();
        }
    }

    /// Delivers to the active connection of `r.dst` in `r.family`.
    pub fn deliver(&self, r: &Record<'_>) {
        let registry = self.registry(r.family).borrow();
        let fm = self.fm(r.family);
        let Some(c) = registry.active(r.dst) else {
            if r.kind == RecordKind::Packet {
                tracing::trace!(
                    src = %crate::proto::key::short_hex(r.src),
                    dst = %crate::proto::key::short_hex(r.dst),
                    "dropped: destination not connected"
                );
                fm.dropped_unknown_dst.inc();
                fm.packet_dropped(r.datagram.disco);
            }
            return;
        };
        match r.kind {
            RecordKind::Packet => {
                c.enqueue_datagram(r.src, &r.datagram, &self.metrics);
            }
            RecordKind::Gone => {
                if c.enqueue_frame(&ServerFrame::Gone(r.src)) {
                    fm.peer_gone_sent.inc();
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
                self.metrics.shard.cross_shard_batches.inc();
                self.router.send_batch(shard, batch);
            }
        }
    }
}
