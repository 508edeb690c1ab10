//! A shard's mailbox: connections handed over by other shards, batches of
//! packets for its clients, reloads, heartbeats and the shutdown order.

use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;

use super::client::CloseReason;
use super::state::Shard;
use crate::proto::ServerFrame;
use crate::router::{Batch, ShardMsg};

/// How long shutdown waits for Restarting frames to be written.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Processes messages until shutdown; returns once clients are closed.
pub async fn run(shard: Rc<Shard>, mut rx: UnboundedReceiver<ShardMsg>) {
    while let Some(msg) = rx.recv().await {
        match msg {
            ShardMsg::Adopt(a) => super::setup::adopt(&shard, *a),
            ShardMsg::Batch(b) => {
                for record in Batch::records(&b) {
                    shard.deliver(&record);
                }
                shard.router.delivered(shard.id, b.len());
            }
            ShardMsg::Reload(p) => shard.reload(p),
            ShardMsg::Heartbeat(n, seen) => seen.store(n, std::sync::atomic::Ordering::Relaxed),
            ShardMsg::Shutdown => {
                shutdown(&shard).await;
                return;
            }
        }
    }
}

/// Tells every client to come back soon, lets the writers drain, closes.
async fn shutdown(shard: &Shard) {
    shard.shutting_down.set(true);
    let clients = shard.connections();
    let restarting = ServerFrame::Restarting {
        reconnect_in_ms: 1000,
        try_for_ms: 30_000,
    };
    for c in &clients {
        c.enqueue_frame(&restarting);
    }
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while Instant::now() < deadline
        && clients
            .iter()
            .any(|c| !c.is_closed() && (c.has_queued() || c.write_progress.get().is_some()))
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for c in &clients {
        c.close(CloseReason::Shutdown, &shard.metrics);
    }
}
