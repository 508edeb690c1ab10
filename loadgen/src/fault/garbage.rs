//! garbage: clients that finish the 0.35 handshake (signed ClientInfo,
//! first Pong), then send random bytes, `--fault-rate` bytes/s each in
//! 256-byte chunks. When the server closes one, it connects again after a
//! short pause.

use std::rc::Rc;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use super::peer::{Identity, Peer};
use super::{wait_true, Counters, Ctx};

const CHUNK: usize = 256;
/// Pause before an offender the server closed connects again.
const REOPEN: Duration = Duration::from_millis(100);

pub async fn run(ctx: Rc<Ctx>) {
    let tasks: Vec<_> = (0..ctx.cfg.clients)
        .map(|idx| tokio::task::spawn_local(offender(ctx.clone(), idx)))
        .collect();
    ctx.ready.send_replace(true);
    for t in tasks {
        let _ = t.await;
    }
}

async fn offender(ctx: Rc<Ctx>, idx: usize) {
    let c = &ctx.counters;
    let every = if ctx.cfg.rate > 0.0 {
        Duration::from_secs_f64(CHUNK as f64 / ctx.cfg.rate)
    } else {
        Duration::from_secs(3600)
    };
    while !ctx.stopped() {
        let Some(mut p) = Peer::connect(&ctx, idx, &Identity::fresh()).await else {
            tokio::time::sleep(REOPEN).await;
            continue;
        };
        let began = Instant::now();
        let stop = wait_true(ctx.stop.clone());
        tokio::pin!(stop);
        // The first chunk goes at once: the offence starts with the handshake.
        let mut next = Instant::now();
        let closed = loop {
            tokio::select! {
                biased;
                _ = &mut stop => break false,
                r = p.turn() => if r.is_err() {
                    break true;
                },
                _ = tokio::time::sleep_until(next) => {
                    let mut junk = [0u8; CHUNK];
                    rand::thread_rng().fill(&mut junk[..]);
                    p.conn.out.extend_from_slice(&junk);
                    Counters::add(&c.bytes_sent, CHUNK as u64);
                    if p.flush().is_err() {
                        break true;
                    }
                    next += every;
                }
            }
        };
        if !closed {
            Counters::add(&c.open_at_stop, 1);
            return;
        }
        c.server_closed(began.elapsed());
        drop(p);
        tokio::time::sleep(REOPEN).await;
    }
}
