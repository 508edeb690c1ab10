//! half-open: clients that vanish without a FIN. Two kinds, alternating by
//! index:
//!
//! - resetters finish the 0.35 handshake, then close with SO_LINGER 0, so
//!   the server gets a reset and no FIN, and connect again; `--fault-rate`
//!   such resets per second over all resetters;
//! - silent ones finish the handshake and then stop responding: no reads,
//!   no writes, socket held open, as a client behind a dead NAT. When the
//!   fault ends they check whether the server closed them, then reset.

use std::rc::Rc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use super::peer::{Identity, Peer};
use super::{closed_by_server, reset, wait_true, Counters, Ctx};

pub async fn run(ctx: Rc<Ctx>) {
    let n = ctx.cfg.clients;
    let resetters = n.div_ceil(2);
    let mut silent = Vec::new();
    for idx in (1..n).step_by(2) {
        if let Some(p) = Peer::connect(&ctx, idx, &Identity::fresh()).await {
            silent.push(p);
        }
    }
    let tasks: Vec<_> = (0..n)
        .step_by(2)
        .map(|idx| tokio::task::spawn_local(resetter(ctx.clone(), idx, resetters)))
        .collect();
    ctx.ready.send_replace(true);
    wait_true(ctx.stop.clone()).await;
    let probes = silent
        .into_iter()
        .map(|p| {
            tokio::task::spawn_local(async move {
                let closed = closed_by_server(&p.conn.stream, Duration::from_millis(500)).await;
                reset(p.conn.stream);
                closed
            })
        })
        .collect::<Vec<_>>();
    let c = &ctx.counters;
    for probe in probes {
        let closed = probe.await.unwrap_or(false);
        Counters::add(
            if closed {
                &c.closed_by_server
            } else {
                &c.open_at_stop
            },
            1,
        );
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn resetter(ctx: Rc<Ctx>, idx: usize, of: usize) {
    if ctx.cfg.rate <= 0.0 {
        return;
    }
    let c = &ctx.counters;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(of as f64 / ctx.cfg.rate));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let stop = wait_true(ctx.stop.clone());
    tokio::pin!(stop);
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => return,
            _ = tick.tick() => {
                if let Some(p) = Peer::connect(&ctx, idx, &Identity::fresh()).await {
                    reset(p.conn.stream);
                    Counters::add(&c.closed_by_client, 1);
                }
            }
        }
    }
}
