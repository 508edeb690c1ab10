//! Accepting connections: the HTTP exchange, the handshake of the
//! client's family (driven through the sans-IO [`Handshake`]) and the
//! access check, then registration on the key's owner shard.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use super::io::{Listener, Stream};
use super::state::Shard;
use crate::access::Decision;
use crate::http::{self, Outcome};
use crate::logging::Throttle;
use crate::proto::handshake::{self, Handshake, Verified};
use crate::proto::reader::{FrameReader, Step};
use crate::proto::ws::MAX_MESSAGE;
use crate::proto::{Dialect, Family, Transport};
use crate::ratelimit::TokenBucket;
use crate::router::{Adopt, ShardMsg};

/// Time allowed for each request head to arrive.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed after the upgrade for the client's first frame (as the
/// 0.35 reference; 1.x clients give up after 10 s themselves).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// First pause after a failed accept; doubles up to [`ACCEPT_BACKOFF_MAX`].
const ACCEPT_BACKOFF: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_millis(250);
/// Accept failures are logged once, then summarised this often.
static ACCEPT_WARNINGS: Throttle = Throttle::new(Duration::from_secs(10));
/// Failed hand-overs (out of descriptors) are logged once per 10 s.
static HANDOVER_WARNINGS: Throttle = Throttle::new(Duration::from_secs(10));

pub async fn accept_loop(shard: Rc<Shard>, listener: Rc<Listener>) {
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
                super::io::spawn(handle(shard.clone(), stream));
            }
            Err(e) => {
                if shard.shutting_down.get() {
                    return;
                }
                // Out of descriptors (or another error): the connection
                // waits in the backlog; existing clients keep being served
                // and accepting resumes once descriptors are freed.
                let m = &shard.metrics.shard;
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

async fn handle(shard: Rc<Shard>, stream: Stream) {
    stream.set_nodelay();
    let mut family = None;
    match handshake(&shard, &stream, &mut family).await {
        Ok(done) => hand_over(&shard, stream, done),
        Err(e) => {
            if let (Some(f), false) = (family, matches!(e, Early::Http | Early::Closed)) {
                shard.fm(f).handshake_failures.inc();
            }
            tracing::debug!(
                shard = shard.id,
                "connection ended before registration: {e}"
            );
            stream.shutdown();
        }
    }
}

/// A connection ready to register.
pub(super) struct Handshaken {
    pub key: crate::proto::key::NodeKey,
    pub dialect: Dialect,
    pub leftover: Vec<u8>,
    pub reader: FrameReader,
    pub confirm: Option<Vec<u8>>,
    /// The access token presented at the upgrade: a reload of
    /// `shared_token` checks it again.
    pub token: Option<Box<str>>,
}

async fn handshake(
    shard: &Shard,
    stream: &Stream,
    family: &mut Option<Family>,
) -> Result<Handshaken, Early> {
    let mut buf = Vec::with_capacity(1024);
    let (dialect, token, mut upgraded) = http_exchange(stream, &mut buf).await?;
    *family = Some(dialect.family());
    let fm = shard.fm(dialect.family());
    match dialect {
        Dialect::V035(Transport::Derp) => fm.relay_accepts.inc(),
        _ => fm.websocket_accepts.inc(),
    }
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let hs = Handshake::new(dialect, rand::random());
    // The 101 and the server's first frame leave in one write: one
    // segment and one wakeup less per connect (clients keep the bytes that
    // follow the response head).
    if let Some(greeting) = hs.greeting() {
        upgraded.extend_from_slice(&greeting);
    }
    write_by(stream, upgraded, deadline).await?;
    let mut reader = FrameReader::server(dialect);
    // Nothing larger than a handshake is buffered before it verifies,
    // whether in one websocket frame or in fragments.
    reader.set_message_limit(handshake::MAX_FRAME);
    let checked = loop {
        let step = reader
            .next_with(&mut buf, |ty, payload| hs.decode(ty, payload))
            .map_err(|e| Early::Handshake(e.to_string()))?;
        match step {
            Step::Frame { out, consumed } => {
                buf.drain(..consumed);
                match out {
                    Ok(signed) => {
                        let valid = shard.sigs.verify(signed.sig().clone()).await;
                        break hs.checked(signed, valid);
                    }
                    Err(f) => break Err(f),
                }
            }
            // Websocket Pings are not answered before the client is known.
            Step::Skip { consumed } | Step::Reply { consumed, .. } => {
                buf.drain(..consumed);
            }
            Step::Close => return Err(Early::Closed),
            Step::Need(n) if n > handshake::MAX_FRAME => {
                return Err(Early::Handshake(format!("first frame of {n} bytes")));
            }
            Step::Need(n) => {
                buf = read_more(stream, buf, n, deadline).await?;
            }
        }
    };
    let verified: Verified = match checked {
        Ok(v) => v,
        Err(f) => {
            if let Some(reply) = f.reply {
                let _ = write_by(stream, reply, Instant::now() + Duration::from_secs(2)).await;
            }
            return Err(Early::Handshake(f.why));
        }
    };
    reader.set_message_limit(MAX_MESSAGE);
    // Order as the references: signature (done), access, then the rest.
    let policy = shard.policy.borrow().clone();
    let decision = match policy.access.decide_local(&verified.key, token.as_deref()) {
        Some(d) => d,
        None => super::callout::ask(&policy.access, &verified.key).await,
    };
    if decision == Decision::Deny {
        fm.access_denied.inc();
        let _ = write_by(stream, hs.deny(), Instant::now() + Duration::from_secs(2)).await;
        return Err(Early::Denied);
    }
    let confirm = hs.confirm(&verified).map_err(|f| Early::Handshake(f.why))?;
    Ok(Handshaken {
        key: verified.key,
        dialect,
        leftover: buf,
        reader,
        confirm,
        token: token.map(String::into_boxed_str),
    })
}

/// Serves plain requests until one upgrades; leaves any bytes after the
/// upgrade request in `buf` (pipelined frames are accepted). Returns the
/// upgrade's reply unsent, for the caller to send with its first frame.
async fn http_exchange(
    stream: &Stream,
    buf: &mut Vec<u8>,
) -> Result<(Dialect, Option<String>, Vec<u8>), Early> {
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
                dialect,
                token,
            } => {
                buf.drain(..consumed);
                return Ok((dialect, token, reply));
            }
        }
    }
}

