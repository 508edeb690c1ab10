//! slow-reader: N receivers that finish the handshake, shrink their
//! receive buffer to 4 KiB and never read again, while N senders (one per
//! receiver) flood them with 8 KiB packets at `--fault-rate` packets/s
//! each (0: as fast as the socket takes). A receiver counts as closed by
//! the server once the server's end of its connection leaves ESTABLISHED.

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use super::peer::{Identity, Peer};
use super::{reset, wait_true, Counters, Ctx};

/// Packet payload the senders flood with.
const SIZE: usize = 8 * 1024;
/// Unwritten bytes beyond which a sender skips packets.
const OUT_CAP: usize = 256 * 1024;
const TICK: Duration = Duration::from_millis(10);

pub async fn run(ctx: Rc<Ctx>) {
    let n = ctx.cfg.clients;
    let mut receivers = Vec::with_capacity(n);
    for idx in 0..n {
        let id = Identity::fresh();
        if let Some(p) = Peer::connect(&ctx, idx, &id).await {
            let _ = socket2::SockRef::from(&p.conn.stream).set_recv_buffer_size(4096);
            receivers.push((id, p));
        }
    }
    let senders: Vec<_> = receivers
        .iter()
        .enumerate()
        .map(|(i, (id, _))| tokio::task::spawn_local(sender(ctx.clone(), n + i, id.key)))
        .collect();
    ctx.ready.send_replace(true);
    let began = Instant::now();
    let c = &ctx.counters;
    // A receiver that reads nothing cannot see the server's close (its FIN
    // waits behind data the receiver never takes), but on loopback the
    // server's side of the connection shows in /proc/net/tcp.
    let ends: Vec<_> = receivers
        .iter()
        .map(|(_, p)| {
            (
                p.conn.stream.local_addr().ok(),
                p.conn.stream.peer_addr().ok(),
            )
        })
        .collect();
    let mut open = vec![true; receivers.len()];
    let mut poll = tokio::time::interval(Duration::from_millis(200));
    while !ctx.stopped() {
        tokio::select! {
            _ = wait_true(ctx.stop.clone()) => break,
            _ = poll.tick() => {
                for (i, (ours, server)) in ends.iter().enumerate() {
                    if let (true, Some(ours), Some(server)) = (open[i], ours, server) {
                        if !server_side_established(*server, *ours) {
                            open[i] = false;
                            c.server_closed(began.elapsed());
                        }
                    }
                }
            }
        }
    }
    for ((_, p), open) in receivers.into_iter().zip(open) {
        if open {
            Counters::add(&c.open_at_stop, 1);
        }
        reset(p.conn.stream);
    }
    for t in senders {
        let _ = t.await;
    }
}

async fn sender(ctx: Rc<Ctx>, idx: usize, dst: [u8; 32]) {
    let c = &ctx.counters;
    let Some(mut p) = Peer::connect(&ctx, idx, &Identity::fresh()).await else {
        return;
    };
    let began = Instant::now();
    let packet = vec![0xa5u8; SIZE];
    let per_tick = ctx.cfg.rate * TICK.as_secs_f64();
    let mut owed = 0.0f64;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let stop = wait_true(ctx.stop.clone());
    tokio::pin!(stop);
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => break,
            r = p.turn() => match r {
                Ok(r) => {
                    Counters::add(&c.packets_received, r.packets);
                    Counters::add(&c.peer_gone, r.peer_gone);
                }
                // A sender is well-behaved: the server closing it is news.
                Err(_) => {
                    c.server_closed(began.elapsed());
                    return;
                }
            },
            _ = tick.tick() => {
                owed += per_tick;
                let mut sent = 0u64;
                while p.conn.out.len() < OUT_CAP && (ctx.cfg.rate == 0.0 || owed >= 1.0) {
                    p.queue_packet(&dst, &packet);
                    owed -= 1.0;
                    sent += 1;
                }
                owed = owed.clamp(0.0, per_tick.max(1.0));
                Counters::add(&c.packets_sent, sent);
                Counters::add(&c.bytes_sent, sent * SIZE as u64);
                if p.flush().is_err() {
                    c.server_closed(began.elapsed());
                    return;
                }
            }
        }
    }
}

/// Whether /proc/net/tcp shows the server's end (`server` to `peer`) still
/// established; a socket it closed is gone or in a closing state.
fn server_side_established(server: SocketAddr, peer: SocketAddr) -> bool {
    let table = if server.is_ipv4() {
        "/proc/net/tcp"
    } else {
        "/proc/net/tcp6"
    };
    // Unreadable: assume open rather than report a close nobody saw.
    let Ok(text) = std::fs::read_to_string(table) else {
        return true;
    };
    text.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        matches!((f.get(1), f.get(2), f.get(3)), (Some(a), Some(b), Some(&"01"))
            if parse_proc_addr(a) == Some(server) && parse_proc_addr(b) == Some(peer))
    })
}

/// `0100007F:0D85` (IPv4 in host byte order, port) or the 32-hex-digit IPv6 form.
fn parse_proc_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::from(u32::from_str_radix(ip, 16).ok()?.to_le_bytes()),
        32 => {
            let mut b = [0u8; 16];
            for (i, chunk) in b.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.to_le_bytes());
            }
            IpAddr::from(b)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_addresses() {
        assert_eq!(
            parse_proc_addr("0100007F:0D85"),
            Some("127.0.0.1:3461".parse().unwrap())
        );
        assert_eq!(
            parse_proc_addr("00000000000000000000000001000000:0050"),
            Some("[::1]:80".parse().unwrap())
        );
        assert_eq!(parse_proc_addr("zz:1"), None);
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        let (srv, cli) = (c.peer_addr().unwrap(), c.local_addr().unwrap());
        assert!(server_side_established(srv, cli));
        drop(s);
        assert!(!server_side_established(srv, cli));
    }
}
