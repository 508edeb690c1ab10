//! One client on the shard ring: what it has in flight (a multishot
//! receive, one send), the bytes of a frame split across receive buffers,
//! the outgoing buffers, and whether reads are paused at the receive limit.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use crate::shard::client::Client;

/// A client's state on the ring.
pub struct RingConn {
    pub client: Rc<Client>,
    pub generation: u32,
    /// A multishot receive is armed (its last completion not yet seen).
    pub recv_armed: Cell<bool>,
    /// Reading is paused at the receive limit (the receive cancelled).
    pub paused: Cell<bool>,
    /// The pause is over: handle what is pending and re-arm.
    pub resume: Cell<bool>,
    /// Bytes not yet handled: the start of a frame whose rest is still to
    /// come, or what arrived while paused (and, at first, what was read
    /// with the handshake).
    pub pending: RefCell<Vec<u8>>,
    /// `pending` holds bytes to handle before the next receive.
    pub fresh: Cell<bool>,
    /// Buffers to write, in order; the front one's `sent` bytes are gone.
    pub outgoing: RefCell<VecDeque<Vec<u8>>>,
    pub sent: Cell<usize>,
    /// A send is in flight (its buffer is the front of `outgoing`).
    pub sending: Cell<bool>,
    /// Packets in what `outgoing` holds, counted as lost if it fails.
    pub packets_out: Cell<u64>,
    /// The client's own receive buffer, while a one-shot receive into it
    /// is in flight (after the shared buffers ran out).
    pub own: RefCell<Vec<u8>>,
    /// The turn in which `turn_buffers` were received.
    pub turn: Cell<u64>,
    /// Receive buffers taken in that turn (see `Ring`'s per-turn cap).
    pub turn_buffers: Cell<u32>,
}

impl RingConn {
    pub fn new(client: Rc<Client>, generation: u32, leftover: Vec<u8>) -> Self {
        Self {
            client,
            generation,
            recv_armed: Cell::new(false),
            paused: Cell::new(false),
            resume: Cell::new(false),
            fresh: Cell::new(true),
            pending: RefCell::new(leftover),
            outgoing: RefCell::new(VecDeque::new()),
            sent: Cell::new(0),
            sending: Cell::new(false),
            packets_out: Cell::new(0),
            own: RefCell::new(Vec::new()),
            turn: Cell::new(0),
            turn_buffers: Cell::new(0),
        }
    }

    /// Nothing of it is in the kernel's hands any more.
    pub fn idle(&self) -> bool {
        !self.recv_armed.get() && !self.sending.get()
    }
}

/// The ring's connections by slot, each slot with a generation so a late
/// completion for a reused slot is not taken for the new connection's.
#[derive(Default)]
pub struct Slots {
    conns: Vec<Option<Rc<RingConn>>>,
    generations: Vec<u32>,
    free: Vec<u32>,
}

impl Slots {
    /// A free slot and its generation.
    pub fn reserve(&mut self) -> (u32, u32) {
        match self.free.pop() {
            Some(slot) => {
                let g = &mut self.generations[slot as usize];
                *g = g.wrapping_add(1) & 0xff_ffff;
                (slot, *g)
            }
            None => {
                self.conns.push(None);
                self.generations.push(0);
                ((self.conns.len() - 1) as u32, 0)
            }
        }
    }

    pub fn put(&mut self, slot: u32, conn: Rc<RingConn>) {
        if let Some(s) = self.conns.get_mut(slot as usize) {
            *s = Some(conn);
        }
    }

    /// The connection in `slot` if it is still of `generation`.
    pub fn get(&self, slot: u32, generation: u32) -> Option<Rc<RingConn>> {
        let c = self.conns.get(slot as usize)?.as_ref()?;
        (c.generation == generation).then(|| c.clone())
    }

    /// The connection in `slot`, whatever its generation.
    pub fn any(&self, slot: u32) -> Option<Rc<RingConn>> {
        self.conns.get(slot as usize)?.clone()
    }

    pub fn remove(&mut self, slot: u32) -> Option<Rc<RingConn>> {
        let c = self.conns.get_mut(slot as usize)?.take()?;
        self.free.push(slot);
        // Sized for the most clients ever connected otherwise.
        if self.conns.len() > 1024 && self.free.len() * 4 > self.conns.len() * 3 {
            self.compact();
        }
        Some(c)
    }

    /// Drops trailing free slots.
    fn compact(&mut self) {
        while self.conns.last().is_some_and(Option::is_none) {
            self.conns.pop();
        }
        // Only cancellations can complete after a slot is freed, and their
        // completions are ignored, so generations may start over.
        self.generations.truncate(self.conns.len());
        let len = self.conns.len() as u32;
        self.free.retain(|s| *s < len);
        self.conns.shrink_to_fit();
        self.free.shrink_to_fit();
    }
}