/// Reads more bytes (buffer grown towards `want`) before `deadline`. On
/// timeout the socket is shut down, which also completes the read that
/// is still in flight.
async fn read_more(
    stream: &Stream,
    mut buf: Vec<u8>,
    want: usize,
    deadline: Instant,
) -> Result<Vec<u8>, Early> {
    let target = want.max(buf.len() + 1024);
    if buf.capacity() < target {
        buf.reserve_exact(target - buf.len());
    }
    match tokio::time::timeout_at(deadline.into(), stream.read(buf)).await {
        Ok((Ok(0), _)) | Ok((Err(_), _)) => Err(Early::Closed),
        Ok((Ok(_), buf)) => Ok(buf),
        Err(_) => {
            stream.shutdown();
            Err(Early::TimedOut)
        }
    }
}

async fn write_by(stream: &Stream, bytes: Vec<u8>, deadline: Instant) -> Result<(), Early> {
    match tokio::time::timeout_at(deadline.into(), stream.write_all(bytes)).await {
        Ok((Ok(()), _)) => Ok(()),
        Ok((Err(_), _)) => Err(Early::Closed),
        Err(_) => {
            stream.shutdown();
            Err(Early::TimedOut)
        }
    }
}

/// Registers here if this shard owns the key, else passes the socket (a
/// duplicate of its fd) and the unread bytes to the owner.
fn hand_over(shard: &Rc<Shard>, stream: Stream, h: Handshaken) {
    let owner = shard.router.owner(&h.key);
    if owner == shard.id {
        shard.register(stream, h);
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
        key: h.key,
        dialect: h.dialect,
        leftover: h.leftover,
        ws: h.reader.into_ws(),
        confirm: h.confirm,
        token: h.token,
    };
    if !shard.router.send(owner, ShardMsg::Adopt(Box::new(adopt))) {
        tracing::warn!("shard {owner} is gone; dropping connection");
    }
}

/// Takes over a connection handed over by another shard.
pub fn adopt(shard: &Rc<Shard>, a: Adopt) {
    let stream = match Stream::from_std(shard.backend, std::net::TcpStream::from(a.fd)) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!("cannot take over a handed-over connection: {e}");
            return;
        }
    };
    let reader = match a.ws {
        Some(ws) => FrameReader::from_ws(ws, a.dialect.type_coding()),
        None => FrameReader::server(a.dialect),
    };
    let h = Handshaken {
        key: a.key,
        dialect: a.dialect,
        leftover: a.leftover,
        reader,
        confirm: a.confirm,
        token: a.token,
    };
    shard.register(stream, h);
}
