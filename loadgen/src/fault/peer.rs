//! A connected 0.35 offender: loadgen's own client handshake
//! ([`crate::connect::establish`]), then frames in and Pongs out.

use std::io;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use relay_proto::client_info;
use relay_proto::key::NodeKey;

use crate::connect::{self, Connected};
use crate::handshake::Credentials;
use crate::protocol::Protocol;
use crate::wire::Inbound;

use super::{source_ip, Counters, Ctx};

/// Longest wait for one handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// An offender's keys and signed ClientInfo.
#[derive(Clone)]
pub struct Identity {
    pub key: NodeKey,
    pub secret: SigningKey,
    pub info: Vec<u8>,
}

impl Identity {
    pub fn fresh() -> Self {
        let secret = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        Self {
            key: secret.verifying_key().to_bytes(),
            info: client_info::build(&secret, client_info::PROTOCOL_VERSION),
            secret,
        }
    }

    fn credentials(&self) -> Credentials<'_> {
        Credentials {
            client_info: &self.info,
            secret: &self.secret,
        }
    }
}

/// What reading a connection produced.
#[derive(Debug, Default, Clone, Copy)]
pub struct Read {
    pub packets: u64,
    pub peer_gone: u64,
}

/// A peer after its first Pong.
pub struct Peer {
    pub conn: Connected,
}

impl Peer {
    /// Connects offender `idx` as `id`; counts the attempt and its result.
    pub async fn connect(ctx: &Ctx, idx: usize, id: &Identity) -> Option<Self> {
        let c = &ctx.counters;
        Counters::add(&c.opened, 1);
        let seed = rand::random::<u64>();
        let res = tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            connect::establish(
                ctx.target,
                source_ip(ctx.target, idx),
                &ctx.host,
                Protocol::Derp,
                id.credentials(),
                seed,
            ),
        )
        .await;
        match res {
            Ok(Ok(conn)) => {
                Counters::add(&c.established, 1);
                Some(Self { conn })
            }
            _ => {
                Counters::add(&c.failed, 1);
                None
            }
        }
    }

    /// Queues a SendPacket of `len` bytes to `dst`.
    pub fn queue_packet(&mut self, dst: &NodeKey, packet: &[u8]) {
        let c = &mut self.conn;
        c.wire.packet(&mut c.out, dst, packet);
    }

    /// Writes what is queued as far as the socket takes it now. Returns
    /// the bytes still waiting.
    pub fn flush(&mut self) -> io::Result<usize> {
        let c = &mut self.conn;
        while !c.out.is_empty() {
            match c.stream.try_write(&c.out) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => {
                    c.out.drain(..k);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(c.out.len())
    }

    /// Waits until the socket is readable (or writable while output is
    /// queued), then reads once, answers Pings and counts packets. An
    /// error (EOF included) means the connection is over.
    pub async fn turn(&mut self) -> io::Result<Read> {
        let interest = if self.conn.out.is_empty() {
            tokio::io::Interest::READABLE
        } else {
            tokio::io::Interest::READABLE | tokio::io::Interest::WRITABLE
        };
        let ready = self.conn.stream.ready(interest).await?;
        let mut got = Read::default();
        if ready.is_readable() || ready.is_read_closed() {
            got = self.read_once()?;
        }
        self.flush()?;
        Ok(got)
    }

    fn read_once(&mut self) -> io::Result<Read> {
        let c = &mut self.conn;
        let mut chunk = [0u8; 16 * 1024];
        let n = match c.stream.try_read(&mut chunk) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Read::default()),
            Err(e) => return Err(e),
        };
        c.partial.extend_from_slice(&chunk[..n]);
        let mut got = Read::default();
        let mut bad = false;
        let drained = c
            .wire
            .drain(&mut c.partial, &mut c.out, |inbound| {
                match inbound {
                    Inbound::Packet { .. } => got.packets += 1,
                    Inbound::Gone => got.peer_gone += 1,
                    Inbound::Health(_) | Inbound::Unexpected(_) => bad = true,
                    Inbound::Ping(_) | Inbound::Notice | Inbound::Quiet => {}
                }
                !bad
            })
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        if bad || drained.closed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "unexpected frame from the server",
            ));
        }
        c.partial.drain(..drained.consumed);
        Ok(got)
    }
}
