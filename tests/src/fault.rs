//! Misbehaving clients on raw loopback TCP sockets, and the relay's open
//! descriptors, for the fault tests: churn, slowloris, a receiver that
//! never reads, garbage after the handshake, and clients that vanish
//! without a FIN.

use std::{net::SocketAddr, time::Duration};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use iroh_base::NodeId;
use tokio::{
    io::AsyncWriteExt,
    net::TcpStream,
    sync::watch,
    time::{timeout, Instant},
};

use crate::{client::TestClient, http, raw::RawRelay, wire};

/// Open file descriptors of process `pid` (/proc/PID/fd).
pub fn fd_count(pid: u32) -> Result<usize> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).context("reading /proc/PID/fd")?;
    Ok(dir.filter(|e| e.is_ok()).count())
}

/// Waits until `pid` holds at most `want` descriptors; returns the last
/// count, or fails with it after `limit`.
pub async fn fds_back_to(pid: u32, want: usize, limit: Duration) -> Result<usize> {
    let deadline = Instant::now() + limit;
    loop {
        let n = fd_count(pid)?;
        if n <= want {
            return Ok(n);
        }
        if Instant::now() >= deadline {
            bail!("relay holds {n} descriptors {limit:?} after the fault, {want} before");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A well-behaved pair: A and B send numbered packets to each other in
/// turn, every `gap`, until `stop` is set; every one must arrive, in
/// order and intact. Returns the packets delivered.
pub async fn pair_traffic(
    a: &mut TestClient,
    b: &mut TestClient,
    gap: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<u64> {
    let (ida, idb): (NodeId, NodeId) = (a.node_id(), b.node_id());
    let mut n = 0u64;
    while !*stop.borrow_and_update() {
        let (from, to, dst, src) = if n.is_multiple_of(2) {
            (&mut *a, &mut *b, idb, ida)
        } else {
            (&mut *b, &mut *a, ida, idb)
        };
        let body = Bytes::from(format!("packet {n}").into_bytes());
        from.send(dst, body.clone()).await.context("pair send")?;
        let (got_src, data) = to
            .recv_packet()
            .await
            .with_context(|| format!("packet {n}"))?;
        if got_src != src || data != body {
            bail!("packet {n}: got {data:?} from {}", got_src.fmt_short());
        }
        n += 1;
        let _ = timeout(gap, stop.changed()).await;
    }
    Ok(n)
}

/// Churn: `rounds` times, `clients` raw clients connect (handshake with a
/// fresh key each time), send one packet to their pair partner (client
/// i^1 of the round, which may or may not be connected yet) and close
/// with a FIN.
pub async fn churn(addr: SocketAddr, clients: usize, rounds: usize) -> Result<()> {
    for _ in 0..rounds {
        let keys: Vec<_> = (0..clients).map(|_| wire::random_signing_key()).collect();
        let joined = futures_util::future::join_all(keys.iter().enumerate().map(|(i, sk)| {
            let dst = keys.get(i ^ 1).map_or([0u8; 32], wire::public);
            async move {
                // The partner may connect and send first: its packet can
                // arrive before the Pong that confirms the handshake.
                let mut c = RawRelay::upgrade(addr, "/relay").await?;
                c.send_frame(wire::ty::CLIENT_INFO, &wire::client_info(sk))
                    .await?;
                c.ping_pong_collect(*b"churning").await?;
                c.send_frame(
                    wire::ty::SEND_PACKET,
                    &wire::send_packet_payload(&dst, b"churn"),
                )
                .await?;
                let _ = c.stream.shutdown().await;
                anyhow::Ok(())
            }
        }))
        .await;
        for r in joined {
            r.context("churn client")?;
        }
    }
    Ok(())
}

/// A connection that never sends a byte.
pub async fn silent(addr: SocketAddr) -> Result<TcpStream> {
    http::connect(addr).await
}

/// Sends the relay upgrade request head one byte every `every` until `stop`
/// is set or the head is complete; returns the stream, still open.
pub async fn byte_at_a_time(
    addr: SocketAddr,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<TcpStream> {
    let mut s = http::connect(addr).await?;
    let head = http::relay_upgrade_request("/relay", addr.port());
    for b in head {
        if *stop.borrow_and_update() {
            break;
        }
        s.write_all(&[b]).await.context("head byte")?;
        let _ = timeout(every, stop.changed()).await;
    }
    Ok(s)
}

/// A client that finishes the handshake, then sends random bytes until the
/// relay closes it; returns how long that took (failing after `limit`).
pub async fn garbage(addr: SocketAddr, limit: Duration) -> Result<Duration> {
    let (mut c, _) = RawRelay::handshake(addr).await?;
    let start = Instant::now();
    let mut sent = 0usize;
    // A random header may announce a frame of up to 1 MiB: keep going
    // until well past that, then wait for the close.
    while sent < 2 << 20 {
        let mut junk = [0u8; 4096];
        rand::Rng::fill(&mut rand::thread_rng(), &mut junk[..]);
        if c.stream.write_all(&junk).await.is_err() {
            return Ok(start.elapsed());
        }
        sent += junk.len();
        if timeout(Duration::from_millis(5), c.stream.readable())
            .await
            .is_ok()
        {
            let mut peek = [0u8; 1];
            match c.stream.try_read(&mut peek) {
                Ok(0) | Err(_) => return Ok(start.elapsed()),
                Ok(_) => {}
            }
        }
    }
    c.read_until_closed(limit).await?;
    Ok(start.elapsed())
}

/// A client that finished the handshake and then stops responding: no
/// reads, no writes, socket open.
pub async fn gone_silent(addr: SocketAddr) -> Result<RawRelay> {
    Ok(RawRelay::handshake(addr).await?.0)
}

/// Closes `stream` with a reset (SO_LINGER 0), no FIN: the client vanished.
pub fn reset(stream: TcpStream) -> Result<()> {
    let std = stream.into_std()?;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and an option value of the declared size.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&std),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        bail!("SO_LINGER: {}", std::io::Error::last_os_error());
    }
    drop(std);
    Ok(())
}
