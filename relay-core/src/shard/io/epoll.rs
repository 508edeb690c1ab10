//! The epoll backend: tokio's reactor on a current-thread runtime, for
//! hosts where io_uring is blocked (container seccomp profiles,
//! `kernel.io_uring_disabled`).

use std::future::Future;
use std::io::ErrorKind;

use tokio::net::TcpStream;

pub fn block_on<F, Fut>(main: F) -> std::io::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move { main().await });
    Ok(())
}

pub async fn read(s: &TcpStream, mut buf: Vec<u8>) -> (std::io::Result<usize>, Vec<u8>) {
    if buf.capacity() == buf.len() {
        buf.reserve(1);
    }
    loop {
        if let Err(e) = s.readable().await {
            return (Err(e), buf);
        }
        match s.try_read_buf(&mut buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            res => return (res, buf),
        }
    }
}

pub async fn write(s: &TcpStream, buf: Vec<u8>, from: usize) -> (std::io::Result<usize>, Vec<u8>) {
    loop {
        if let Err(e) = s.writable().await {
            return (Err(e), buf);
        }
        match s.try_write(&buf[from..]) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            res => return (res, buf),
        }
    }
}
