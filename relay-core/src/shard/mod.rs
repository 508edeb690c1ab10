//! The I/O part: one OS thread per shard, each with its own runtime
//! (io_uring or epoll, see [`io`]), SO_REUSEPORT listener and client map.

mod accept;
mod callout;
mod client;
mod conn;
mod inbox;
pub mod io;
mod listener;
mod membership;
mod pool;
mod registry;
mod ring;
mod routing;
mod setup;
mod sig_batch;
mod slice;
mod state;
mod sweeper;
mod tcp_info;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::config::{Config, Policy};
use crate::metrics::ShardMetrics;
use crate::router::{Router, ShardMsg};
use io::{Backend, Listener};
use state::Shard;

/// A running relay: its shards and their counters.
pub struct Server {
    local_addr: SocketAddr,
    router: Router,
    metrics: Vec<Arc<ShardMetrics>>,
    done: mpsc::Receiver<usize>,
    backend: Backend,
}

impl Server {
    /// Binds the listeners and starts every shard on the configured I/O
    /// backend, counting into `metrics` (one per shard). Errors (port in
    /// use, io_uring asked for but unavailable) are returned before
    /// anything is served.
    pub fn start(config: &Config, metrics: Vec<Arc<ShardMetrics>>) -> std::io::Result<Server> {
        let n = config.shards;
        if metrics.len() != n {
            return Err(std::io::Error::other("one metrics set per shard"));
        }
        let backend = Backend::resolve(config.io_backend);
        let listeners = listener::bind(config.http_bind_addr, n)?;
        let local_addr = listeners[0].local_addr()?;
        let (router, inboxes) = Router::new(n);
        let policy = Arc::new(config.policy());
        let (ready_tx, ready_rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        for (id, (listener, inbox)) in listeners.into_iter().zip(inboxes).enumerate() {
            let ctx = ShardCtx {
                id,
                backend,
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
            backend,
        })
    }

    /// The I/O backend the shards run on.
    pub fn backend(&self) -> Backend {
        self.backend
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

    /// A handle that asks every shard whether its loop still turns, for a
    /// watchdog thread.
    pub fn heartbeat(&self) -> Heartbeat {
        Heartbeat {
            router: self.router.clone(),
            seen: (0..self.router.shards()).map(|_| Arc::default()).collect(),
            sent: 0,
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

/// Liveness of the shards' loops: each beat asks every shard to echo a
/// number through its mailbox; a shard that has not echoed the previous
/// one by the next beat is stuck.
pub struct Heartbeat {
    router: Router,
    seen: Vec<Arc<AtomicU64>>,
    sent: u64,
}

impl Heartbeat {
    /// Sends the next beat; returns the shards that did not answer the
    /// previous one (none on the first call).
    pub fn beat(&mut self) -> Vec<usize> {
        let stuck = self
            .seen
            .iter()
            .enumerate()
            .filter(|(_, s)| s.load(Ordering::Relaxed) < self.sent)
            .map(|(i, _)| i)
            .collect();
        self.sent += 1;
        for (s, seen) in self.seen.iter().enumerate() {
            self.router
                .send(s, ShardMsg::Heartbeat(self.sent, seen.clone()));
        }
        stuck
    }
}

struct ShardCtx {
    id: usize,
    backend: Backend,
    listener: std::net::TcpListener,
    inbox: UnboundedReceiver<ShardMsg>,
    router: Router,
    metrics: Arc<ShardMetrics>,
    policy: Arc<Policy>,
    ready: mpsc::Sender<std::io::Result<()>>,
    done: mpsc::Sender<usize>,
}

fn shard_main(ctx: ShardCtx) {
    if let Err(e) = slice::request(slice::SHARD_SLICE_NS) {
        tracing::debug!("short scheduler slice refused: {e}");
    }
    let ShardCtx {
        id,
        backend,
        listener,
        inbox,
        router,
        metrics,
        policy,
        ready,
        done,
    } = ctx;
    let failed = ready.clone();
    match backend {
        Backend::Uring => metrics.shard.io_uring.set(1),
        Backend::Epoll => metrics.shard.io_epoll.set(1),
    }
    let started = backend.block_on(move || async move {
        let ring = shard_ring(backend, id, &metrics);
        // With the shard ring, accepts and handshakes run on the runtime's
        // readiness reactor: a socket leaves it for the ring without a
        // second descriptor (`Stream::into_ring`), and a handshake is a
        // few small reads and writes that gain nothing from a ring.
        let setup = if ring.is_some() {
            Backend::Epoll
        } else {
            backend
        };
        let shard = Rc::new(Shard::new(id, setup, router, metrics, policy, ring.clone()));
        if let Some(ring) = ring {
            io::spawn(ring.run(shard.clone()));
        }
        let listener = match Listener::from_std(setup, listener) {
            Ok(l) => Rc::new(l),
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        io::spawn(accept::accept_loop(shard.clone(), listener.clone()));
        io::spawn(sweeper::run(shard.clone()));
        let flusher = shard.clone();
        io::spawn(async move { flusher.flusher().await });
        let checker = shard.clone();
        io::spawn(async move { checker.sigs.run(&checker.metrics.shard).await });
        let _ = ready.send(Ok(()));
        inbox::run(shard.clone(), inbox).await;
        // Completes the pending accept so the accept loop sees shutdown.
        listener.shutdown();
        let _ = done.send(id);
        // The process exits from the main thread; dropping a runtime with
        // operations in flight can hang, so this thread just parks.
        std::future::pending::<()>().await;
    });
    if let Err(e) = started {
        let _ = failed.send(Err(e));
    }
}

/// The shard ring, on the io_uring backend where the kernel has what it
/// needs; one warning (from shard 0) when it does not.
fn shard_ring(backend: Backend, id: usize, metrics: &ShardMetrics) -> Option<Rc<ring::Ring>> {
    if backend != Backend::Uring || !ring::Ring::wanted() {
        return None;
    }
    match ring::Ring::new() {
        Ok(r) => {
            metrics.shard.ring_active.set(1);
            Some(Rc::new(r))
        }
        Err(e) => {
            if id == 0 {
                tracing::warn!(
                    "io_uring shard ring unavailable ({e}); clients are served by per-connection ring operations"
                );
            }
            None
        }
    }
}
