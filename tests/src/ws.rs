//! A minimal raw WebSocket client (RFC 6455) for the relay's WS path: masked
//! frames out, unmasked frames in, hand-built so fragmentation and control
//! frames can be exercised exactly.

use std::{net::SocketAddr, time::Duration};

use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::{timeout, Instant},
};

use crate::{http, raw, wire};

/// WebSocket opcodes.
pub mod op {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xa;
}

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Encodes one client (masked) frame.
pub fn encode_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.push(if fin { 0x80 } else { 0 } | (opcode & 0x0f));
    let len = payload.len();
    if len < 126 {
        f.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        f.push(0x80 | 126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(len as u64).to_be_bytes());
    }
    f.extend_from_slice(&MASK);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}

/// A WebSocket relay connection after a successful 101.
#[derive(Debug)]
pub struct RawWs {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawWs {
    /// Connects and upgrades `/relay` to WebSocket; checks 101 and the accept key.
    pub async fn upgrade(addr: SocketAddr) -> Result<Self> {
        let mut stream = http::connect(addr).await?;
        stream
            .write_all(&http::ws_upgrade_request("/relay", addr.port()))
            .await?;
        let resp = http::read_response(&mut stream).await?;
        if resp.status != 101 {
            bail!("expected 101, got {} {:?}", resp.status, resp.headers);
        }
        if resp.header("sec-websocket-accept") != Some(http::WS_EXAMPLE_ACCEPT) {
            bail!("bad sec-websocket-accept in {:?}", resp.headers);
        }
        Ok(Self {
            stream,
            buf: Vec::new(),
        })
    }

    /// Wraps a stream whose 101 was already read.
    pub fn from_upgraded(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// Upgrade, send ClientInfo for `sk` as one binary message, confirm with Ping/Pong.
    pub async fn handshake_with(addr: SocketAddr, sk: &SigningKey) -> Result<Self> {
        let mut c = Self::upgrade(addr).await?;
        c.send_relay(wire::ty::CLIENT_INFO, &wire::client_info(sk))
            .await?;
        c.ping_pong([9, 8, 7, 6, 5, 4, 3, 2], raw::FRAME_TIMEOUT)
            .await
            .context("ping after WS handshake")?;
        Ok(c)
    }

    /// Writes one masked frame.
    pub async fn send_frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) -> Result<()> {
        self.send_raw(&encode_frame(fin, opcode, payload)).await
    }

    /// Writes raw bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        timeout(raw::FRAME_TIMEOUT, self.stream.write_all(bytes))
            .await
            .context("write timed out")?
            .context("write failed")?;
        Ok(())
    }

    /// Sends a relay frame as one binary message.
    pub async fn send_relay(&mut self, typ: u8, payload: &[u8]) -> Result<()> {
        self.send_frame(true, op::BINARY, &wire::ws_relay_message(typ, payload))
            .await
    }

