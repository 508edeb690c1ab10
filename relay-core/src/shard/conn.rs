//! A registered client's two tasks: the reader (parse frames, forward) and
//! the writer (drain the whole queue into one write).

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::client::{Client, CloseReason};
use super::state::Shard;
use crate::proto::dialect::ProtocolError;
use crate::proto::reader::{FrameReader, ReadError, Step};
use crate::proto::{Dialect, Event, Family, ServerFrame, Status};
use crate::ratelimit::frame_cost;
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

#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("destination key is not a valid ed25519 point")]
    InvalidKey,
}

enum Flow {
    Need(usize),
    /// Over the receive limit: stop reading for this long.
    Wait(Duration),
    Close,
}

/// Runs a registered client until it disconnects or is closed.
pub async fn run(shard: Rc<Shard>, client: Rc<Client>, leftover: Vec<u8>, mut reader: FrameReader) {
    super::io::spawn(write_loop(shard.clone(), client.clone()));
    let reason = read_loop(&shard, &client, leftover, &mut reader).await;
    if client.close(reason, &shard.metrics) && reason == CloseReason::ProtocolError {
        shard.fm(client.family).protocol_errors.inc();
    }
    shard.unregister(&client);
}

async fn read_loop(
    shard: &Shard,
    client: &Client,
    mut buf: Vec<u8>,
    reader: &mut FrameReader,
) -> CloseReason {
    let mut next_read = SMALL_BUF;
    let mut small_reads = 0u32;
    let mut busy = shard.reads.guard();
    // Reads and bytes since the last wait on the backend; `None` while
    // the socket is not known to hold more.
    let mut drained: Option<(u32, usize)> = None;
    loop {
        let need = match process(shard, client, &mut buf, reader) {
            Ok(Flow::Need(n)) => n,
            Ok(Flow::Wait(d)) => {
                // Paused reads push back on the sender through TCP; nothing
                // is dropped.
                tokio::time::sleep(d).await;
                continue;
            }
            // The server may have closed it (replaced, stalled): keep why.
            Ok(Flow::Close) => return client.close_reason().unwrap_or(CloseReason::Disconnected),
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
                client.last_recv.set(Instant::now());
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

/// Handles every complete frame in `buf`, then drops the consumed bytes.
fn process(
    shard: &Shard,
    client: &Client,
    buf: &mut Vec<u8>,
    reader: &mut FrameReader,
) -> Result<Flow, ConnError> {
    let mut pos = 0;
    let dialect = client.dialect();
    // 0.35 charges a frame's payload plus 5 (as its reference); 1.x the
    // raw bytes read, websocket headers and masks included (as 1.4.1).
    let raw_cost = client.family == Family::V1x;
    let flow = loop {
        if client.is_closed() {
            break Flow::Close;
        }
        if let Some(wait) = rate_wait(shard, client, buf.len() - pos) {
            break Flow::Wait(wait);
        }
        let step = reader.next_with(&mut buf[pos..], |ty, payload| {
            handle_frame(shard, client, dialect, ty, payload).map(|()| {
                if !raw_cost {
                    charge(client, frame_cost(payload.len()));
                }
            })
        })?;
        let consumed = match step {
            Step::Frame { out, consumed } => {
                out?;
                consumed
            }
            Step::Skip { consumed } => consumed,
            Step::Reply { bytes, consumed } => {
                client.enqueue_raw(&bytes);
                consumed
            }
            Step::Close => break Flow::Close,
            Step::Need(n) => break Flow::Need(n),
        };
        if raw_cost {
            charge(client, consumed as f64);
        }
        pos += consumed;
    };
    buf.drain(..pos);
    Ok(flow)
}

/// If the client is over its receive limit, how long to pause; `held`
/// bytes already read wait with it.
fn rate_wait(shard: &Shard, client: &Client, held: usize) -> Option<Duration> {
    let wait = client
        .rx_bucket
        .borrow_mut()
        .as_mut()?
        .wait(Instant::now())?;
    let fm = shard.fm(client.family);
    fm.frames_rx_ratelimited_total.inc();
    fm.bytes_rx_ratelimited.add(held as u64);
    if !client.rate_limited.replace(true) {
        fm.conns_rx_ratelimited_total.inc();
        // v2 clients are told once (v1 has no such notice).
        client.enqueue_frame(&ServerFrame::Status(Status::RateLimited));
    }
    Some(wait)
}

fn charge(client: &Client, cost: f64) {
    if let Some(b) = client.rx_bucket.borrow_mut().as_mut() {
        b.charge(cost, Instant::now());
    }
}

fn handle_frame(
    shard: &Shard,
    client: &Client,
    dialect: Dialect,
    ty: u64,
    payload: &[u8],
) -> Result<(), ConnError> {
    let fm = shard.fm(client.family);
    match dialect.on_client_frame(ty, payload)? {
        Event::Forward {
            dst,
            datagram,
            disco,
        } => {
            if !client.note_destination(dst) {
                return Err(ConnError::InvalidKey);
            }
            if disco {
                fm.disco_packets_recv.inc();
            } else {
                fm.send_packets_recv.inc();
            }
            fm.bytes_recv.add(datagram.contents.len() as u64);
            shard.route(RecordKind::Packet, dst, client, &datagram);
        }
        Event::Unforwardable => fm.dropped_unforwardable.inc(),
        Event::Ping(data) => {
            fm.got_ping.inc();
            if client.enqueue_frame(&ServerFrame::Pong(data)) {
                fm.sent_pong.inc();
            }
        }
        Event::Pong(data) => {
            if client.ping_out.get().is_some_and(|(want, _)| want == data) {
                client.ping_out.set(None);
            }
        }
        Event::Ignored => fm.unknown_frames.inc(),
    }
    Ok(())
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
