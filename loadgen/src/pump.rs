//! `loadgen pump`: the trivial forwarder used as the "what this machine can
//! do" baseline. It speaks just enough of the 0.35 protocol for loadgen
//! (and iroh clients): any upgrade request gets a 101, the first frame's
//! bytes 9..41 are taken as the client key (no signature check), Pings get
//! Pongs, and SendPacket is copied as RecvPacket onto the destination's
//! unbounded output buffer, found in a plain map. No queue limits, no
//! timeouts, no validation beyond frame sizes. One writer task per
//! connection drains everything queued in one write.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use relay_proto::frame::decode;
use relay_proto::key::NodeKey;
use relay_proto::reader::FrameReader;
use relay_proto::{Dialect, Frame, Transport, KEY_LEN};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;

use crate::frames;

/// A connected client as seen by its senders.
struct Peer {
    transport: Transport,
    out: Mutex<Vec<u8>>,
    wake: Notify,
    closed: AtomicBool,
}

type Map = Arc<Mutex<HashMap<NodeKey, Arc<Peer>>>>;

/// Read buffer space: starts small so 10k idle connections stay cheap,
/// doubles while reads fill it (busy connections), and grows for big frames.
const READ_MIN: usize = 16 * 1024;
const READ_MAX: usize = 256 * 1024;
const MAGIC_LEN: usize = 9;

/// Serves until killed. `threads` = 1 runs everything on this thread.
pub fn run(listen: SocketAddr, threads: usize) -> Result<()> {
    if !listen.ip().is_loopback() {
        bail!("pump listens on loopback addresses only, got {listen}");
    }
    crate::limits::ensure_nofile(1)?;
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    rt.block_on(serve(listen))
}

