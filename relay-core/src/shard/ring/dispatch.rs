//! The shard ring's turn: the clients marked dirty get their sends
//! started (or their pause ended, or their end handled), receives are
//! armed, one `io_uring_enter` submits and runs completions, and each
//! completion is handled: received bytes go through the client's session,
//! a send's progress moves its queue along.

use std::rc::Rc;
use std::time::Instant;

use ring::cqueue;

use super::conn::RingConn;
use super::ops::{self, Op};
use super::Ring;
use crate::proto::session::Flow;
use crate::shard::client::CloseReason;
use crate::shard::conn::ToShard;
use crate::shard::state::Shard;

/// Rounds of submit-and-reap per wake-up while each round makes more
/// work (packets forwarded to clients whose sends can start at once);
/// what is left then waits for the next turn, after the shard's other
/// tasks had theirs.
const ROUNDS: usize = 8;

impl Ring {
    /// The dispatcher task: runs until the process exits.
    pub async fn run(self: Rc<Self>, shard: Rc<Shard>) {
        loop {
            tokio::select! {
                _ = self.dirty.wake.notified() => {}
                ready = self.eventfd.readable() => {
                    if let Ok(mut guard) = ready {
                        let mut count = [0u8; 8];
                        // SAFETY: reads 8 bytes into `count` from the
                        // eventfd the ring owns; EAGAIN is fine.
                        unsafe {
                            libc::read(
                                std::os::fd::AsRawFd::as_raw_fd(guard.get_inner()),
                                count.as_mut_ptr().cast(),
                                count.len(),
                            )
                        };
                        guard.clear_ready();
                    }
                }
            }
            self.turn(&shard);
        }
    }

