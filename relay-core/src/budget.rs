//! Memory a shard's clients may hold, whatever the load: one budget for the
//! packets queued to them and one for the bytes their reads pull in.
//!
//! Both are per shard (one thread, plain cells): the server's budget is
//! split evenly, so the hot path never touches another core's cache line.

use std::cell::Cell;

/// Bytes queued for a shard's clients (send queues plus writes in flight).
///
/// Up to half the limit, any destination may queue (within its own caps).
/// Past half, a destination may only grow to its fair share of the other
/// half, so receivers that read slowly cannot take the budget from the
/// others: a well-behaved destination, holding little, still gets its
/// packets. Control frames are charged but never refused, so the count
/// stays exact.
#[derive(Debug)]
pub struct QueueBudget {
    used: Cell<usize>,
    limit: Cell<usize>,
    /// Clients holding any bytes.
    holders: Cell<usize>,
}

impl QueueBudget {
    pub fn new(limit: usize) -> Self {
        Self {
            used: Cell::new(0),
            limit: Cell::new(limit),
            holders: Cell::new(0),
        }
    }

    /// Whether a destination holding `held` bytes may queue `n` more.
    pub fn admits(&self, held: usize, n: usize) -> bool {
        let used = self.used.get() + n;
        let limit = self.limit.get();
        used <= limit && (used <= limit / 2 || held + n <= limit / 2 / self.holders.get().max(1))
    }

    /// Adds `n` bytes to a client's `held` count and to the total.
    pub fn charge(&self, held: &Cell<usize>, n: usize) {
        if n == 0 {
            return;
        }
        if held.get() == 0 {
            self.holders.set(self.holders.get() + 1);
        }
        held.set(held.get() + n);
        self.used.set(self.used.get() + n);
    }

    /// Takes `n` bytes off a client's `held` count and the total.
    pub fn release(&self, held: &Cell<usize>, n: usize) {
        let n = n.min(held.get());
        if n == 0 {
            return;
        }
        held.set(held.get() - n);
        if held.get() == 0 {
            self.holders.set(self.holders.get().saturating_sub(1));
        }
        self.used.set(self.used.get().saturating_sub(n));
    }

    pub fn used(&self) -> usize {
        self.used.get()
    }

    /// A reload may lower the limit below what is held: nothing is
    /// dropped, new packets wait for room.
    pub fn set_limit(&self, limit: usize) {
        self.limit.set(limit);
    }
}

/// Bytes a shard has in transit to another (its outbox plus batches the
/// other has not taken yet), shared fairly among the sending clients.
///
/// Up to half the cap anything goes; past half, a client may add only its
/// share of the other half per flush, so a flood from one client cannot
/// crowd out the packets of others. A flush starts a new round.
#[derive(Debug, Default)]
pub struct TransitShare {
    round: Cell<u64>,
    senders: Cell<usize>,
}

/// A client's use of a [`TransitShare`]: the round and the bytes it added.
pub type TransitUse = Cell<(u64, usize)>;

impl TransitShare {
    /// Whether a client may add `n` bytes when `held` are in transit and
    /// `cap` may be.
    pub fn admits(&self, mine: &TransitUse, held: usize, n: usize, cap: usize) -> bool {
        let total = held + n;
        total <= cap
            && (total <= cap / 2 || self.used(mine) + n <= cap / 2 / self.senders.get().max(1))
    }

    pub fn charge(&self, mine: &TransitUse, n: usize) {
        let used = self.used(mine);
        if mine.get().0 != self.round.get() {
            self.senders.set(self.senders.get() + 1);
        }
        mine.set((self.round.get(), used + n));
    }

    /// The outboxes went out: every client starts the round afresh.
    pub fn next_round(&self) {
        self.round.set(self.round.get() + 1);
        self.senders.set(0);
    }

    fn used(&self, mine: &TransitUse) -> usize {
        let (round, used) = mine.get();
        if round == self.round.get() {
            used
        } else {
            0
        }
    }
}

/// Smallest read a busy connection is granted.
pub const MIN_READ: usize = 4 * 1024;
/// Largest read any connection issues.
pub const MAX_READ: usize = 64 * 1024;
/// Read buffer bytes a shard grants its busy connections together. With
/// few busy clients each reads up to [`MAX_READ`]; with thousands, each
/// reads less, so under overload the excess waits in the kernel (and TCP
/// slows its senders) instead of in relay memory.
pub const READ_BUDGET: usize = 64 * 1024 * 1024;

