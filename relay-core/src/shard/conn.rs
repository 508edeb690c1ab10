//! A registered client's two tasks: the reader (parse frames, forward) and
//! the writer (drain the whole queue into one write).

use std::rc::Rc;
use std::time::Instant;

use super::client::{Client, CloseReason};
use super::state::Shard;
use crate::metrics::FamilyCounters;
use crate::proto::key::NodeKey;
use crate::proto::session::{Flow, Note, Relay, RelayError};
use crate::proto::{Datagram, ServerFrame};
use crate::router::RecordKind;

/// Read buffer of an idle connection; grows under load (within the
/// shard's [`crate::budget::ReadShare`]), shrinks back.
pub const SMALL_BUF: usize = 2048;
/// What a reader takes straight from a busy socket before it waits on the
/// backend again (and lets the shard's other tasks run): at most this many
/// reads and bytes.
const DRAIN_READS: u32 = 16;
const DRAIN_BYTES: usize = 4 * crate::budget::MAX_READ;
/// Consecutive small reads after which a grown read buffer is shrunk.
const SHRINK_AFTER: u32 = 8;

/// Runs a registered client until it disconnects or is closed.
pub async fn run(shard: Rc<Shard>, client: Rc<Client>, leftover: Vec<u8>) {
    super::io::spawn(write_loop(shard.clone(), client.clone()));
    let reason = read_loop(&shard, &client, leftover).await;
    if client.close(reason, &shard.metrics) && reason == CloseReason::ProtocolError {
        shard.fm(client.family).protocol_errors.inc();
    }
    shard.unregister(&client);
}

async fn read_loop(shard: &Shard, client: &Client, mut buf: Vec<u8>) -> CloseReason {
    let mut next_read = SMALL_BUF;
    let mut small_reads = 0u32;
    let mut busy = shard.reads.guard();
    // Reads and bytes since the last wait on the backend; `None` while
    // the socket is not known to hold more.
    let mut drained: Option<(u32, usize)> = None;
    loop {
        if let Some(r) = client.close_reason() {
            return r;
        }
        let need = match process(shard, client, &mut buf) {
            Ok(Flow::Read(n)) => n,
            Ok(Flow::Paused(until)) => {
                // Paused reads push back on the sender through TCP; nothing
                // is dropped.
                tokio::time::sleep_until(until.into()).await;
                continue;
            }
            // The server may have closed it (replaced, stalled): keep why.
            Ok(Flow::Closed) => return client.close_reason().unwrap_or(CloseReason::Disconnected),
            Err(e) => {
                tracing::debug!(client = %crate::proto::key::short_hex(&client.key), "closing: {e}");
                return CloseReason::ProtocolError;
            }
        };
        if let Some(r) = client.close_reason() {
            return r;
        }
        // Room for the rest of a large frame, else one read of `next_read`
        // (shrinking as more connections get busy).
        next_read = next_read.min(shard.reads.cap()).max(SMALL_BUF);
        let want = need.max(buf.len() + next_read);
        if buf.capacity() < want {
            buf.reserve_exact(want - buf.len());
        }
        let spare = buf.capacity() - buf.len();
        // A read that filled its buffer says more is waiting: take it now,
        // as epoll's readiness loop does, not one ring round trip later.
        // Under io_uring with thousands of busy sockets (small reads) that
        // round trip per read, not the copy, was the cost.
        let ready = match drained {
            Some((reads, bytes)) if reads < DRAIN_READS && bytes < DRAIN_BYTES => {
                client.stream.try_read(&mut buf)
            }
            _ => None,
        };
        let res = match ready {
            Some(res) => res,
            None => {
                drained = Some((0, 0));
                let (res, b) = client.stream.read(buf).await;
                buf = b;
                res
            }
        };
        match res {
            Ok(0) | Err(_) => return client.close_reason().unwrap_or(CloseReason::Disconnected),
            Ok(n) => {
                client.session.borrow_mut().heard(Instant::now());
                drained = drained
                    .filter(|_| n == spare)
                    .map(|(reads, bytes)| (reads + 1, bytes + n));
                if n == spare && next_read < shard.reads.cap() {
                    next_read = (next_read * 2).min(shard.reads.cap());
                    busy.set(true);
                }
                small_reads = if n < SMALL_BUF / 2 {
                    small_reads + 1
                } else {
                    0
                };
            }
        }
        // Quiet for a while: give a large buffer back, keeping any partial
        // frame. Waiting for several small reads avoids shrinking and
        // regrowing under bursty load.
        if small_reads >= SHRINK_AFTER && buf.capacity() > SMALL_BUF * 2 && buf.len() < SMALL_BUF {
            let mut small = Vec::with_capacity(SMALL_BUF);
            small.extend_from_slice(&buf);
            buf = small;
            next_read = SMALL_BUF;
            busy.set(false);
        }
    }
}

