//! The one seam between the shards and the I/O runtime. A shard runs on
//! io_uring (tokio-uring) or on epoll (tokio's reactor); everything above
//! this module sees the same owned-buffer operations on [`Stream`] and
//! [`Listener`], so neither backend's logic is written twice.
//!
//! Both runtimes are tokio current-thread runtimes with a local task set:
//! tasks are spawned with [`spawn`] and timers are tokio's in both.

mod epoll;
mod iowq;
mod uring;

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

use crate::config::IoBackend;

/// The backend a shard runs on, once `auto` is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Uring,
    Epoll,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Uring => "io_uring",
            Backend::Epoll => "epoll",
        }
    }

    /// Resolves the operator's choice: `auto` tries to set up a ring as
    /// the shards would and falls back to epoll (with one warning) where
    /// io_uring is blocked. `uring` fails later, at shard start, with the
    /// kernel's reason.
    pub fn resolve(choice: IoBackend) -> Backend {
        match choice {
            IoBackend::Uring => Backend::Uring,
            IoBackend::Epoll => Backend::Epoll,
            IoBackend::Auto => match uring::probe() {
                Ok(()) => Backend::Uring,
                Err(e) => {
                    tracing::warn!(
                        "io_uring is unavailable ({e}); serving on epoll. \
                         Set io_backend = \"epoll\" to silence this warning"
                    );
                    Backend::Epoll
                }
            },
        }
    }

    /// Runs `main` on this thread on a fresh runtime of this backend.
    /// `main` is built inside the runtime, so it may spawn and register
    /// sockets. Fails only if the runtime cannot be created.
    pub fn block_on<F, Fut>(self, main: F) -> std::io::Result<()>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ()>,
    {
        match self {
            Backend::Uring => uring::block_on(main),
            Backend::Epoll => epoll::block_on(main),
        }
    }
}

/// Spawns a task on the current shard.
pub fn spawn<F: Future + 'static>(task: F) -> tokio::task::JoinHandle<F::Output> {
    tokio::task::spawn_local(task)
}

/// A connected TCP socket on a shard's backend.
pub enum Stream {
    Uring(tokio_uring::net::TcpStream),
    Epoll(tokio::net::TcpStream),
    /// A socket the shard ring reads and writes (`shard::ring`): the
    /// operations here are not for it.
    Ring(std::net::TcpStream),
}

impl Stream {
    /// Takes over a connected socket (one accepted elsewhere or handed
    /// over by another shard). Must be called on a shard's runtime.
    pub fn from_std(backend: Backend, s: std::net::TcpStream) -> std::io::Result<Stream> {
        Ok(match backend {
            Backend::Uring => Stream::Uring(tokio_uring::net::TcpStream::from_std(s)),
            Backend::Epoll => {
                s.set_nonblocking(true)?;
                Stream::Epoll(tokio::net::TcpStream::from_std(s)?)
            }
        })
    }

    /// Hands the socket to the shard ring: the same connection, its
    /// reads and writes from now on the ring's.
    pub fn into_ring(self) -> std::io::Result<Stream> {
        let fd = match self {
            Stream::Ring(_) => return Ok(self),
            Stream::Epoll(s) => return Ok(Stream::Ring(s.into_std()?)),
            // tokio-uring gives no descriptor up: it takes a second one.
            s @ Stream::Uring(_) => std::os::fd::AsFd::as_fd(&s).try_clone_to_owned()?,
        };
        Ok(Stream::Ring(std::net::TcpStream::from(fd)))
    }

    /// Reads once into the spare capacity of `buf` (after its length),
    /// which grows by the bytes read; `Ok(0)` is end of stream.
    pub async fn read(&self, buf: Vec<u8>) -> (std::io::Result<usize>, Vec<u8>) {
        match self {
            Stream::Uring(s) => uring::read(s, buf).await,
            Stream::Epoll(s) => epoll::read(s, buf).await,
            Stream::Ring(_) => (Err(ring_owned()), buf),
        }
    }

    /// Reads what the socket already holds into the spare capacity of
    /// `buf`, without waiting: `None` if nothing is there yet. Lets a
    /// reader drain a busy socket before it waits again.
    pub fn try_read(&self, buf: &mut Vec<u8>) -> Option<std::io::Result<usize>> {
        let res = match self {
            Stream::Uring(s) => uring::try_read(s, buf),
            Stream::Epoll(s) => s.try_read_buf(buf),
            Stream::Ring(_) => Err(ring_owned()),
        };
        match res {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
            res => Some(res),
        }
    }

    /// Writes once from `buf[from..]`; returns how much was taken.
    pub async fn write(&self, buf: Vec<u8>, from: usize) -> (std::io::Result<usize>, Vec<u8>) {
        match self {
            Stream::Uring(s) => uring::write(s, buf, from).await,
            Stream::Epoll(s) => epoll::write(s, buf, from).await,
            Stream::Ring(_) => (Err(ring_owned()), buf),
        }
    }

    /// Writes all of `buf`.
    pub async fn write_all(&self, mut buf: Vec<u8>) -> (std::io::Result<()>, Vec<u8>) {
        let mut pos = 0;
        while pos < buf.len() {
            let (res, b) = self.write(buf, pos).await;
            buf = b;
            match res {
                Ok(0) => return (Err(std::io::ErrorKind::WriteZero.into()), buf),
                Ok(n) => pos += n,
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Shuts both directions down, which also ends any read or write in
    /// flight on either backend.
    pub fn shutdown(&self) {
        let _ = socket2::SockRef::from(self).shutdown(std::net::Shutdown::Both);
    }

    pub fn set_nodelay(&self) {
        let _ = socket2::SockRef::from(self).set_nodelay(true);
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Uring(s) => s.as_raw_fd(),
            Stream::Epoll(s) => s.as_raw_fd(),
            Stream::Ring(s) => s.as_raw_fd(),
        }
    }
}

impl std::os::fd::AsFd for Stream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        // SAFETY: the descriptor is open for as long as `self` lives.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.as_raw_fd()) }
    }
}

fn ring_owned() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "the shard ring reads and writes this socket",
    )
}

/// A shard's listening socket.
pub enum Listener {
    Uring(tokio_uring::net::TcpListener),
    Epoll(tokio::net::TcpListener),
}

impl Listener {
    pub fn from_std(backend: Backend, l: std::net::TcpListener) -> std::io::Result<Listener> {
        Ok(match backend {
            Backend::Uring => Listener::Uring(tokio_uring::net::TcpListener::from_std(l)),
            Backend::Epoll => {
                l.set_nonblocking(true)?;
                Listener::Epoll(tokio::net::TcpListener::from_std(l)?)
            }
        })
    }

    pub async fn accept(&self) -> std::io::Result<(Stream, SocketAddr)> {
        match self {
            Listener::Uring(l) => l.accept().await.map(|(s, a)| (Stream::Uring(s), a)),
            Listener::Epoll(l) => l.accept().await.map(|(s, a)| (Stream::Epoll(s), a)),
        }
    }

    /// Stops the listener: a pending accept completes with an error.
    /// Called while the listener is still owned, so the descriptor cannot
    /// have been closed and reused by then.
    pub fn shutdown(&self) {
        // SAFETY: plain syscall on a descriptor `self` owns.
        unsafe { libc::shutdown(self.as_raw_fd(), libc::SHUT_RDWR) };
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Listener::Uring(l) => l.as_raw_fd(),
            Listener::Epoll(l) => l.as_raw_fd(),
        }
    }
}
