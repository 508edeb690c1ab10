//! The shard ring: the io_uring backend's hot path, on a ring the shard
//! owns (beside tokio-uring's, which keeps accepts, handshakes and
//! timers). Each relaying client has one multishot receive into the
//! shard's provided-buffer ring, whose completions go straight to the
//! client's session; its outgoing queue is sent by one send at a time,
//! started by a once-per-turn pass over the clients whose queue became
//! non-empty. No task per client, no wake per read or write, and one
//! `io_uring_enter` per turn that both submits and reaps.
//!
//! The ring is set up with SINGLE_ISSUER and COOP_TASKRUN: completions
//! are posted when the shard thread next enters the kernel, and the
//! registered eventfd that the shard's runtime watches says they are
//! there. (With DEFER_TASKRUN the eventfd was not signalled promptly for
//! work deferred to the shard thread: one pair at full rate moved 9k
//! packets a second with a 16 ms median latency, against 1.28M and 85 us
//! with COOP_TASKRUN.)

mod bufring;
mod conn;
mod dispatch;
mod ops;

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;

use ring::IoUring;
use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;

use super::client::Client;
use bufring::BufRing;
use conn::{RingConn, Slots};
use ops::Op;

/// Submission entries.
const SQ_ENTRIES: u32 = 4096;
/// Completion entries: room for a burst of receives from 10k+ clients.
const CQ_ENTRIES: u32 = 65536;
/// Receive buffers and their size: the shard's whole read memory (4 MiB;
/// the kernel hands them out in turn, so a busy shard touches all of
/// them, and an idle one gives them back, see [`Ring::trim`]).
const BUFFERS: u16 = 256;
const BUFFER_SIZE: u32 = 16 * 1024;
/// Receive buffers one client may take per turn; a client that reaches
/// it has its receive cancelled and armed again in the next turn, so a
/// few flooding clients cannot keep every buffer (TCP holds the rest of
/// their bytes back meanwhile).
const BUFFERS_PER_TURN: u32 = 4;
/// Receives per trim period below which the shard counts as idle.
const IDLE_RECEIVES: u64 = 256;
const BUFFER_GROUP: u16 = 0;

/// Environment variable that turns the shard ring on (`on`). Off by
/// default: measured with `bench/ab` it does not beat yet the
/// per-connection path, where each client's reads and writes are ring
/// operations of its own tasks.
pub const RING_ENV: &str = "URING_RELAY_RING";

/// The clients to look at in this turn (their queue became non-empty,
/// they were closed, their pause ended), and the dispatcher's wake-up.
#[derive(Default)]
pub struct Dirty {
    slots: RefCell<Vec<u32>>,
    due: Cell<bool>,
    wake: Notify,
}

impl Dirty {
    /// Puts `slot` on the list and wakes the dispatcher once per turn.
    pub fn mark(&self, slot: u32) {
        self.slots.borrow_mut().push(slot);
        if !self.due.replace(true) {
            self.wake.notify_one();
        }
    }

    fn take(&self) -> Vec<u32> {
        self.due.set(false);
        std::mem::take(&mut *self.slots.borrow_mut())
    }
}

/// A client's link to the ring, kept by the client to mark itself dirty.
#[derive(Clone)]
pub struct RingHook {
    pub dirty: Rc<Dirty>,
    pub slot: u32,
}

/// One shard's ring and the clients on it.
pub struct Ring {
    uring: RefCell<IoUring>,
    bufs: RefCell<BufRing>,
    conns: RefCell<Slots>,
    dirty: Rc<Dirty>,
    /// Receives to arm again in this turn (after ENOBUFS, a resume, or a
    /// multishot the kernel ended).
    rearm: RefCell<Vec<u32>>,
    /// Receive completions since the last [`Ring::trim`].
    received: Cell<u64>,
    /// The dispatcher's turns so far.
    turn: Cell<u64>,
    /// Clients that reached [`BUFFERS_PER_TURN`]: armed again next turn.
    later: RefCell<Vec<u32>>,
    /// Clients whose receive found no shared buffer: they read once into
    /// a buffer of their own.
    starved: RefCell<Vec<u32>>,
    eventfd: AsyncFd<OwnedFd>,
}

