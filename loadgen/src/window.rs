//! The max-rate window (`--rate max`): a sender keeps at most `--window`
//! packets in flight (sent, not yet delivered). Receivers credit each
//! delivery to its sender's slot and wake a waiting sender once half the
//! window is free, so every refill is one batch.

use std::sync::atomic::Ordering;

use crate::shared::{Shared, Slot};

/// The smallest refill: half the window.
fn min_batch(window: u64) -> u64 {
    (window / 2).max(1)
}

/// Packets a sender that has sent `seq` may send now: at least half a
/// window, or 0, after announcing in `slot` that it waits for deliveries.
pub fn allowance(slot: &Slot, window: u32, seq: u64) -> u64 {
    let window = u64::from(window);
    let open = |acked: u64| window.saturating_sub(seq.saturating_sub(acked));
    let allow = open(slot.acked.load(Ordering::SeqCst));
    if allow >= min_batch(window) {
        return allow;
    }
    // Announce the wait, then re-check so a delivery racing with the
    // announcement is not missed (receivers wake the sender on seeing it).
    slot.blocked.store(true, Ordering::SeqCst);
    let allow = open(slot.acked.load(Ordering::SeqCst));
    if allow >= min_batch(window) {
        slot.blocked.store(false, Ordering::SeqCst);
        return allow;
    }
    0
}

/// Credits a delivery to its sender's window and wakes the sender once
/// half the window is free (so it refills in one batch).
pub fn ack(sh: &Shared, sender: usize) {
    let Some(s) = sh.slots.get(sender) else {
        return;
    };
    let acked = s.acked.fetch_add(1, Ordering::SeqCst) + 1;
    if s.blocked.load(Ordering::SeqCst) {
        let window = u64::from(sh.cfg.window);
        let outstanding = s.sent.load(Ordering::SeqCst).saturating_sub(acked);
        if outstanding + min_batch(window) <= window && s.blocked.swap(false, Ordering::SeqCst) {
            s.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_refills_half_a_window_at_a_time() {
        let slot = Slot::default();
        assert_eq!(allowance(&slot, 64, 0), 64);
        // 40 in flight: 24 free is less than half, so it waits.
        assert_eq!(allowance(&slot, 64, 40), 0);
        assert!(slot.blocked.load(Ordering::SeqCst));
        // 8 delivered: 32 in flight, half the window free.
        slot.acked.store(8, Ordering::SeqCst);
        assert_eq!(allowance(&slot, 64, 40), 32);
        assert_eq!(allowance(&slot, 1, 0), 1);
    }
}