    async fn read_more(&mut self, deadline: Instant) -> Result<bool> {
        let mut tmp = [0u8; 16 * 1024];
        let n = tokio::time::timeout_at(deadline, self.stream.read(&mut tmp))
            .await
            .context("timed out waiting for a WS frame")?
            .context("read failed")?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n > 0)
    }

    /// Reads one frame: (fin, opcode, payload). `None` on EOF at a boundary.
    async fn read_frame(&mut self, deadline: Instant) -> Result<Option<(bool, u8, Vec<u8>)>> {
        loop {
            if let Some((consumed, frame)) = parse_server_frame(&self.buf)? {
                self.buf.drain(..consumed);
                return Ok(Some(frame));
            }
            if !self.read_more(deadline).await? {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                bail!("EOF inside a WS frame");
            }
        }
    }

    /// Reads one message (reassembling fragments); control frames are returned
    /// as they come. `None` on EOF.
    pub async fn read_message(&mut self, limit: Duration) -> Result<Option<(u8, Vec<u8>)>> {
        let deadline = Instant::now() + limit;
        let mut partial: Option<(u8, Vec<u8>)> = None;
        loop {
            let Some((fin, opcode, payload)) = self.read_frame(deadline).await? else {
                if partial.is_some() {
                    bail!("EOF inside a fragmented message");
                }
                return Ok(None);
            };
            if opcode >= 0x8 {
                return Ok(Some((opcode, payload)));
            }
            let (msg_op, mut data) = match (partial.take(), opcode) {
                (None, op::CONTINUATION) => bail!("continuation without a start"),
                (None, o) => (o, payload),
                (Some((o, mut d)), op::CONTINUATION) => {
                    d.extend_from_slice(&payload);
                    (o, d)
                }
                (Some(_), o) => bail!("new data frame (opcode {o}) inside a fragmented message"),
            };
            if fin {
                return Ok(Some((msg_op, std::mem::take(&mut data))));
            }
            partial = Some((msg_op, data));
        }
    }

    /// Sends relay Ping(data) and waits (up to `limit`) for the matching relay
    /// Pong, skipping WS pongs and answering server relay Pings / WS pings.
    /// Any other message is an error.
    pub async fn ping_pong(&mut self, data: [u8; 8], limit: Duration) -> Result<()> {
        let others = self.ping_pong_collect(data, limit).await?;
        if let Some(m) = others.first() {
            bail!("expected relay Pong({data:02x?}), got binary {m:02x?}");
        }
        Ok(())
    }

    /// As [`Self::ping_pong`], returning the other binary (relay) messages
    /// received before the Pong.
    pub async fn ping_pong_collect(
        &mut self,
        data: [u8; 8],
        limit: Duration,
    ) -> Result<Vec<Vec<u8>>> {
        self.send_relay(wire::ty::PING, &data).await?;
        let deadline = Instant::now() + limit;
        let mut others = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (opcode, msg) = self
                .read_message(left)
                .await?
                .context("closed while waiting for Pong")?;
            match opcode {
                op::BINARY => match msg.split_first() {
                    Some((&wire::ty::PONG, rest)) if rest == data => return Ok(others),
                    Some((&wire::ty::PING, rest)) => {
                        let rest = rest.to_vec();
                        self.send_relay(wire::ty::PONG, &rest).await?;
                    }
                    _ => others.push(msg),
                },
                op::PONG => {}
                op::PING => self.send_frame(true, op::PONG, &msg).await?,
                other => bail!("unexpected WS opcode {other} while waiting for Pong"),
            }
        }
    }

    /// Reads until the peer closes; returns the messages received first.
    pub async fn read_until_closed(&mut self, limit: Duration) -> Result<Vec<(u8, Vec<u8>)>> {
        let deadline = Instant::now() + limit;
        let mut msgs = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_message(left).await {
                Ok(Some(m)) => msgs.push(m),
                Ok(None) => return Ok(msgs),
                Err(e) => {
                    if let Some(io) = e.downcast_ref::<std::io::Error>() {
                        if matches!(
                            io.kind(),
                            std::io::ErrorKind::ConnectionReset
                                | std::io::ErrorKind::ConnectionAborted
                        ) {
                            return Ok(msgs);
                        }
                    }
                    return Err(e);
                }
            }
        }
    }
}

/// Parses one unmasked server frame from `buf`; `None` if incomplete.
#[allow(clippy::type_complexity)]
fn parse_server_frame(buf: &[u8]) -> Result<Option<(usize, (bool, u8, Vec<u8>))>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let fin = buf[0] & 0x80 != 0;
    if buf[0] & 0x70 != 0 {
        bail!("server frame has RSV bits set: {:02x}", buf[0]);
    }
    let opcode = buf[0] & 0x0f;
    if buf[1] & 0x80 != 0 {
        bail!("server frame is masked");
    }
    let (len, mut pos) = match buf[1] & 0x7f {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            let len = usize::try_from(u64::from_be_bytes(b)).context("frame too long")?;
            (len, 10)
        }
        l => (l as usize, 2),
    };
    if len > 64 * 1024 * 1024 {
        bail!("server frame of {len} bytes");
    }
    if buf.len() < pos + len {
        return Ok(None);
    }
    let payload = buf[pos..pos + len].to_vec();
    pos += len;
    Ok(Some((pos, (fin, opcode, payload))))
}