async fn serve(listen: SocketAddr) -> Result<()> {
    let sock = if listen.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(listen)
        .with_context(|| format!("binding {listen}"))?;
    // A deep backlog so a 10k connect storm is not throttled by SYN drops.
    let listener: TcpListener = sock.listen(4096)?;
    println!("pump listening on {}", listener.local_addr()?);
    let map: Map = Arc::default();
    loop {
        match listener.accept().await {
            Ok((s, _)) => {
                let _ = s.set_nodelay(true);
                tokio::spawn(connection(s, map.clone()));
            }
            // Out of fds and the like: wait for connections to close.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Answers the upgrade request in `head`. `None`: incomplete or not HTTP.
/// Returns the transport, the 101 reply and the request length.
pub fn upgrade_reply(head: &[u8]) -> Option<(Transport, Vec<u8>, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(n) = req.parse(head).ok()? else {
        return None;
    };
    let get = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let reply = if get("upgrade") == Some(b"websocket") {
        let accept =
            tungstenite::handshake::derive_accept_key(get("sec-websocket-key").unwrap_or_default());
        let r = format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
        );
        (Transport::Websocket, r.into_bytes())
    } else {
        (
            Transport::Derp,
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: iroh derp http\r\n\r\n".to_vec(),
        )
    };
    Some((reply.0, reply.1, n))
}

async fn connection(stream: TcpStream, map: Map) {
    let _ = serve_connection(stream, map).await;
}

async fn serve_connection(mut stream: TcpStream, map: Map) -> io::Result<()> {
    let mut buf = vec![0u8; 4096];
    let mut end = 0;
    let (transport, head_len) = loop {
        if end == buf.len() {
            if buf.len() >= 64 * 1024 {
                return Ok(());
            }
            buf.resize(buf.len() * 2, 0);
        }
        let n = stream.read(&mut buf[end..]).await?;
        if n == 0 {
            return Ok(());
        }
        end += n;
        if let Some((t, reply, len)) = upgrade_reply(&buf[..end]) {
            stream.write_all(&reply).await?;
            break (t, len);
        }
    };
    let (mut rd, wr) = stream.into_split();
    let me = Arc::new(Peer {
        transport,
        out: Mutex::new(Vec::new()),
        wake: Notify::new(),
        closed: AtomicBool::new(false),
    });
    tokio::spawn(writer(me.clone(), wr));

    let mut reader = FrameReader::server(Dialect::V035(transport));
    let mut key: Option<NodeKey> = None;
    let mut cache: Option<(NodeKey, Arc<Peer>)> = None;
    let mut start = head_len;
    let mut chunk = READ_MIN;
    let result = loop {
        let mut failed = false;
        let drained = frames::drain(&mut reader, &mut buf[start..end], |ty, payload| {
            let Some(src) = key else {
                // First frame: the ClientInfo; take the key, trust the rest.
                match payload
                    .get(MAGIC_LEN..MAGIC_LEN + KEY_LEN)
                    .and_then(|k| <NodeKey>::try_from(k).ok())
                {
                    Some(k) => {
                        key = Some(k);
                        lock(&map).insert(k, me.clone());
                    }
                    None => failed = true,
                }
                return !failed;
            };
            // The 0.35 framings carry one-byte types.
            let Ok(ty) = u8::try_from(ty) else {
                failed = true;
                return false;
            };
            match decode(ty, payload) {
                Ok(Frame::SendPacket { dst, packet }) => {
                    let stale = !matches!(&cache, Some((k, p)) if k == dst && !p.closed.load(Ordering::Relaxed));
                    if stale {
                        cache = lock(&map).get(dst).map(|p| (*dst, p.clone()));
                    }
                    if let Some((_, p)) = &cache {
                        let mut o = lock(&p.out);
                        let was_empty = o.is_empty();
                        p.transport.write_recv_header(&mut o, packet.len());
                        o.extend_from_slice(&src);
                        o.extend_from_slice(packet);
                        drop(o);
                        if was_empty {
                            p.wake.notify_one();
                        }
                    }
                }
                Ok(Frame::Ping(d)) => {
                    let mut o = lock(&me.out);
                    let was_empty = o.is_empty();
                    me.transport.encode(&mut o, &Frame::Pong(d));
                    drop(o);
                    if was_empty {
                        me.wake.notify_one();
                    }
                }
                Ok(_) => {}
                Err(_) => failed = true,
            }
            !failed
        });
        match drained {
            Ok(d) if !d.closed && !failed => start += d.consumed,
            _ => break Ok(()),
        }
        // Make room: move the partial frame to the front, grow if one frame is bigger.
        if start > 0 {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        if buf.len() < end + chunk {
            buf.resize(end + chunk, 0);
        }
        match rd.read(&mut buf[end..]).await {
            Ok(0) => break Ok(()),
            Ok(n) => {
                if end + n == buf.len() {
                    chunk = (chunk * 2).min(READ_MAX);
                }
                end += n;
            }
            Err(e) => break Err(e),
        }
    };
    me.closed.store(true, Ordering::Relaxed);
    me.wake.notify_one();
    if let Some(k) = key {
        let mut m = lock(&map);
        if m.get(&k).is_some_and(|p| Arc::ptr_eq(p, &me)) {
            m.remove(&k);
        }
    }
    result
}

/// Drains everything queued for this peer in one write per wake-up.
async fn writer(me: Arc<Peer>, mut wr: OwnedWriteHalf) {
    let mut batch = Vec::new();
    loop {
        me.wake.notified().await;
        if me.closed.load(Ordering::Relaxed) {
            return;
        }
        std::mem::swap(&mut *lock(&me.out), &mut batch);
        if batch.is_empty() {
            continue;
        }
        if wr.write_all(&batch).await.is_err() {
            me.closed.store(true, Ordering::Relaxed);
            return;
        }
        batch.clear();
        if batch.capacity() > 1 << 20 {
            batch = Vec::new();
        }
    }
}

/// A poisoned lock only means another task panicked mid-copy; keep going.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_to_both_upgrades() {
        let derp = b"GET /relay HTTP/1.1\r\nupgrade: iroh derp http\r\nhost: x\r\n\r\nrest";
        let (t, reply, n) = upgrade_reply(derp).unwrap();
        assert_eq!(t, Transport::Derp);
        assert_eq!(n, derp.len() - 4);
        assert!(reply.starts_with(b"HTTP/1.1 101"));
        let ws = b"GET /relay HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let (t, reply, _) = upgrade_reply(ws).unwrap();
        assert_eq!(t, Transport::Websocket);
        let text = String::from_utf8(reply).unwrap();
        assert!(text.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(upgrade_reply(b"GET /relay HTTP/1.1\r\n").is_none());
        assert!(upgrade_reply(b"\x00\x01garbage\r\n\r\n").is_none());
    }
}
