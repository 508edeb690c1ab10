//! A connection from accept to registration: its sans-IO [`Session`]
//! decides (HTTP, upgrade, handshake); this moves the bytes, bounds reads
//! by the session's deadline, checks signatures in the shard's batch, asks
//! access control, and hands the admitted client to its key's owner shard.

use std::os::fd::AsFd;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use super::io::Stream;
use super::state::Shard;
use crate::access::Decision;
use crate::logging::Throttle;
use crate::proto::session::{Session, Setup, SetupEnd, HEAD_TIMEOUT};
use crate::proto::Family;
use crate::router::{Adopt, ShardMsg};

/// A failed hand-over's final write, or a refusal's, gets this long.
const LAST_WORD: Duration = Duration::from_secs(2);
/// Failed hand-overs (out of descriptors) are logged once per 10 s.
static HANDOVER_WARNINGS: Throttle = Throttle::new(Duration::from_secs(10));

/// An admitted connection ready to register.
pub(super) struct Handshaken {
    pub session: Session,
    /// Bytes read after the handshake, not yet processed.
    pub leftover: Vec<u8>,
    /// The handshake's last word (1.x: ServerConfirmsAuth), sent once the
    /// client is registered so no packet to it can be lost in between.
    pub confirm: Option<Vec<u8>>,
}

pub(super) async fn handle(shard: Rc<Shard>, stream: Stream) {
    stream.set_nodelay();
    let mut session = Session::new(Instant::now(), rand::random(), rand::random());
    let mut buf = Vec::with_capacity(1024);
    let mut family = None;
    match drive(&shard, &stream, &mut session, &mut buf, &mut family).await {
        Ok(confirm) => hand_over(
            &shard,
            stream,
            Handshaken {
                session,
                leftover: buf,
                confirm,
            },
        ),
        Err(end) => {
            if let (Some(f), false) = (family, matches!(end, SetupEnd::Http | SetupEnd::Closed)) {
                shard.fm(f).handshake_failures.inc();
            }
            tracing::debug!(
                shard = shard.id,
                "connection ended before registration: {end}"
            );
            stream.shutdown();
        }
    }
}

/// Runs the session's setup to admission (the confirmation to send) or
/// to its end.
async fn drive(
    shard: &Shard,
    stream: &Stream,
    s: &mut Session,
    buf: &mut Vec<u8>,
    family: &mut Option<Family>,
) -> Result<Option<Vec<u8>>, SetupEnd> {
    let mut step = s.setup(Instant::now(), SystemTime::now(), buf);
    loop {
        step = match step {
            Setup::Read(want) => {
                let deadline = s
                    .poll_timeout()
                    .unwrap_or_else(|| Instant::now() + HEAD_TIMEOUT);
                match read_more(stream, std::mem::take(buf), want, deadline).await {
                    Ok(b) => *buf = b,
                    Err(end) => {
                        s.handle_timeout(Instant::now());
                        return Err(end);
                    }
                }
                s.setup(Instant::now(), SystemTime::now(), buf)
            }
            Setup::Write(reply) => {
                write_by(stream, reply, Instant::now() + HEAD_TIMEOUT).await?;
                s.setup(Instant::now(), SystemTime::now(), buf)
            }
            Setup::Upgrade { reply, dialect } => {
                *family = Some(dialect.family());
                let fm = shard.fm(dialect.family());
                if dialect.is_websocket() {
                    fm.websocket_accepts.inc();
                } else {
                    fm.relay_accepts.inc();
                }
                let deadline = s
                    .poll_timeout()
                    .unwrap_or_else(|| Instant::now() + HEAD_TIMEOUT);
                write_by(stream, reply, deadline).await?;
                s.setup(Instant::now(), SystemTime::now(), buf)
            }
            Setup::Verify(sig) => {
                let valid = shard.sigs.verify(*sig).await;
                s.signature(valid)
            }
            Setup::Authorize => {
                let allowed = authorize(shard, s).await;
                if !allowed {
                    if let Some(f) = *family {
                        shard.fm(f).access_denied.inc();
                    }
                }
                s.access(Instant::now(), allowed)
            }
            Setup::Admitted { confirm } => return Ok(confirm),
            Setup::Close { reply, end } => {
                if let Some(reply) = reply {
                    let _ = write_by(stream, reply, Instant::now() + LAST_WORD).await;
                }
                return Err(end);
            }
        }
    }
}

/// Access control's answer for the session's key and token; the order is
/// the references': signature (checked), access, then the rest.
async fn authorize(shard: &Shard, s: &Session) -> bool {
    let Some(key) = s.key().copied() else {
        return false;
    };
    let policy = shard.policy.borrow().clone();
    let decision = match policy.access.decide_local(&key, s.token()) {
        Some(d) => d,
        None => super::callout::ask(&policy.access, &key).await,
    };
    decision == Decision::Allow
}

/// Reads more bytes (buffer grown towards `want`) before `deadline`. On
/// timeout the socket is shut down, which also completes the read that
/// is still in flight.
async fn read_more(
    stream: &Stream,
    mut buf: Vec<u8>,
    want: usize,
    deadline: Instant,
) -> Result<Vec<u8>, SetupEnd> {
    let target = want.max(buf.len() + 1024);
    if buf.capacity() < target {
        buf.reserve_exact(target - buf.len());
    }
    match tokio::time::timeout_at(deadline.into(), stream.read(buf)).await {
        Ok((Ok(0), _)) | Ok((Err(_), _)) => Err(SetupEnd::Closed),
        Ok((Ok(_), buf)) => Ok(buf),
        Err(_) => {
            stream.shutdown();
            Err(SetupEnd::TimedOut)
        }
    }
}

async fn write_by(stream: &Stream, bytes: Vec<u8>, deadline: Instant) -> Result<(), SetupEnd> {
    match tokio::time::timeout_at(deadline.into(), stream.write_all(bytes)).await {
        Ok((Ok(()), _)) => Ok(()),
        Ok((Err(_), _)) => Err(SetupEnd::Closed),
        Err(_) => {
            stream.shutdown();
            Err(SetupEnd::TimedOut)
        }
    }
}

/// Registers here if this shard owns the key, else passes the socket (a
/// duplicate of its fd), the session and the unread bytes to the owner.
fn hand_over(shard: &Rc<Shard>, stream: Stream, h: Handshaken) {
    let Some(key) = h.session.key().copied() else {
        stream.shutdown();
        return;
    };
    let owner = shard.router.owner(&key);
    if owner == shard.id {
        shard.register(stream, h);
        return;
    }
    let fd = match stream.as_fd().try_clone_to_owned() {
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
        fd,
        session: h.session,
        leftover: h.leftover,
        confirm: h.confirm,
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
    let h = Handshaken {
        session: a.session,
        leftover: a.leftover,
        confirm: a.confirm,
    };
    shard.register(stream, h);
}