/// Hands the complete frames in `buf` to the client's session, which
/// drops the consumed bytes.
fn process(shard: &Shard, client: &Client, buf: &mut Vec<u8>) -> Result<Flow, RelayError> {
    let mut out = ToShard::new(shard, client);
    client
        .session
        .borrow_mut()
        .handle_input(Instant::now(), buf, &mut out)
}

/// What a session's frames ask of the shard: routing, the client's own
/// queue, and counters.
pub(super) struct ToShard<'a> {
    shard: &'a Shard,
    client: &'a Client,
    fm: &'a FamilyCounters,
}

impl<'a> ToShard<'a> {
    pub(super) fn new(shard: &'a Shard, client: &'a Client) -> Self {
        Self {
            shard,
            client,
            fm: shard.fm(client.family),
        }
    }
}

impl Relay for ToShard<'_> {
    fn forward(&mut self, dst: &NodeKey, datagram: &Datagram<'_>) {
        if datagram.disco {
            self.fm.disco_packets_recv.inc();
        } else {
            self.fm.send_packets_recv.inc();
        }
        self.fm.bytes_recv.add(datagram.contents.len() as u64);
        self.shard
            .route(RecordKind::Packet, dst, self.client, datagram);
    }

    fn send(&mut self, frame: &ServerFrame<'_>) -> bool {
        self.client.enqueue_frame(frame)
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.client.enqueue_raw(bytes);
    }

    fn note(&mut self, note: Note) {
        let fm = self.fm;
        match note {
            Note::Ping { answered } => {
                fm.got_ping.inc();
                if answered {
                    fm.sent_pong.inc();
                }
            }
            Note::Unforwardable => fm.dropped_unforwardable.inc(),
            Note::Ignored => fm.unknown_frames.inc(),
            Note::RateLimited { held, first } => {
                fm.frames_rx_ratelimited_total.inc();
                fm.bytes_rx_ratelimited.add(held as u64);
                if first {
                    fm.conns_rx_ratelimited_total.inc();
                }
            }
        }
    }
}

/// Writes whatever is queued in one write (Pongs first, in their own),
/// then waits for more.
async fn write_loop(shard: Rc<Shard>, client: Rc<Client>) {
    let m = &shard.metrics;
    loop {
        if client.is_closed() {
            return;
        }
        let taken = client.take_queued();
        if taken.bytes.is_empty() && taken.urgent.is_empty() {
            client.written(taken.bytes);
            client.wait_for_queued().await;
            continue;
        }
        m.shard.queued_packets.sub(taken.packets as u64);
        m.write_frames.observe(taken.frames as u64);
        if let Some(waited) = client.queue_wait() {
            m.queue_wait.observe(waited.as_micros() as u64);
        }
        let mut failed = None;
        for buf in [taken.urgent, taken.bytes] {
            if buf.is_empty() || failed.is_some() {
                client.written(buf);
                continue;
            }
            let (res, buf) = write_all(&client, buf).await;
            client.write_progress.set(None);
            client.written(buf);
            failed = res.err();
        }
        if let Some(e) = failed {
            tracing::debug!("write failed: {e}");
            m.family(client.family)
                .dropped_on_close
                .add(taken.packets as u64);
            client.close(CloseReason::Disconnected, m);
            return;
        }
    }
}

/// Writes all of `bytes`, noting the time of every partial write: a slow
/// reader keeps the write moving and stays connected; only one that takes
/// nothing for [`super::sweeper::WRITE_TIMEOUT`] is cut off.
async fn write_all(client: &Client, mut bytes: Vec<u8>) -> (std::io::Result<()>, Vec<u8>) {
    let mut pos = 0;
    while pos < bytes.len() {
        client.write_progress.set(Some(Instant::now()));
        let (res, b) = client.stream.write(bytes, pos).await;
        bytes = b;
        match res {
            Ok(0) => return (Err(std::io::ErrorKind::WriteZero.into()), bytes),
            Ok(n) => pos += n,
            Err(e) => return (Err(e), bytes),
        }
    }
    (Ok(()), bytes)
}
