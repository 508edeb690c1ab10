//! Accepting connections: the HTTP exchange, the ClientInfo handshake and
//! access check, then registration on the key's owner shard.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use tokio_uring::buf::BoundedBuf;
use tokio_uring::net::{TcpListener, TcpStream};

use super::state::Shard;
use crate::access::Decision;
use crate::http::{self, Outcome};
use crate::logging::Throttle;
use crate::proto::client_info::{self, ClientInfo};
use crate::proto::reader::{FrameReader, Step};
use crate::proto::{Frame, FrameType, Transport};
use crate::ratelimit::TokenBucket;
use crate::router::{Adopt, ShardMsg};

/// Time allowed for each request head to arrive.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed after the upgrade for ClientInfo (as the reference).
pub const CLIENT_INFO_TIMEOUT: Duration = Duration::from_secs(10);
/// A real ClientInfo is 106 bytes; refusing far larger first frames keeps
/// unauthenticated connections from pinning large buffers.
const MAX_CLIENT_INFO: usize = 4096;

/// First pause after a failed accept; doubles up to [`ACCEPT_BACKOFF_MAX`].
const ACCEPT_BACKOFF: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_millis(250);
/// Accept failures are logged once, then summarised this often.
static ACCEPT_WARNINGS: Throttle = Throttle::new(Duration::from_secs(10));

