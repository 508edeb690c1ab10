//! Raw relay connections over plain TCP with the custom `iroh derp http`
//! upgrade and 5-byte-header framing, for byte-exact tests.

use std::{io::ErrorKind, net::SocketAddr, time::Duration};

use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::{timeout, Instant},
};

use crate::{http, wire};

/// Default bound for waiting on a single frame or a close.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// A relay stream after a successful 101.
#[derive(Debug)]
pub struct RawRelay {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawRelay {
    /// Connects and performs the custom upgrade on `path` (expects 101).
    pub async fn upgrade(addr: SocketAddr, path: &str) -> Result<Self> {
        let stream = http::connect(addr).await?;
        Self::upgrade_on(stream, addr, path).await
    }

    /// Performs the custom upgrade on an already connected stream.
    pub async fn upgrade_on(mut stream: TcpStream, addr: SocketAddr, path: &str) -> Result<Self> {
        stream
            .write_all(&http::relay_upgrade_request(path, addr.port()))
            .await?;
        let resp = http::read_response(&mut stream).await?;
        if resp.status != 101 {
            bail!("expected 101, got {} {:?}", resp.status, resp.headers);
        }
        Ok(Self::from_upgraded(stream))
    }

    /// Wraps a stream whose 101 was already read.
    pub fn from_upgraded(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// Upgrade, send a valid ClientInfo for `sk`, and confirm with a Ping/Pong
    /// (which also proves the server sent nothing before the Pong).
    pub async fn handshake_with(addr: SocketAddr, sk: &SigningKey) -> Result<Self> {
        let c = Self::upgrade(addr, "/relay").await?;
        c.finish_handshake(sk).await
    }

    /// Sends a valid ClientInfo for `sk` on an upgraded stream and confirms it
    /// with a Ping/Pong.
    pub async fn finish_handshake(mut self, sk: &SigningKey) -> Result<Self> {
        self.send_frame(wire::ty::CLIENT_INFO, &wire::client_info(sk))
            .await?;
        self.ping_pong([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88])
            .await
            .context("ping after handshake")?;
        Ok(self)
    }

    /// As [`Self::handshake_with`] with a fresh random key.
    pub async fn handshake(addr: SocketAddr) -> Result<(Self, SigningKey)> {
        let sk = wire::random_signing_key();
        let c = Self::handshake_with(addr, &sk).await?;
        Ok((c, sk))
    }

    /// Writes raw bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        timeout(FRAME_TIMEOUT, self.stream.write_all(bytes))
            .await
            .context("write timed out")?
            .context("write failed")?;
        Ok(())
    }

    /// Writes raw bytes, treating a reset/broken pipe as fine (the server may
    /// close while we are still writing something it rejects).
    pub async fn send_raw_lenient(&mut self, bytes: &[u8]) -> Result<()> {
        match timeout(FRAME_TIMEOUT, self.stream.write_all(bytes)).await {
            Err(_) => bail!("write timed out"),
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) if is_close_error(&e) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
        }
    }

    /// Writes one frame.
    pub async fn send_frame(&mut self, typ: u8, payload: &[u8]) -> Result<()> {
        self.send_raw(&wire::frame(typ, payload)).await
    }

    /// Reads one frame; `Ok(None)` on a clean EOF at a frame boundary.
    pub async fn read_frame(&mut self, limit: Duration) -> Result<Option<(u8, Vec<u8>)>> {
        let deadline = Instant::now() + limit;
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]])
                    as usize;
                if len > wire::MAX_FRAME_SIZE {
                    bail!("server sent a frame of length {len}");
                }
                if self.buf.len() >= 5 + len {
                    let typ = self.buf[0];
                    let payload = self.buf[5..5 + len].to_vec();
                    self.buf.drain(..5 + len);
                    return Ok(Some((typ, payload)));
                }
            }
            let mut tmp = [0u8; 16 * 1024];
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut tmp))
                .await
                .context("timed out waiting for a frame")?
                .context("read failed")?;
            if n == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                bail!("EOF inside a frame ({} bytes buffered)", self.buf.len());
            }
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }

    /// Reads one frame and requires it to exist.
    pub async fn expect_frame(&mut self, limit: Duration) -> Result<(u8, Vec<u8>)> {
        self.read_frame(limit)
            .await?
            .context("connection closed while waiting for a frame")
    }

    /// Sends Ping(data) and reads until the matching Pong. Server Pings are
    /// answered; any other frame is an error.
    pub async fn ping_pong(&mut self, data: [u8; 8]) -> Result<()> {
        let others = self.ping_pong_collect(data).await?;
        if let Some((typ, payload)) = others.first() {
            bail!("expected Pong({data:02x?}), got type {typ} payload {payload:02x?}");
        }
        Ok(())
    }

    /// Sends Ping(data) and reads until the matching Pong, answering server
    /// Pings; returns the other frames received before the Pong.
    pub async fn ping_pong_collect(&mut self, data: [u8; 8]) -> Result<Vec<(u8, Vec<u8>)>> {
        self.send_frame(wire::ty::PING, &data).await?;
        let mut others = Vec::new();
        loop {
            let (typ, payload) = self.expect_frame(FRAME_TIMEOUT).await?;
            match typ {
                wire::ty::PONG if payload == data => return Ok(others),
                wire::ty::PING => self.send_frame(wire::ty::PONG, &payload).await?,
                _ => others.push((typ, payload)),
            }
        }
    }

    /// Reads until the peer closes; returns any bytes received first.
    /// A reset counts as closed. Fails if still open after `limit`.
    pub async fn read_until_closed(&mut self, limit: Duration) -> Result<Vec<u8>> {
        let mut got = std::mem::take(&mut self.buf);
        read_until_closed(&mut self.stream, &mut got, limit).await?;
        Ok(got)
    }

    /// Requires the server to close the connection without sending any byte.
    pub async fn expect_closed_silently(&mut self, limit: Duration) -> Result<()> {
        let got = self.read_until_closed(limit).await?;
        if !got.is_empty() {
            bail!(
                "expected a silent close, got {} bytes: {:02x?}",
                got.len(),
                &got[..got.len().min(64)]
            );
        }
        Ok(())
    }
}

/// Reads from `s` into `got` until EOF or reset, bounded by `limit`.
pub async fn read_until_closed(
    s: &mut TcpStream,
    got: &mut Vec<u8>,
    limit: Duration,
) -> Result<()> {
    let deadline = Instant::now() + limit;
    let mut tmp = [0u8; 16 * 1024];
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut tmp)).await {
            Err(_) => bail!(
                "connection still open after {limit:?} ({} bytes received)",
                got.len()
            ),
            Ok(Ok(0)) => return Ok(()),
            Ok(Ok(n)) => got.extend_from_slice(&tmp[..n]),
            Ok(Err(e)) if is_close_error(&e) => return Ok(()),
            Ok(Err(e)) => return Err(e.into()),
        }
    }
}

fn is_close_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
    )
}