    fn turn(&self, shard: &Shard) {
        let m = &shard.metrics.shard;
        self.turn.set(self.turn.get() + 1);
        let later = std::mem::take(&mut *self.later.borrow_mut());
        self.rearm.borrow_mut().extend(later);
        for _ in 0..ROUNDS {
            for slot in self.dirty.take() {
                self.service(slot, shard);
            }
            for slot in std::mem::take(&mut *self.rearm.borrow_mut()) {
                self.arm(slot, shard, false);
            }
            for slot in std::mem::take(&mut *self.starved.borrow_mut()) {
                self.arm(slot, shard, true);
            }
            m.ring_enters.inc();
            if let Err(e) = self.enter() {
                tracing::debug!("shard ring enter: {e}");
            }
            let done: Vec<(u64, i32, u32)> = self
                .uring
                .borrow_mut()
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags()))
                .collect();
            m.ring_completions.add(done.len() as u64);
            for (user_data, res, flags) in &done {
                self.complete(*user_data, *res, *flags, shard);
            }
            self.bufs.borrow().publish();
            if done.is_empty()
                && !self.dirty.due.get()
                && self.rearm.borrow().is_empty()
                && !self.work_pending()
            {
                return;
            }
        }
        // Work left for the next turn, after the shard's other tasks.
        if self.work_pending() || !self.rearm.borrow().is_empty() {
            self.dirty.wake.notify_one();
        }
    }

    /// Counts a receive buffer against the client's share of this turn;
    /// at the cap, its receive is cancelled and armed again next turn.
    fn take_turn_share(&self, slot: u32, conn: &Rc<RingConn>, more: bool, shard: &Shard) {
        let turn = self.turn.get();
        if conn.turn.replace(turn) != turn {
            conn.turn_buffers.set(0);
        }
        let taken = conn.turn_buffers.get() + 1;
        conn.turn_buffers.set(taken);
        if taken >= super::BUFFERS_PER_TURN
            && more
            && !conn.paused.get()
            && !conn.client.is_closed()
        {
            let entry = self.cancel_entry(slot, conn);
            self.push(entry, &shard.metrics.shard);
            self.later.borrow_mut().push(slot);
            if !self.dirty.due.get() {
                self.dirty.wake.notify_one();
            }
        }
    }

    /// Submits what is queued and runs the deferred completions.
    fn enter(&self) -> std::io::Result<usize> {
        let mut uring = self.uring.borrow_mut();
        let pending = {
            let mut sq = uring.submission();
            sq.sync();
            sq.len() as u32
        };
        const GETEVENTS: u32 = 1;
        // SAFETY: submits entries already in the queue (their buffers are
        // kept, see `Ring::push`); no argument is passed.
        unsafe {
            uring
                .submitter()
                .enter::<libc::sigset_t>(pending, 0, GETEVENTS, None)
        }
    }

    /// The kernel holds completions an enter would run (each enter runs
    /// a bounded number).
    fn work_pending(&self) -> bool {
        self.uring.borrow_mut().submission().taskrun()
    }

    /// Arms `slot`'s multishot receive (or, with `own`, a one-shot
    /// receive into its own buffer), unless it has one, is paused or is
    /// closed.
    fn arm(&self, slot: u32, shard: &Shard, own: bool) {
        let Some(conn) = self.conns.borrow().any(slot) else {
            return;
        };
        if conn.recv_armed.get() || conn.paused.get() || conn.client.is_closed() {
            return;
        }
        conn.recv_armed.set(true);
        shard.metrics.shard.ring_rearms.inc();
        let entry = if own {
            self.recv_own_entry(slot, &conn)
        } else {
            self.recv_entry(slot, &conn)
        };
        self.push(entry, &shard.metrics.shard);
    }

    /// A dirty client: its end, its pause ending, pending input, sends.
    fn service(&self, slot: u32, shard: &Shard) {
        let Some(conn) = self.conns.borrow().any(slot) else {
            return;
        };
        if conn.client.is_closed() {
            self.maybe_finish(slot, &conn, shard);
            return;
        }
        if conn.resume.replace(false) {
            conn.paused.set(false);
            conn.fresh.set(true);
            self.rearm.borrow_mut().push(slot);
        }
        if conn.fresh.replace(false) && !conn.paused.get() {
            self.feed(slot, &conn, None, shard);
        }
        self.start_send(slot, &conn, shard);
    }

    /// Sends the client's queue if no send is in flight.
    fn start_send(&self, slot: u32, conn: &RingConn, shard: &Shard) {
        if conn.sending.get() || conn.client.is_closed() {
            return;
        }
        if conn.outgoing.borrow().is_empty() {
            let m = &shard.metrics;
            let taken = conn.client.take_queued();
            if taken.bytes.is_empty() && taken.urgent.is_empty() {
                conn.client.written(taken.bytes);
                conn.client.written(taken.urgent);
                return;
            }
            m.shard.queued_packets.sub(taken.packets as u64);
            m.write_frames.observe(taken.frames as u64);
            if let Some(waited) = conn.client.queue_wait() {
                m.queue_wait.observe(waited.as_micros() as u64);
            }
            conn.packets_out.set(taken.packets as u64);
            let mut out = conn.outgoing.borrow_mut();
            // Pongs go first, in their own send.
            for buf in [taken.urgent, taken.bytes] {
                if buf.is_empty() {
                    conn.client.written(buf);
                } else {
                    out.push_back(buf);
                }
            }
            conn.sent.set(0);
        }
        if let Some(entry) = self.send_entry(slot, conn) {
            conn.sending.set(true);
            conn.client.write_progress.set(Some(Instant::now()));
            self.push(entry, &shard.metrics.shard);
        }
    }

    fn complete(&self, user_data: u64, res: i32, flags: u32, shard: &Shard) {
        let Some((slot, generation, op)) = ops::decode(user_data) else {
            return;
        };
        if op == Op::Cancel {
            return;
        }
        let Some(conn) = self.conns.borrow().get(slot, generation) else {
            return;
        };
        match op {
            Op::Recv => self.received(slot, &conn, res, flags, shard),
            Op::RecvOwn => self.received_own(slot, &conn, res, shard),
            Op::Send => self.sent(slot, &conn, res, shard),
            Op::Cancel => {}
        }
    }

    fn received(&self, slot: u32, conn: &Rc<RingConn>, res: i32, flags: u32, shard: &Shard) {
        let more = cqueue::more(flags);
        if !more {
            conn.recv_armed.set(false);
        }
        let client = &conn.client;
        match res {
            n if n > 0 => {
                self.received.set(self.received.get() + 1);
                if let Some(bid) = cqueue::buffer_select(flags) {
                    let mut bufs = self.bufs.borrow_mut();
                    let data = bufs.buf(bid, n as usize);
                    self.feed(slot, conn, Some(data), shard);
                    bufs.push(bid);
                }
                self.take_turn_share(slot, conn, more, shard);
                if !more && !client.is_closed() {
                    self.rearm.borrow_mut().push(slot);
                }
            }
            0 => {
                client.close(CloseReason::Disconnected, &shard.metrics);
            }
            e if e == -libc::ENOBUFS => {
                shard.metrics.shard.ring_enobufs.inc();
                self.starved.borrow_mut().push(slot);
            }
            // Cancelled for a pause (armed again when it ends) or for the
            // per-turn cap (armed again next turn).
            e if e == -libc::ECANCELED => {
                if !more && !conn.paused.get() && !client.is_closed() {
                    self.later.borrow_mut().push(slot);
                    self.dirty.wake.notify_one();
                }
            }
            _ => {
                client.close(CloseReason::Disconnected, &shard.metrics);
            }
        }
        if client.is_closed() {
            self.maybe_finish(slot, conn, shard);
        }
    }

    /// A one-shot receive into the client's own buffer completed.
    fn received_own(&self, slot: u32, conn: &Rc<RingConn>, res: i32, shard: &Shard) {
        conn.recv_armed.set(false);
        let mut own = conn.own.take();
        let client = &conn.client;
        match usize::try_from(res) {
            Ok(0) => {
                client.close(CloseReason::Disconnected, &shard.metrics);
            }
            Ok(n) => {
                // SAFETY: the kernel wrote `n` bytes (at most the capacity
                // the receive was given) at the start of `own`.
                unsafe { own.set_len(n.min(own.capacity())) };
                self.feed(slot, conn, Some(&mut own), shard);
                if !client.is_closed() {
                    self.rearm.borrow_mut().push(slot);
                }
            }
            Err(_) if res == -libc::ECANCELED => {}
            Err(_) => {
                client.close(CloseReason::Disconnected, &shard.metrics);
            }
        }
        if client.is_closed() {
            self.maybe_finish(slot, conn, shard);
        }
    }

    fn sent(&self, slot: u32, conn: &Rc<RingConn>, res: i32, shard: &Shard) {
        conn.sending.set(false);
        let client = &conn.client;
        if res < 0 {
            tracing::debug!("write failed: {}", std::io::Error::from_raw_os_error(-res));
            self.drop_outgoing(conn, shard);
            client.close(CloseReason::Disconnected, &shard.metrics);
            self.maybe_finish(slot, conn, shard);
            return;
        }
        let sent = conn.sent.get() + res as usize;
        let finished = {
            let mut out = conn.outgoing.borrow_mut();
            match out.front() {
                Some(front) if sent >= front.len() => out.pop_front(),
                _ => None,
            }
        };
        match finished {
            Some(buf) => {
                conn.sent.set(0);
                client.written(buf);
            }
            None => conn.sent.set(sent),
        }
        if client.is_closed() {
            self.drop_outgoing(conn, shard);
            self.maybe_finish(slot, conn, shard);
            return;
        }
        if conn.outgoing.borrow().is_empty() {
            client.write_progress.set(None);
            conn.packets_out.set(0);
        }
        self.start_send(slot, conn, shard);
    }

    /// Gives back buffers a failed or abandoned send still held.
    fn drop_outgoing(&self, conn: &RingConn, shard: &Shard) {
        let lost = conn.packets_out.replace(0);
        shard
            .metrics
            .family(conn.client.family)
            .dropped_on_close
            .add(lost);
        for buf in conn.outgoing.borrow_mut().drain(..) {
            conn.client.written(buf);
        }
        conn.sent.set(0);
        conn.client.write_progress.set(None);
    }

    /// Hands received bytes (or, with `None`, what is pending) to the
    /// client's session.
    fn feed(&self, slot: u32, conn: &Rc<RingConn>, data: Option<&mut [u8]>, shard: &Shard) {
        let client = &conn.client;
        if client.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut pending = conn.pending.borrow_mut();
        if conn.paused.get() {
            // What arrived between the pause and the cancellation waits.
            if let Some(d) = data {
                pending.extend_from_slice(d);
            }
            return;
        }
        let mut out = ToShard::new(shard, client);
        let mut session = client.session.borrow_mut();
        if data.is_some() {
            session.heard(now);
        }
        let result = match data {
            Some(d) if pending.is_empty() => {
                let (res, used) = session.handle_slice(now, d, &mut out);
                if res.is_ok() {
                    pending.extend_from_slice(d.get(used..).unwrap_or_default());
                }
                res
            }
            Some(d) => {
                pending.extend_from_slice(d);
                session.handle_input(now, &mut pending, &mut out)
            }
            None => session.handle_input(now, &mut pending, &mut out),
        };
        drop(session);
        match result {
            Ok(Flow::Read(_)) => {}
            Ok(Flow::Paused(until)) => self.pause(slot, conn, until, shard),
            Ok(Flow::Closed) => {
                client.close(CloseReason::Disconnected, &shard.metrics);
            }
            Err(e) => {
                tracing::debug!(client = %crate::proto::key::short_hex(&client.key), "closing: {e}");
                if client.close(CloseReason::ProtocolError, &shard.metrics) {
                    shard.fm(client.family).protocol_errors.inc();
                }
            }
        }
    }

    /// Stops reading until `until` (the receive limit's debt is paid).
    fn pause(&self, slot: u32, conn: &Rc<RingConn>, until: Instant, shard: &Shard) {
        if conn.paused.replace(true) {
            return;
        }
        if conn.recv_armed.get() {
            let entry = self.cancel_entry(slot, conn);
            self.push(entry, &shard.metrics.shard);
        }
        let dirty = self.dirty.clone();
        let resume = conn.clone();
        super::super::io::spawn(async move {
            tokio::time::sleep_until(until.into()).await;
            resume.resume.set(true);
            dirty.mark(slot);
        });
    }

    /// Unregisters a closed client once the kernel holds nothing of it.
    fn maybe_finish(&self, slot: u32, conn: &Rc<RingConn>, shard: &Shard) {
        if !conn.idle() {
            return;
        }
        let removed = self.conns.borrow_mut().remove(slot);
        if let Some(conn) = removed {
            self.drop_outgoing(&conn, shard);
            shard.unregister(&conn.client);
        }
    }
}
