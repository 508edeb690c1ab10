//! Stream plumbing shared by both modes.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Plain TCP or TLS, so sessions are written once for both.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}
pub type BoxStream = Box<dyn Stream>;

/// Runs `fut` with a deadline; a timeout becomes `io::ErrorKind::TimedOut`.
pub async fn within<T>(limit: Duration, fut: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")),
    }
}

/// Writes all of `bytes` and flushes, giving up after `limit` (a client
/// that stops reading must not hold the session forever).
pub async fn send<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    bytes: &[u8],
    limit: Duration,
) -> io::Result<()> {
    within(limit, async {
        w.write_all(bytes).await?;
        w.flush().await
    })
    .await
}

/// Reads and discards what the peer still sends, for a moment, after our
/// side was shut down. Closing a socket with unread data makes the kernel
/// send a reset, which can destroy the final `BYE` before the client reads it.
pub async fn drain<R: AsyncRead + Unpin + ?Sized>(reader: &mut R) {
    let mut buf = [0u8; 8192];
    let mut left: usize = 1024 * 1024;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while left > 0 {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// `e` with `what` in front (`cannot listen on ADDR: address already in
/// use`), keeping its kind. The OS error text loses its capital and the
/// `(os error N)` suffix, so the line reads as one sentence.
pub fn naming(e: io::Error, what: std::fmt::Arguments<'_>) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {}", describe(&e)))
}

/// The text of `e` as it reads inside a sentence: `address already in use`
/// rather than `Address already in use (os error 98)`.
pub fn describe(e: &io::Error) -> String {
    let text = e.to_string();
    let Some(code) = e.raw_os_error() else {
        return text;
    };
    let text = text
        .strip_suffix(&format!(" (os error {code})"))
        .unwrap_or(&text);
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        // "Address ..." but not an acronym such as "TLS ...".
        (Some(first), Some(second)) if first.is_uppercase() && !second.is_uppercase() => first
            .to_lowercase()
            .chain(text[first.len_utf8()..].chars())
            .collect(),
        _ => text.to_owned(),
    }
}

/// Binds and prints the bound address on stdout (one line, so scripts and
/// tests can find a port chosen with `:0`).
/// A failure names the address: `cannot listen on 127.0.0.1:1143: address
/// already in use`.
pub async fn bind(addr: SocketAddr, mode: &str) -> io::Result<TcpListener> {
    let failed = |e: io::Error| naming(e, format_args!("cannot listen on {addr}"));
    let listener = TcpListener::bind(addr).await.map_err(failed)?;
    let local = listener.local_addr().map_err(failed)?;
    println!("imap-meta {mode} listening on {local}");
    tracing::info!(%local, "imap-meta {mode} listening");
    Ok(listener)
}

/// Accepts connections forever, running `handle` for each in its own task.
/// Beyond `max_connections` new clients get `* BYE` and are closed, so a
/// flood cannot starve the sessions already running.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    max_connections: usize,
    handle: F,
) -> io::Result<()>
where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(max_connections));
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Usually EMFILE or a connection reset before accept; keep serving.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached, refusing");
            tokio::spawn(async move {
                let _ = send(
                    &mut stream,
                    b"* BYE Too many connections\r\n",
                    Duration::from_secs(5),
                )
                .await;
            });
            continue;
        };
        let session = handle(stream, peer);
        tokio::spawn(async move {
            session.await;
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_read_as_part_of_a_sentence() {
        let e = naming(
            // EADDRINUSE on Linux.
            io::Error::from_raw_os_error(98),
            format_args!("cannot listen on 127.0.0.1:1143"),
        );
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        assert_eq!(
            e.to_string(),
            "cannot listen on 127.0.0.1:1143: address already in use"
        );
        let custom = io::Error::new(io::ErrorKind::TimedOut, "timed out");
        assert_eq!(describe(&custom), "timed out");
    }
}
