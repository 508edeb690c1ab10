//! A global allocator that hands large blocks (send queues, pooled write
//! buffers, big tables) straight to the kernel with `mmap` and everything
//! smaller to an inner allocator (jemalloc in the binary).
//!
//! Why: a burst of thousands of flooded receivers makes the relay hold
//! gigabytes of queued packets for a few seconds. Kept inside jemalloc,
//! that address space leaves behind metadata jemalloc never frees (radix
//! tree leaves and extent descriptors, about 6 bytes per KiB of the
//! largest peak), so RSS after the burst stays well above its idle size.
//! Blocks mapped on their own go back whole on `munmap`, grow in place or
//! move without a copy on `mremap`, and leave nothing behind.
//!
//! Large blocks are few (the shard pools reuse write buffers), so the
//! system call per block is not on the per-packet path.

use std::alloc::{GlobalAlloc, Layout};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Blocks of at least this many bytes are mapped on their own: the pool's
/// write buffers (128 KiB) and anything a queue grows to.
pub const THRESHOLD: usize = 128 * 1024;
const PAGE: usize = 4096;

/// Bytes in blocks mapped on their own right now (whole pages).
static MAPPED: AtomicUsize = AtomicUsize::new(0);

/// Bytes the relay holds in blocks mapped on their own (which the inner
/// allocator's statistics do not see).
pub fn mapped_bytes() -> usize {
    MAPPED.load(Ordering::Relaxed)
}

/// Routes blocks of [`THRESHOLD`] bytes and more to `mmap`, the rest to `A`.
pub struct LargeMmap<A>(pub A);

/// Whether a block of this layout is (or would be) mapped on its own.
/// Decided by size and alignment alone, so `dealloc` and `realloc`, which
/// get the layout back, always agree with the `alloc` that made it.
fn mapped(layout: &Layout) -> bool {
    layout.size() >= THRESHOLD && layout.align() <= PAGE
}

fn pages(size: usize) -> usize {
    size.div_ceil(PAGE) * PAGE
}

fn map(size: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping touches no existing memory.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            pages(size),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return ptr::null_mut();
    }
    MAPPED.fetch_add(pages(size), Ordering::Relaxed);
    p.cast()
}

/// # Safety
/// `p` is a mapping of `pages(size)` bytes made by [`map`] or [`remap`].
unsafe fn unmap(p: *mut u8, size: usize) {
    // SAFETY: per the contract above.
    if unsafe { libc::munmap(p.cast(), pages(size)) } == 0 {
        MAPPED.fetch_sub(pages(size), Ordering::Relaxed);
    }
}

/// # Safety
/// `p` is a mapping of `pages(old)` bytes made by [`map`] or [`remap`].
unsafe fn remap(p: *mut u8, old: usize, new: usize) -> *mut u8 {
    // SAFETY: per the contract above; the kernel moves or resizes it.
    let q = unsafe { libc::mremap(p.cast(), pages(old), pages(new), libc::MREMAP_MAYMOVE) };
    if q == libc::MAP_FAILED {
        return ptr::null_mut();
    }
    MAPPED.fetch_sub(pages(old), Ordering::Relaxed);
    MAPPED.fetch_add(pages(new), Ordering::Relaxed);
    q.cast()
}

// SAFETY: every block is either wholly from `A` or wholly a mapping of
// `pages(size)` bytes, page aligned (so any alignment up to a page holds),
// and `mapped` tells the two apart from the layout the caller returns.
unsafe impl<A: GlobalAlloc> GlobalAlloc for LargeMmap<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if mapped(&layout) {
            map(layout.size())
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { self.0.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if mapped(&layout) {
            // Fresh anonymous pages are zero already.
            map(layout.size())
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { self.0.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if mapped(&layout) {
            // SAFETY: `ptr` is a mapping of `pages(size)` bytes made here.
            unsafe { unmap(ptr, layout.size()) };
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { self.0.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` is a valid size for
        // `layout.align()`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (mapped(&layout), mapped(&new_layout)) {
            // SAFETY: forwarded with the caller's guarantees.
            (false, false) => unsafe { self.0.realloc(ptr, layout, new_size) },
            // SAFETY: `ptr` is a mapping of `pages(layout.size())` bytes
            // made here.
            (true, true) => unsafe { remap(ptr, layout.size(), new_size) },
            // Crossing the threshold: a new block of the other kind.
            _ => {
                // SAFETY: `new_layout` has a non-zero size (one side of
                // the threshold is at least THRESHOLD and the other is
                // the caller's valid size), and both blocks are live.
                unsafe {
                    let new = self.alloc(new_layout);
                    if !new.is_null() {
                        ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    new
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    const A: LargeMmap<System> = LargeMmap(System);

    fn fill(p: *mut u8, n: usize, v: u8) {
        // SAFETY: test blocks are at least `n` bytes.
        unsafe { ptr::write_bytes(p, v, n) }
    }

    fn all(p: *const u8, n: usize, v: u8) -> bool {
        // SAFETY: test blocks are at least `n` bytes and initialised.
        unsafe { std::slice::from_raw_parts(p, n) }
            .iter()
            .all(|&b| b == v)
    }

    #[test]
    fn grows_and_shrinks_across_the_threshold_keeping_the_bytes() {
        let small = Layout::from_size_align(1000, 8).unwrap();
        // SAFETY: each block is used within its size and freed once with
        // the layout it has at that point.
        unsafe {
            let p = A.alloc(small);
            fill(p, 1000, 7);
            let big = A.realloc(p, small, THRESHOLD * 3 + 5);
            assert!(!big.is_null() && all(big, 1000, 7));
            let big_layout = Layout::from_size_align(THRESHOLD * 3 + 5, 8).unwrap();
            fill(big, THRESHOLD * 3 + 5, 9);
            let bigger = A.realloc(big, big_layout, THRESHOLD * 40);
            assert!(!bigger.is_null() && all(bigger, THRESHOLD * 3 + 5, 9));
            let bigger_layout = Layout::from_size_align(THRESHOLD * 40, 8).unwrap();
            let back = A.realloc(bigger, bigger_layout, 500);
            assert!(!back.is_null() && all(back, 500, 9));
            A.dealloc(back, Layout::from_size_align(500, 8).unwrap());
        }
    }

    #[test]
    fn mapped_bytes_count_whole_pages_while_blocks_live() {
        let l = Layout::from_size_align(THRESHOLD + 1, 8).unwrap();
        // SAFETY: allocated and freed with the same layout. Other tests
        // map blocks concurrently, so only this block's share is checked
        // as a lower bound.
        unsafe {
            let p = A.alloc(l);
            assert!(mapped_bytes() >= THRESHOLD + PAGE);
            A.dealloc(p, l);
        }
    }

    #[test]
    fn large_zeroed_blocks_are_zero_and_page_aligned() {
        let l = Layout::from_size_align(THRESHOLD + 1, 4096).unwrap();
        // SAFETY: allocated and freed with the same layout.
        unsafe {
            let p = A.alloc_zeroed(l);
            assert_eq!(p as usize % 4096, 0);
            assert!(all(p, THRESHOLD + 1, 0));
            A.dealloc(p, l);
        }
        // Alignment above a page stays with the inner allocator.
        assert!(!mapped(
            &Layout::from_size_align(THRESHOLD, 2 * PAGE).unwrap()
        ));
    }
}
