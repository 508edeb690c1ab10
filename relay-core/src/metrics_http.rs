//! The metrics listener: any request gets the OpenMetrics text, as the
//! reference's iroh-metrics server does. A plain thread; scrapes are rare.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::{render, ProcessStats, ShardMetrics, StunMetrics};

/// Binds now (so a bad address fails at start) and serves on a thread.
pub fn spawn(
    addr: SocketAddr,
    stun: Option<Arc<StunMetrics>>,
    shards: Vec<Arc<ShardMetrics>>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(conn) => {
                        if let Err(e) = serve(conn, stun.as_deref(), &shards) {
                            tracing::debug!("metrics request failed: {e}");
                        }
                    }
                    // Out of descriptors: wait for some to be freed
                    // instead of spinning.
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        })?;
    Ok(local)
}

fn serve(
    mut conn: TcpStream,
    stun: Option<&StunMetrics>,
    shards: &[Arc<ShardMetrics>],
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    // Read the request head (bounded); its content does not matter.
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let refs: Vec<&ShardMetrics> = shards.iter().map(|s| s.as_ref()).collect();
    let body = render(stun, &refs, ProcessStats::read());
    let reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(reply.as_bytes())
}
