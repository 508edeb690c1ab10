//! slowloris: connections that hold a request slot without finishing the
//! request. Even-numbered ones send the 0.35 upgrade request head one byte
//! at a time (`--fault-rate` bytes/s each); odd-numbered ones open the
//! connection and send nothing. When the server closes one, it opens
//! again after a short pause, so the pressure lasts as long as the fault.

use std::rc::Rc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{tcp_connect, wait_true, Counters, Ctx};
use crate::protocol::Protocol;
use crate::upgrade;

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

enum Outcome {
    Stop,
    Closed,
}

async fn offender(ctx: Rc<Ctx>, idx: usize) {
    let c = &ctx.counters;
    let head = upgrade::request(Protocol::Derp, &ctx.host, "");
    let trickle = idx.is_multiple_of(2) && ctx.cfg.rate > 0.0;
    let every = if trickle {
        Duration::from_secs_f64(1.0 / ctx.cfg.rate)
    } else {
        Duration::from_secs(3600)
    };
    while !ctx.stopped() {
        Counters::add(&c.opened, 1);
        let stream = match tcp_connect(ctx.target, idx).await {
            Ok(s) => s,
            Err(_) => {
                Counters::add(&c.failed, 1);
                tokio::time::sleep(REOPEN).await;
                continue;
            }
        };
        let began = Instant::now();
        match hold(&ctx, &stream, &head, trickle, every).await {
            Outcome::Stop => {
                Counters::add(&c.open_at_stop, 1);
                return;
            }
            Outcome::Closed => c.server_closed(began.elapsed()),
        }
        drop(stream);
        tokio::time::sleep(REOPEN).await;
    }
}

/// Keeps one connection going until the fault stops or the server closes it.
async fn hold(
    ctx: &Ctx,
    stream: &TcpStream,
    head: &[u8],
    trickle: bool,
    every: Duration,
) -> Outcome {
    let c = &ctx.counters;
    let stop = wait_true(ctx.stop.clone());
    tokio::pin!(stop);
    let mut pos = 0usize;
    let mut next = Instant::now() + every;
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => return Outcome::Stop,
            r = stream.readable() => {
                if r.is_err() {
                    return Outcome::Closed;
                }
                match stream.try_read(&mut buf) {
                    // A reply (an error status, or the 101 once the head is
                    // complete) is read and ignored; the close is what counts.
                    Ok(n) if n > 0 => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    _ => return Outcome::Closed,
                }
            }
            _ = tokio::time::sleep_until(next), if trickle && pos < head.len() => {
                match stream.try_write(&head[pos..pos + 1]) {
                    Ok(1) => {
                        pos += 1;
                        Counters::add(&c.bytes_sent, 1);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    _ => return Outcome::Closed,
                }
                next += every;
            }
        }
    }
}
