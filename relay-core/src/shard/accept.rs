//! Accepting connections, within the accept rate limit and backing off
//! when out of descriptors; each accepted connection is set up in
//! [`super::setup`].

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::io::Listener;
use super::state::Shard;
use crate::logging::Throttle;
use crate::ratelimit::TokenBucket;

/// First pause after a failed accept; doubles up to [`ACCEPT_BACKOFF_MAX`].
const ACCEPT_BACKOFF: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_millis(250);
/// Accept failures are logged once, then summarised this often.
static ACCEPT_WARNINGS: Throttle = Throttle::new(Duration::from_secs(10));

pub async fn accept_loop(shard: Rc<Shard>, listener: Rc<Listener>) {
    let mut limiter: Option<(TokenBucket, (f64, f64))> = None;
    let mut backoff = ACCEPT_BACKOFF;
    loop {
        // accept_conn_limit: pause accepting (the backlog holds the rest).
        let limit = shard.policy.borrow().accept_limit;
        match (limit, limiter.as_mut()) {
            (None, _) => limiter = None,
            (Some(l), Some((_, cur))) if *cur == l => {}
            (Some(l), _) => {
                let n = shard.router.shards() as f64;
                limiter = Some((
                    TokenBucket::new(l.0 / n, (l.1 / n).max(1.0), Instant::now()),
                    l,
                ));
            }
        }
        if let Some((bucket, _)) = limiter.as_mut() {
            while let Err(wait) = bucket.take(1.0, Instant::now()) {
                tokio::time::sleep(wait).await;
            }
        }
        match listener.accept().await {
            Ok((stream, _peer)) => {
                if shard.shutting_down.get() {
                    return;
                }
                backoff = ACCEPT_BACKOFF;
                super::io::spawn(super::setup::handle(shard.clone(), stream));
            }
            Err(e) => {
                if shard.shutting_down.get() {
                    return;
                }
                // Out of descriptors (or another error): the connection
                // waits in the backlog; existing clients keep being served
                // and accepting resumes once descriptors are freed.
                let m = &shard.metrics.shard;
                match e.raw_os_error() {
                    Some(libc::EMFILE) => m.accept_emfile.inc(),
                    Some(libc::ENFILE) => m.accept_enfile.inc(),
                    _ => m.accept_other.inc(),
                }
                ACCEPT_WARNINGS.hit(|more| {
                    tracing::warn!(
                        "accept failed: {e}; backing off (and {more} more failures in the last 10 s; \
                         see uring_relay_accept_errors_total)"
                    )
                });
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }
}