/// Shares [`READ_BUDGET`] among the connections whose reads have grown.
#[derive(Debug, Default)]
pub struct ReadShare {
    busy: Cell<usize>,
}

impl ReadShare {
    /// The largest read a busy connection may issue now.
    pub fn cap(&self) -> usize {
        (READ_BUDGET / self.busy.get().max(1)).clamp(MIN_READ, MAX_READ)
    }

    /// Counts a connection as busy until the guard is dropped or reset.
    pub fn guard(&self) -> BusyGuard<'_> {
        BusyGuard {
            share: self,
            busy: false,
        }
    }

    pub fn busy(&self) -> usize {
        self.busy.get()
    }
}

/// One connection's membership in a [`ReadShare`].
#[derive(Debug)]
pub struct BusyGuard<'a> {
    share: &'a ReadShare,
    busy: bool,
}

impl BusyGuard<'_> {
    pub fn set(&mut self, busy: bool) {
        if busy != self.busy {
            let n = self.share.busy.get();
            self.share
                .busy
                .set(if busy { n + 1 } else { n.saturating_sub(1) });
            self.busy = busy;
        }
    }
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.set(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_budget_counts_and_refuses() {
        let b = QueueBudget::new(1000);
        let (x, y) = (Cell::new(0), Cell::new(0));
        assert!(b.admits(0, 500));
        assert!(!b.admits(0, 501)); // one holder past half: its share is 500
        b.charge(&x, 400);
        b.charge(&y, 100);
        assert_eq!(b.used(), 500);
        // Past half, each holder may grow to 500 / 2 holders = 250.
        assert!(!b.admits(x.get(), 10));
        assert!(b.admits(y.get(), 150));
        assert!(!b.admits(y.get(), 151));
        b.charge(&y, 600); // control frames may go over
        assert!(!b.admits(0, 1));
        b.release(&x, 400);
        b.release(&y, 9999);
        assert_eq!((b.used(), x.get(), y.get()), (0, 0, 0));
        b.set_limit(10);
        assert!(!b.admits(0, 11));
    }

    #[test]
    fn slow_holders_leave_room_for_others() {
        let b = QueueBudget::new(1 << 20);
        let slow: Vec<Cell<usize>> = (0..200).map(|_| Cell::new(0)).collect();
        // Slow receivers take what they can, packet by packet.
        for _ in 0..1000 {
            for h in &slow {
                if b.admits(h.get(), 1200) {
                    b.charge(h, 1200);
                }
            }
        }
        assert!(b.used() <= (1 << 20) / 2 + 200 * 1200);
        // A destination that holds nothing still gets its packets.
        let fresh = Cell::new(0);
        assert!(b.admits(fresh.get(), 1200));
        b.charge(&fresh, 1200);
    }

    #[test]
    fn transit_share_spares_light_senders() {
        let t = TransitShare::default();
        t.next_round(); // rounds start at 1, fresh uses at 0
        let (flood, light) = (TransitUse::default(), TransitUse::default());
        let mut held = 0;
        while t.admits(&flood, held, 1000, 100_000) {
            t.charge(&flood, 1000);
            held += 1000;
        }
        assert_eq!(held, 50_000); // stopped at half the cap
        assert!(t.admits(&light, held, 100, 100_000));
        t.charge(&light, 100);
        held += 100;
        // Two senders now: each may have 25_000 past half.
        assert!(!t.admits(&flood, held, 1000, 100_000));
        assert!(t.admits(&light, held, 20_000, 100_000));
        assert!(!t.admits(&light, held, 30_000, 100_000));
        t.next_round();
        assert!(t.admits(&flood, held, 1000, 100_000));
        assert!(!t.admits(&light, 100_000, 1, 100_000));
    }

    #[test]
    fn read_share_shrinks_with_busy_connections() {
        let s = ReadShare::default();
        assert_eq!(s.cap(), MAX_READ);
        let mut guards: Vec<_> = (0..2000).map(|_| s.guard()).collect();
        for g in &mut guards {
            g.set(true);
            g.set(true); // idempotent
        }
        assert_eq!(s.busy(), 2000);
        assert_eq!(s.cap(), READ_BUDGET / 2000);
        guards.truncate(10);
        assert_eq!(s.busy(), 10);
        assert_eq!(s.cap(), MAX_READ);
        let mut many: Vec<_> = (0..100_000).map(|_| s.guard()).collect();
        many.iter_mut().for_each(|g| g.set(true));
        assert_eq!(s.cap(), MIN_READ);
    }
}
