//! The io_uring part: one OS thread per shard, each with its own
//! tokio-uring runtime, SO_REUSEPORT listener and client map.

mod accept;
mod callout;
mod client;
mod conn;
mod inbox;
mod iowq;
mod listener;
mod membership;
mod pool;
mod registry;
mod routing;
mod slice;
mod state;
mod sweeper;
mod tcp_info;

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::config::{Config, Policy};
use crate::metrics::ShardMetrics;
use crate::router::{Router, ShardMsg};
use state::Shard;

/// Submission queue entries per shard.
const SQ_ENTRIES: u32 = 4096;
/// Completion queue entries: at least one in-flight read per connection
/// (10k+) must fit, or completions overflow.
const CQ_ENTRIES: u32 = 65536;

/// A running relay: its shards and their counters.
pub struct Server {
    local_addr: SocketAddr,
    router: Router,
    metrics: Vec<Arc<ShardMetrics>>,
    done: mpsc::Receiver<usize>,
}

impl Server {
    /// Binds the listeners and starts every shard, counting into
    /// `metrics` (one per shard). Errors (port in use, io_uring
    /// unavailable) are returned before anything is served.
    pub fn start(config: &Config, metrics: Vec<Arc<ShardMetrics>>) -> std::io::Result<Server> {
        let n = config.shards;
        if metrics.len() != n {
            return Err(std::io::Error::other("one metrics set per shard"));
        }
        let listeners = listener::bind(config.http_bind_addr, n)?;
        let local_addr = listeners[0].local_addr()?;
        let (router, inboxes) = Router::new(n);
        let policy = Arc::new(config.policy());
        let (ready_tx, ready_rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        for (id, (listener, inbox)) in listeners.into_iter().zip(inboxes).enumerate() {
            let ctx = ShardCtx {
                id,
                listener,
                inbox,
                router: router.clone(),
                metrics: metrics[id].clone(),
                policy: policy.clone(),
                ready: ready_tx.clone(),
                done: done_tx.clone(),
            };
            std::thread::Builder::new()
                .name(format!("shard-{id}"))
                .spawn(move || shard_main(ctx))?;
        }
        for _ in 0..n {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(std::io::Error::other("a shard thread died at start")),
            }
        }
        Ok(Server {
            local_addr,
            router,
            metrics,
            done,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Every shard's counters, for the metrics endpoint.
    pub fn metrics(&self) -> Vec<Arc<ShardMetrics>> {
        self.metrics.clone()
    }

    /// Replaces access lists and limits on every shard; connections stay.
    pub fn reload(&self, policy: Policy) {
        let policy = Arc::new(policy);
        for s in 0..self.router.shards() {
            self.router.send(s, ShardMsg::Reload(policy.clone()));
        }
    }

    /// Sends Restarting to every client, closes them and stops accepting;
    /// returns when all shards are done or `timeout` passed.
    pub fn shutdown(&self, timeout: Duration) {
        for s in 0..self.router.shards() {
            self.router.send(s, ShardMsg::Shutdown);
        }
        let deadline = std::time::Instant::now() + timeout;
        for _ in 0..self.router.shards() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if self.done.recv_timeout(left).is_err() {
                return;
            }
        }
    }
}

struct ShardCtx {
    id: usize,
    listener: std::net::TcpListener,
    inbox: UnboundedReceiver<ShardMsg>,
    router: Router,
    metrics: Arc<ShardMetrics>,
    policy: Arc<Policy>,
    ready: mpsc::Sender<std::io::Result<()>>,
    done: mpsc::Sender<usize>,
}

fn runtime() -> std::io::Result<tokio_uring::Runtime> {
    let mut tuned = io_uring::IoUring::builder();
    tuned
        .setup_cqsize(CQ_ENTRIES)
        .setup_coop_taskrun()
        .setup_taskrun_flag();
    let mut b = tokio_uring::builder();
    b.entries(SQ_ENTRIES).uring_builder(&tuned);
    match tokio_uring::Runtime::new(&b) {
        Ok(rt) => Ok(rt),
        Err(e) => {
            // Older kernels lack the task-run flags; keep the large CQ.
            tracing::debug!("io_uring with task-run flags failed ({e}); retrying without");
            let mut plain = io_uring::IoUring::builder();
            plain.setup_cqsize(CQ_ENTRIES);
            b.uring_builder(&plain);
            tokio_uring::Runtime::new(&b)
        }
    }
}

fn shard_main(ctx: ShardCtx) {
    if let Err(e) = slice::request(slice::SHARD_SLICE_NS) {
        tracing::debug!("short scheduler slice refused: {e}");
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ctx.ready.send(Err(std::io::Error::new(
                e.kind(),
                format!("io_uring setup failed: {e}"),
            )));
            return;
        }
    };
    match iowq::cap(iowq::MAX_WORKERS) {
        Ok(w) => tracing::debug!(shard = ctx.id, "io_uring workers capped at {w:?}"),
        Err(e) => tracing::warn!(shard = ctx.id, "cannot cap io_uring workers: {e}"),
    }
    let ShardCtx {
        id,
        listener,
        inbox,
        router,
        metrics,
        policy,
        ready,
        done,
    } = ctx;
    rt.block_on(async move {
        let shard = Rc::new(Shard::new(id, router, metrics, policy));
        let listener = tokio_uring::net::TcpListener::from_std(listener);
        let listen_fd = listener.as_raw_fd();
        tokio_uring::spawn(accept::accept_loop(shard.clone(), listener));
        tokio_uring::spawn(sweeper::run(shard.clone()));
        let flusher = shard.clone();
        tokio_uring::spawn(async move { flusher.flusher().await });
        let _ = ready.send(Ok(()));
        inbox::run(shard.clone(), inbox).await;
        // Completes the pending accept so the accept loop sees shutdown.
        // SAFETY: plain syscall on a descriptor this shard still owns.
        unsafe { libc::shutdown(listen_fd, libc::SHUT_RDWR) };
        let _ = done.send(id);
        // The process exits from the main thread; dropping a runtime with
        // operations in flight can hang, so this thread just parks.
        std::future::pending::<()>().await;
    });
}