impl Ring {
    /// Sets the ring up on the calling shard thread (inside its runtime);
    /// an error says which feature this kernel lacks.
    pub fn new() -> io::Result<Ring> {
        let uring = IoUring::builder()
            .setup_single_issuer()
            .setup_coop_taskrun()
            .setup_submit_all()
            .setup_taskrun_flag()
            .setup_cqsize(CQ_ENTRIES)
            .build(SQ_ENTRIES)
            .map_err(|e| {
                io::Error::new(e.kind(), format!("single-issuer ring (Linux 6.0+): {e}"))
            })?;
        let bufs =
            BufRing::new(&uring.submitter(), BUFFERS, BUFFER_SIZE, BUFFER_GROUP).map_err(|e| {
                io::Error::new(e.kind(), format!("provided-buffer ring (Linux 5.19+): {e}"))
            })?;
        // SAFETY: eventfd returns a new descriptor or -1, checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        let eventfd = unsafe { OwnedFd::from_raw_fd(fd) };
        uring.submitter().register_eventfd(eventfd.as_raw_fd())?;
        // SAFETY: the OwnedFd moves into the AsyncFd, which keeps it open
        // and unchanged until it is dropped.
        let eventfd =
            unsafe { AsyncFd::register_with_interest(eventfd, tokio::io::Interest::READABLE) }
                .map_err(|e| e.into_parts().1)?;
        Ok(Ring {
            uring: RefCell::new(uring),
            bufs: RefCell::new(bufs),
            conns: RefCell::new(Slots::default()),
            dirty: Rc::default(),
            rearm: RefCell::new(Vec::new()),
            received: Cell::new(0),
            turn: Cell::new(0),
            later: RefCell::new(Vec::new()),
            starved: RefCell::new(Vec::new()),
            eventfd,
        })
    }

    /// Whether the operator asked for the shard ring.
    pub fn wanted() -> bool {
        std::env::var(RING_ENV).is_ok_and(|v| v == "on")
    }

    /// Takes over a registered client whose socket the ring now drives;
    /// `leftover` is what was read after its handshake.
    pub fn attach(&self, client: Rc<Client>, leftover: Vec<u8>) {
        let (slot, generation) = self.conns.borrow_mut().reserve();
        client.attach_ring(RingHook {
            dirty: self.dirty.clone(),
            slot,
        });
        let conn = Rc::new(RingConn::new(client, generation, leftover));
        self.conns.borrow_mut().put(slot, conn);
        // The first turn handles the leftover, sends what is queued (1.x's
        // confirmation) and arms the receive.
        self.rearm.borrow_mut().push(slot);
        self.dirty.mark(slot);
    }

    /// Gives the receive buffers' memory back when the shard was nearly
    /// idle since the last call (the sweeper calls it every 2 s), so a
    /// burst does not leave the pool resident.
    pub fn trim(&self) {
        if self.received.replace(0) < IDLE_RECEIVES {
            self.bufs.borrow().release_pages();
        }
    }

    /// Queues a submission, entering the ring first if the queue is full.
    fn push(&self, entry: ring::squeue::Entry, m: &crate::metrics::ShardCounters) {
        let mut uring = self.uring.borrow_mut();
        loop {
            // SAFETY: every buffer an entry points to is owned by the
            // connection it was submitted for, and kept (in `outgoing` or
            // the buffer ring) until the entry's completion is seen.
            if unsafe { uring.submission().push(&entry) }.is_ok() {
                m.ring_submitted.inc();
                return;
            }
            m.ring_enters.inc();
            if let Err(e) = uring.submit() {
                tracing::warn!("shard ring submit failed: {e}");
            }
        }
    }

    fn recv_entry(&self, slot: u32, conn: &RingConn) -> ring::squeue::Entry {
        let fd = ring::types::Fd(conn.client.stream.as_raw_fd());
        ring::opcode::RecvMulti::new(fd, self.bufs.borrow().group())
            .build()
            .user_data(ops::encode(slot, conn.generation, Op::Recv))
    }

    /// A one-shot receive into the client's own buffer (allocated now,
    /// kept until the completion).
    fn recv_own_entry(&self, slot: u32, conn: &RingConn) -> ring::squeue::Entry {
        let mut own = conn.own.borrow_mut();
        own.clear();
        own.reserve_exact(BUFFER_SIZE as usize);
        let fd = ring::types::Fd(conn.client.stream.as_raw_fd());
        ring::opcode::Recv::new(fd, own.as_mut_ptr(), BUFFER_SIZE)
            .build()
            .user_data(ops::encode(slot, conn.generation, Op::RecvOwn))
    }

    fn cancel_entry(&self, slot: u32, conn: &RingConn) -> ring::squeue::Entry {
        ring::opcode::AsyncCancel::new(ops::encode(slot, conn.generation, Op::Recv))
            .build()
            .user_data(ops::encode(slot, conn.generation, Op::Cancel))
    }

    fn send_entry(&self, slot: u32, conn: &RingConn) -> Option<ring::squeue::Entry> {
        let out = conn.outgoing.borrow();
        let front = out.front()?;
        let rest = front.get(conn.sent.get()..)?;
        let fd = ring::types::Fd(conn.client.stream.as_raw_fd());
        let len = u32::try_from(rest.len()).unwrap_or(u32::MAX);
        Some(
            ring::opcode::Send::new(fd, rest.as_ptr(), len)
                .flags(libc::MSG_NOSIGNAL)
                .build()
                .user_data(ops::encode(slot, conn.generation, Op::Send)),
        )
    }
}
