//! Peers that are not relays, for tests of what clients and the probe
//! say about them: a web server, a proxy that loses packets, and one that
//! announces a restart.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// A web server that answers every request with `status` and closes.
pub fn web_server(status: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { continue };
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut b = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&b[..n]),
                    }
                }
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
                );
                let _ = s.shutdown(Shutdown::Write);
                let _ = s.read(&mut b);
            });
        }
    });
    addr
}

/// A proxy in front of `upstream` that passes the HTTP request head and
/// the first two client frames (ClientInfo and the client's first Ping),
/// then swallows everything else the client sends; the relay's side is
/// passed through whole.
pub fn packet_eating_proxy(upstream: SocketAddr) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(client) = conn else { continue };
            std::thread::spawn(move || eat_packets(client, upstream));
        }
    });
    addr
}

pub fn eat_packets(mut client: TcpStream, upstream: SocketAddr) {
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(mut from_server), Ok(mut to_client)) = (server.try_clone(), client.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Write);
    });
    let mut buf = Vec::new();
    let mut head_done = false;
    let mut frames = 0;
    let mut b = [0u8; 16 * 1024];
    loop {
        match client.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
        if !head_done {
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let _ = server.write_all(&buf[..end + 4]);
            buf.drain(..end + 4);
            head_done = true;
        }
        // 0.35 frames: type u8, length u32 BE, payload.
        while buf.len() >= 5 {
            let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
            if buf.len() < 5 + len {
                break;
            }
            if frames < 2 {
                let _ = server.write_all(&buf[..5 + len]);
            }
            frames += 1;
            buf.drain(..5 + len);
        }
    }
    let _ = server.shutdown(Shutdown::Write);
}

/// How the client's frames are cut, for [`restarting_proxy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// 0.35 stream frames: type u8, length u32 BE, payload.
    Derp,
    /// Masked websocket messages (0.35 websocket and 1.x).
    Websocket,
}

/// A proxy in front of `upstream` that passes the request head and the
/// client's first two frames (the handshake and its first Ping), then, at
/// the third (its first packet), sends the client `restarting` (the
/// relay's Restarting frame, as its protocol writes it) and closes both
/// sides, as a relay does when it shuts down.
pub fn restarting_proxy(upstream: SocketAddr, framing: Framing, restarting: Vec<u8>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(client) = conn else { continue };
            let restarting = restarting.clone();
            std::thread::spawn(move || announce_restart(client, upstream, framing, &restarting));
        }
    });
    addr
}

fn announce_restart(
    mut client: TcpStream,
    upstream: SocketAddr,
    framing: Framing,
    restarting: &[u8],
) {
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(mut from_server), Ok(mut to_client)) = (server.try_clone(), client.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_server, &mut to_client);
    });
    let mut buf = Vec::new();
    let mut head_done = false;
    let mut frames = 0;
    let mut b = [0u8; 16 * 1024];
    loop {
        match client.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
        if !head_done {
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let _ = server.write_all(&buf[..end + 4]);
            buf.drain(..end + 4);
            head_done = true;
        }
        while let Some(len) = frame_len(&buf, framing) {
            if frames == 2 {
                // The relay sends nothing unasked after its Pong, so this
                // lands between two of its frames.
                let _ = client.write_all(restarting);
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
                return;
            }
            let _ = server.write_all(&buf[..len]);
            frames += 1;
            buf.drain(..len);
        }
    }
    let _ = server.shutdown(Shutdown::Both);
}

/// The length of the first whole frame in `buf`, if there is one.
fn frame_len(buf: &[u8], framing: Framing) -> Option<usize> {
    let len = match framing {
        Framing::Derp => {
            let h = buf.get(..5)?;
            5 + u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize
        }
        Framing::Websocket => {
            // Client frames are masked: 4 mask bytes after the length.
            let short = (*buf.get(1)? & 0x7f) as usize;
            let (ext, payload) = match short {
                126 => (2, u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize),
                127 => {
                    let b: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
                    (8, u64::from_be_bytes(b) as usize)
                }
                n => (0, n),
            };
            2 + ext + 4 + payload
        }
    };
    (buf.len() >= len).then_some(len)
}
