//! churn: N clients in pairs (i and i^1) that disconnect and reconnect at
//! random while the well-behaved traffic flows. Each keeps its key across
//! reconnects, as a real client does, and on every connect sends its
//! partner one packet (which may find the partner away). A client leaves
//! with a FIN and connects again at once; `--fault-rate` such reconnects
//! happen per second over all clients.
//!
//! Once the fault ends nobody is kicked any more; the clients that were
//! away connect again and all stay until the run ends, so the server's
//! memory and descriptors after the churn compare with those before it.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{Notify, Semaphore};
use tokio::time::{Instant, MissedTickBehavior};

use super::peer::{Identity, Peer};
use super::{wait_true, Counters, Ctx};

/// Handshakes in flight at once.
const INFLIGHT: usize = 256;
/// Payload of the packet each connect sends to the partner.
const HELLO: &[u8] = b"churn: back again";
/// Longest wait for every client to be connected (start, and after the churn).
const ALL_UP: Duration = Duration::from_secs(60);

struct State {
    ids: Vec<Identity>,
    kicks: Vec<Notify>,
    up: Vec<Cell<bool>>,
    /// Clients connected now.
    count: Cell<usize>,
    sem: Arc<Semaphore>,
}

pub async fn run(ctx: Rc<Ctx>) {
    let n = ctx.cfg.clients;
    let st = Rc::new(State {
        ids: (0..n).map(|_| Identity::fresh()).collect(),
        kicks: (0..n).map(|_| Notify::new()).collect(),
        up: (0..n).map(|_| Cell::new(false)).collect(),
        count: Cell::new(0),
        sem: Arc::new(Semaphore::new(INFLIGHT)),
    });
    let mut tasks = Vec::with_capacity(n);
    for idx in 0..n {
        tasks.push(tokio::task::spawn_local(client(
            ctx.clone(),
            st.clone(),
            idx,
        )));
    }
    all_up(&st, n).await;
    ctx.ready.send_replace(true);

    if ctx.cfg.rate > 0.0 {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / ctx.cfg.rate));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let stop = wait_true(ctx.stop.clone());
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {
                    let idx = rand::thread_rng().gen_range(0..n);
                    if st.up[idx].get() {
                        st.kicks[idx].notify_one();
                    }
                }
            }
        }
    } else {
        wait_true(ctx.stop.clone()).await;
    }
    all_up(&st, n).await;
    ctx.done.send_replace(true);
    for t in tasks {
        let _ = t.await;
    }
}

/// Waits (bounded) until all `n` clients are connected.
async fn all_up(st: &State, n: usize) {
    let deadline = Instant::now() + ALL_UP;
    while st.count.get() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

enum Left {
    Kicked,
    ByServer,
    Exit,
}

async fn client(ctx: Rc<Ctx>, st: Rc<State>, idx: usize) {
    let c = &ctx.counters;
    let (Some(id), Some(partner)) = (st.ids.get(idx), st.ids.get(idx ^ 1).or(st.ids.get(idx)))
    else {
        return;
    };
    loop {
        if *ctx.exit.borrow() {
            return;
        }
        let peer = match st.sem.clone().acquire_owned().await {
            Ok(_permit) => Peer::connect(&ctx, idx, id).await,
            Err(_) => return,
        };
        let Some(mut p) = peer else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let since = Instant::now();
        st.up[idx].set(true);
        st.count.set(st.count.get() + 1);
        p.queue_packet(&partner.key, HELLO);
        Counters::add(&c.packets_sent, 1);
        let exit = wait_true(ctx.exit.clone());
        tokio::pin!(exit);
        let left = loop {
            tokio::select! {
                biased;
                _ = &mut exit => break Left::Exit,
                _ = st.kicks[idx].notified() => break Left::Kicked,
                r = p.turn() => match r {
                    Ok(r) => {
                        Counters::add(&c.packets_received, r.packets);
                        Counters::add(&c.peer_gone, r.peer_gone);
                    }
                    Err(_) => break Left::ByServer,
                },
            }
        };
        st.up[idx].set(false);
        st.count.set(st.count.get().saturating_sub(1));
        drop(p);
        match left {
            Left::Exit => return,
            Left::Kicked => Counters::add(&c.closed_by_client, 1),
            Left::ByServer => {
                c.server_closed(since.elapsed());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
