//! The handshake signatures a shard reads in one turn of its loop, checked
//! as one batch (see [`crate::proto::sig`]): in a connect storm, about
//! half the cost per handshake of checking each alone.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Notify};

use crate::metrics::ShardCounters;
use crate::proto::sig::{self, SigCheck, MAX_BATCH};

/// After a batch failed (a bad signature that passed the early checks),
/// signatures are checked one at a time for this long, so a client that
/// keeps sending bad ones cannot make every batch cost half again.
const SINGLES_AFTER_FAILURE: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct SigBatch {
    pending: RefCell<Vec<(SigCheck, oneshot::Sender<bool>)>>,
    wake: Notify,
    singles_until: Cell<Option<Instant>>,
}

impl SigBatch {
    /// Whether the signature verifies, checked with the others that
    /// arrive in this turn of the loop.
    pub async fn verify(&self, check: SigCheck) -> bool {
        if self.singles_until.get().is_some_and(|t| Instant::now() < t) {
            return check.verify_strict();
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending.borrow_mut();
            if pending.is_empty() {
                self.wake.notify_one();
            }
            pending.push((check, tx));
        }
        rx.await.unwrap_or(false)
    }

    /// Checks what is pending whenever woken: woken by the first check of a
    /// turn, it runs after the tasks already queued in it, so one batch
    /// holds what all of their reads brought.
    pub async fn run(&self, m: &ShardCounters) {
        loop {
            self.wake.notified().await;
            loop {
                let batch: Vec<_> = {
                    let mut pending = self.pending.borrow_mut();
                    let n = pending.len().min(MAX_BATCH);
                    pending.drain(..n).collect()
                };
                if batch.is_empty() {
                    break;
                }
                let (checks, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                let out = sig::verify_all(&checks);
                if checks.len() > 1 {
                    m.sig_batches.inc();
                    m.sig_batched.add(checks.len() as u64);
                }
                if out.batch_failed {
                    m.sig_batch_failures.inc();
                    tracing::debug!(
                        size = checks.len(),
                        "a signature failed its batch; checking one at a time for a while"
                    );
                    self.singles_until
                        .set(Some(Instant::now() + SINGLES_AFTER_FAILURE));
                }
                for (reply, valid) in replies.into_iter().zip(out.valid) {
                    // The handshake may have timed out meanwhile.
                    let _ = reply.send(valid);
                }
            }
        }
    }
}
