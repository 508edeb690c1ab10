//! A shard's pool of write buffers. A queue takes a buffer when it stops
//! being empty and the writer returns it after the write, so memory follows
//! the clients that are busy, not the ones connected, and a busy relay does
//! not allocate, grow and fault in fresh buffers for every batch.
//!
//! The pool grows to what the load needs and [`BufPool::trim`] (called by
//! the sweeper) frees what went unused over the last interval.

use std::cell::{Cell, RefCell};

/// Capacity of a fresh buffer: a full window of 1200-byte packets from
/// several senders fits without growing.
const BUF_CAPACITY: usize = 128 * 1024;
/// Buffers that grew beyond this are freed rather than kept.
const MAX_KEPT_CAPACITY: usize = 1024 * 1024;
/// Hard bound on kept buffers.
const MAX_FREE: usize = 4096;

#[derive(Default)]
pub struct BufPool {
    free: RefCell<Vec<Vec<u8>>>,
    /// Fewest free buffers seen since the last trim: that many were idle
    /// the whole interval.
    low_water: Cell<usize>,
}

impl BufPool {
    pub fn get(&self) -> Vec<u8> {
        let mut free = self.free.borrow_mut();
        let buf = free
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BUF_CAPACITY));
        self.low_water.set(self.low_water.get().min(free.len()));
        buf
    }

    pub fn put(&self, mut buf: Vec<u8>) {
        let mut free = self.free.borrow_mut();
        if buf.capacity() >= BUF_CAPACITY
            && buf.capacity() <= MAX_KEPT_CAPACITY
            && free.len() < MAX_FREE
        {
            buf.clear();
            free.push(buf);
        }
    }

    /// Frees the buffers that stayed unused since the last call.
    pub fn trim(&self) {
        let mut free = self.free.borrow_mut();
        let unused = self.low_water.get().min(free.len());
        let keep = free.len() - unused;
        free.truncate(keep);
        if free.is_empty() {
            free.shrink_to_fit();
        }
        self.low_water.set(free.len());
    }

    #[cfg(test)]
    fn free_len(&self) -> usize {
        self.free.borrow().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_and_trims_what_went_unused() {
        let p = BufPool::default();
        let bufs: Vec<_> = (0..10).map(|_| p.get()).collect();
        for b in bufs {
            p.put(b);
        }
        assert_eq!(p.free_len(), 10);
        p.trim(); // low water was 0 during the burst: nothing freed
        assert_eq!(p.free_len(), 10);
        let a = p.get();
        let b = p.get();
        p.put(a);
        p.put(b);
        p.trim(); // 8 stayed unused the whole interval
        assert_eq!(p.free_len(), 2);
        p.trim();
        assert_eq!(p.free_len(), 0);
        p.put(Vec::with_capacity(10)); // too small to keep
        assert_eq!(p.free_len(), 0);
    }
}