pub async fn accept_loop(shard: Rc<Shard>, listener: TcpListener) {
    let mut limiter: Option<(TokenBucket, (f64, f64))> = None;
    let mut backoff = ACCEPT_BACKOFF;
    loop {
        // accept_conn_limit: pause accepting (the backlog holds the rest).
        let limit = shard.policy.borrow().accept_limit;
        match (limit, limiter.as_mut()) {
            (None, _) => limiter = None,
            (Some(l), Some((_, cur))) if *cur == l => {}
            (Some(l), _) => {
                let n = shard.router.shards() as f64;
                limiter = Some((
                    TokenBucket::new(l.0 / n, (l.1 / n).max(1.0), Instant::now()),
                    l,
                ));
            }
        }
        if let Some((bucket, _)) = limiter.as_mut() {
            while let Err(wait) = bucket.take(1.0, Instant::now()) {
                tokio::time::sleep(wait).await;
            }
        }
        match listener.accept().await {
            Ok((stream, _peer)) => {
                if shard.shutting_down.get() {
                    return;
                }
                backoff = ACCEPT_BACKOFF;
                tokio_uring::spawn(handle(shard.clone(), stream));
            }
            Err(e) => {
                if shard.shutting_down.get() {
                    return;
                }
                // Out of descriptors (or another error): the connection
                // waits in the backlog; existing clients keep being served
                // and accepting resumes once descriptors are freed.
                let m = &shard.metrics;
                match e.raw_os_error() {
                    Some(libc::EMFILE) => m.accept_emfile.inc(),
                    Some(libc::ENFILE) => m.accept_enfile.inc(),
                    _ => m.accept_other.inc(),
                }
                ACCEPT_WARNINGS.hit(|more| {
                    tracing::warn!(
                        "accept failed: {e}; backing off (and {more} more failures in the last 10 s; \
                         see uring_relay_accept_errors_total)"
                    )
                });
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }
}

/// Why a connection ended before registration (logged at debug level).
#[derive(Debug, thiserror::Error)]
enum Early {
    #[error("closed by peer")]
    Closed,
    #[error("timed out")]
    TimedOut,
    #[error("HTTP exchange ended without upgrade")]
    Http,
    #[error("handshake failed: {0}")]
    Handshake(String),
    #[error("access denied")]
    Denied,
}

async fn handle(shard: Rc<Shard>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let result = handshake(&shard, &stream).await;
    match result {
        Ok((info, transport, leftover, reader)) => {
            hand_over(&shard, stream, info, transport, leftover, reader)
        }
        Err(e) => {
            if !matches!(e, Early::Http | Early::Closed) {
                shard.metrics.handshake_failures.inc();
            }
            tracing::debug!(
                shard = shard.id,
                "connection ended before registration: {e}"
            );
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

type Handshaken = (ClientInfo, Transport, Vec<u8>, FrameReader);

async fn handshake(shard: &Shard, stream: &TcpStream) -> Result<Handshaken, Early> {
    let mut buf = Vec::with_capacity(1024);
    let transport = http_exchange(stream, &mut buf).await?;
    match transport {
        Transport::Derp => shard.metrics.relay_accepts.inc(),
        Transport::Websocket => shard.metrics.websocket_accepts.inc(),
    }
    let deadline = Instant::now() + CLIENT_INFO_TIMEOUT;
    let mut reader = FrameReader::server(transport);
    let info = loop {
        let step = reader
            .next_with(&mut buf, client_info_of)
            .map_err(|e| Early::Handshake(e.to_string()))?;
        match step {
            Step::Frame { out, consumed } => {
                let info = out?;
                buf.drain(..consumed);
                break info;
            }
            Step::Skip { consumed } => {
                buf.drain(..consumed);
            }
            Step::Close => return Err(Early::Closed),
            Step::Need(n) if n > MAX_CLIENT_INFO => {
                return Err(Early::Handshake(format!("first frame of {n} bytes")));
            }
            Step::Need(n) => {
                buf = read_more(stream, buf, n, deadline).await?;
            }
        }
    };
    // Order as the reference: signature (done), access, then version.
    let policy = shard.policy.borrow().clone();
    let decision = match policy.access.decide_local(&info.key) {
        Some(d) => d,
        None => super::callout::ask(&policy.access, &info.key).await,
    };
    if decision == Decision::Deny {
        shard.metrics.access_denied.inc();
        let mut out = Vec::new();
        transport.encode(&mut out, &Frame::Health("not authenticated"));
        let _ = write_by(stream, out, Instant::now() + Duration::from_secs(2)).await;
        return Err(Early::Denied);
    }
    client_info::check_version(&info).map_err(|e| Early::Handshake(e.to_string()))?;
    Ok((info, transport, buf, reader))
}

fn client_info_of(ty: u8, payload: &[u8]) -> Result<ClientInfo, Early> {
    if ty != FrameType::ClientInfo as u8 {
        return Err(Early::Handshake(format!("first frame has type {ty}")));
    }
    client_info::verify(payload).map_err(|e| Early::Handshake(e.to_string()))
}

/// Serves plain requests until one upgrades; leaves any bytes after the
/// upgrade request in `buf` (pipelined frames are accepted).
async fn http_exchange(stream: &TcpStream, buf: &mut Vec<u8>) -> Result<Transport, Early> {
    let mut deadline = Instant::now() + HEAD_TIMEOUT;
    loop {
        match http::handle(buf, SystemTime::now()) {
            Outcome::Partial => {
                let want = buf.len() + 1;
                *buf = read_more(stream, std::mem::take(buf), want, deadline).await?;
            }
            Outcome::Reply {
                reply,
                consumed,
                close,
            } => {
                write_by(stream, reply, Instant::now() + HEAD_TIMEOUT).await?;
                buf.drain(..consumed.min(buf.len()));
                if close {
                    return Err(Early::Http);
                }
                deadline = Instant::now() + HEAD_TIMEOUT;
            }
            Outcome::Upgrade {
                reply,
                consumed,
                transport,
            } => {
                write_by(stream, reply, Instant::now() + HEAD_TIMEOUT).await?;
                buf.drain(..consumed);
                return Ok(transport);
            }
        }
    }
}

/// Reads more bytes (buffer grown towards `want`) before `deadline`. On
/// timeout the socket is shut down, which also completes the read that
/// is still in flight.
async fn read_more(
    stream: &TcpStream,
    mut buf: Vec<u8>,
    want: usize,
    deadline: Instant,
) -> Result<Vec<u8>, Early> {
    let target = want.max(buf.len() + 1024);
    if buf.capacity() < target {
        buf.reserve_exact(target - buf.len());
    }
    let len = buf.len();
    match tokio::time::timeout_at(deadline.into(), stream.read(buf.slice(len..))).await {
        Ok((Ok(0), _)) | Ok((Err(_), _)) => Err(Early::Closed),
        Ok((Ok(_), slice)) => Ok(slice.into_inner()),
        Err(_) => {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            Err(Early::TimedOut)
        }
    }
}

async fn write_by(stream: &TcpStream, bytes: Vec<u8>, deadline: Instant) -> Result<(), Early> {
    match tokio::time::timeout_at(deadline.into(), stream.write_all(bytes)).await {
        Ok((Ok(()), _)) => Ok(()),
        Ok((Err(_), _)) => Err(Early::Closed),
        Err(_) => {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            Err(Early::TimedOut)
        }
    }
}

/// Failed hand-overs (out of descriptors) are logged once per 10 s.
static HANDOVER_WARNINGS: Throttle = Throttle::new(Duration::from_secs(10));

/// Registers here if this shard owns the key, else passes the socket (a
/// duplicate of its fd) and the unread bytes to the owner.
fn hand_over(
    shard: &Rc<Shard>,
    stream: TcpStream,
    info: ClientInfo,
    transport: Transport,
    leftover: Vec<u8>,
    reader: FrameReader,
) {
    let owner = shard.router.owner(&info.key);
    if owner == shard.id {
        shard.register(stream, info.key, transport, leftover, reader);
        return;
    }
    // SAFETY: the fd is open for as long as `stream` lives, which is past
    // the duplication below.
    let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
    let owned = match fd.try_clone_to_owned() {
        Ok(fd) => fd,
        Err(e) => {
            HANDOVER_WARNINGS.hit(|more| {
                tracing::warn!("cannot hand a connection to shard {owner}: {e} (and {more} more in the last 10 s)")
            });
            return;
        }
    };
    drop(stream);
    let adopt = Adopt {
        fd: owned,
        key: info.key,
        transport,
        leftover,
        ws: reader.into_ws(),
    };
    if !shard.router.send(owner, ShardMsg::Adopt(Box::new(adopt))) {
        tracing::warn!("shard {owner} is gone; dropping connection");
    }
}

/// Takes over a connection handed over by another shard.
pub fn adopt(shard: &Rc<Shard>, a: Adopt) {
    let std_stream = std::net::TcpStream::from(a.fd);
    let stream = TcpStream::from_std(std_stream);
    let reader = match a.ws {
        Some(ws) => FrameReader::from_ws(ws),
        None => FrameReader::server(a.transport),
    };
    shard.register(stream, a.key, a.transport, a.leftover, reader);
}
