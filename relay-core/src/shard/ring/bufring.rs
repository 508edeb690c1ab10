//! The shard's provided-buffer ring: one anonymous mapping holding the
//! ring of buffer descriptors the kernel picks from, and the buffers.
//! Every client's multishot receive takes its next buffer from here, so
//! an idle client holds none; a buffer goes back right after its bytes
//! are handled, without a syscall.

use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use ring::types::BufRingEntry;

/// A registered buffer ring and its buffers.
pub struct BufRing {
    /// Start of the mapping: the descriptor ring, then the buffers.
    base: *mut u8,
    len: usize,
    entries: u16,
    buf_size: u32,
    /// Where buffers start in the mapping (page-aligned).
    bufs_at: usize,
    /// Our copy of the tail the kernel reads.
    tail: u16,
    group: u16,
}

impl BufRing {
    /// Maps `entries` (a power of two up to 32768) buffers of `buf_size`
    /// bytes and registers them as group `group` with `submitter`.
    pub fn new(
        submitter: &ring::Submitter<'_>,
        entries: u16,
        buf_size: u32,
        group: u16,
    ) -> io::Result<BufRing> {
        if !entries.is_power_of_two() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer ring size must be a power of two",
            ));
        }
        let page = 4096usize;
        let ring_bytes = usize::from(entries) * std::mem::size_of::<BufRingEntry>();
        let bufs_at = ring_bytes.div_ceil(page) * page;
        let len = bufs_at + usize::from(entries) * buf_size as usize;
        // SAFETY: an anonymous private mapping; the result is checked.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut r = BufRing {
            base: base.cast(),
            len,
            entries,
            buf_size,
            bufs_at,
            tail: 0,
            group,
        };
        for bid in 0..entries {
            r.push(bid);
        }
        r.publish();
        // SAFETY: the mapping outlives the registration: `Drop` unmaps it
        // only after the ring that registered it is gone (the owner drops
        // the ring first, see `Ring`).
        unsafe { submitter.register_buf_ring_with_flags(base as u64, entries, group, 0)? };
        Ok(r)
    }

    /// The buffer group id to name in receives.
    pub fn group(&self) -> u16 {
        self.group
    }

    /// The first `len` bytes of buffer `bid`, as the kernel filled them.
    pub fn buf(&mut self, bid: u16, len: usize) -> &mut [u8] {
        let bid = bid % self.entries;
        let len = len.min(self.buf_size as usize);
        let at = self.bufs_at + usize::from(bid) * self.buf_size as usize;
        // SAFETY: `at + len` lies inside the mapping, and the kernel does
        // not write a buffer it handed out until it is given back.
        unsafe { std::slice::from_raw_parts_mut(self.base.add(at), len) }
    }

    /// Gives buffer `bid` back to the kernel (seen once [`Self::publish`]
    /// runs).
    pub fn push(&mut self, bid: u16) {
        let bid = bid % self.entries;
        let slot = usize::from(self.tail & (self.entries - 1));
        let addr = self.bufs_at + usize::from(bid) * self.buf_size as usize;
        // SAFETY: `slot` is below `entries`, so the entry lies in the
        // descriptor part of the mapping.
        let entry = unsafe { &mut *self.base.cast::<BufRingEntry>().add(slot) };
        entry.set_addr(self.base as u64 + addr as u64);
        entry.set_len(self.buf_size);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Returns the buffers' pages to the system (they read as zeros and
    /// are faulted in again when next used). Called between turns, when
    /// the kernel holds every buffer and writes none: with deferred task
    /// runs it copies received bytes only inside the shard's own enter.
    pub fn release_pages(&self) {
        // SAFETY: the buffer part of the mapping; MADV_DONTNEED on private
        // anonymous memory only drops its contents.
        unsafe {
            libc::madvise(
                self.base.add(self.bufs_at).cast(),
                self.len - self.bufs_at,
                libc::MADV_DONTNEED,
            )
        };
    }

    /// Makes the buffers given back visible to the kernel.
    pub fn publish(&self) {
        // SAFETY: the tail field overlays the first entry's reserved
        // field; the kernel reads it with acquire ordering.
        let tail = unsafe { &*BufRingEntry::tail(self.base.cast()).cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}
