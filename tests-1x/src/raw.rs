//! A hand-built iroh 1.x client: the websocket upgrade with any
//! `Sec-WebSocket-Protocol`, the challenge handshake, and frames as
//! `[type varint][payload]` binary messages, so every byte can be chosen.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use relay_proto::v1x::handshake::client_auth;
use tests::http::{self, Response};
use tests::ws::{op, RawWs};
use tokio::io::AsyncWriteExt;

use crate::T;

/// Frame type numbers of the 1.x protocol.
pub mod ty {
    pub const SERVER_CHALLENGE: u8 = 0;
    pub const CLIENT_AUTH: u8 = 1;
    pub const SERVER_CONFIRMS_AUTH: u8 = 2;
    pub const SERVER_DENIES_AUTH: u8 = 3;
    pub const DATAGRAM: u8 = 4;
    pub const DATAGRAM_BATCH: u8 = 5;
    pub const RECV_DATAGRAM: u8 = 6;
    pub const RECV_DATAGRAM_BATCH: u8 = 7;
    pub const ENDPOINT_GONE: u8 = 8;
    pub const PING: u8 = 9;
    pub const PONG: u8 = 10;
    pub const HEALTH: u8 = 11;
    pub const RESTARTING: u8 = 12;
    pub const STATUS: u8 = 13;
}

/// The upgrade request a 1.x client sends, with extra header lines.
pub fn upgrade_request(port: u16, path: &str, protocols: Option<&str>, extra: &[&str]) -> Vec<u8> {
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n",
        http::WS_EXAMPLE_KEY
    );
    if let Some(p) = protocols {
        req.push_str(&format!("sec-websocket-protocol: {p}\r\n"));
    }
    for line in extra {
        req.push_str(line);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req.into_bytes()
}

/// A 1.x connection after its 101.
pub struct Raw {
    pub ws: RawWs,
    pub response: Response,
}

/// `type ‖ payload` as one message body (types below 64 are one byte).
pub fn frame(ty: u8, payload: &[u8]) -> Vec<u8> {
    let mut m = vec![ty];
    m.extend_from_slice(payload);
    m
}

impl Raw {
    /// Sends the upgrade; fails unless the answer is 101.
    pub async fn upgrade(addr: SocketAddr, protocols: &str, extra: &[&str]) -> Result<Self> {
        let mut stream = http::connect(addr).await?;
        stream
            .write_all(&upgrade_request(
                addr.port(),
                "/relay",
                Some(protocols),
                extra,
            ))
            .await?;
        let response = http::read_response(&mut stream).await?;
        if response.status != 101 {
            bail!("expected 101, got {response:?}");
        }
        Ok(Self {
            ws: RawWs::from_upgraded(stream),
            response,
        })
    }

    /// Upgrades with `protocols`, answers the challenge with `sk`'s key and
    /// waits for ServerConfirmsAuth.
    pub async fn handshake(addr: SocketAddr, protocols: &str, sk: &SigningKey) -> Result<Self> {
        Self::handshake_with(addr, protocols, sk, &[]).await
    }

    /// As [`Self::handshake`] with extra request header lines.
    pub async fn handshake_with(
        addr: SocketAddr,
        protocols: &str,
        sk: &SigningKey,
        extra: &[&str],
    ) -> Result<Self> {
        let mut c = Self::upgrade(addr, protocols, extra).await?;
        let challenge = c.challenge().await?;
        c.send(&client_auth(sk, &challenge)).await?;
        let m = c.expect_msg().await?;
        if m != [ty::SERVER_CONFIRMS_AUTH] {
            bail!("expected ServerConfirmsAuth, got {m:02x?}");
        }
        Ok(c)
    }

    /// Reads the ServerChallenge.
    pub async fn challenge(&mut self) -> Result<[u8; 16]> {
        let m = self.expect_msg().await?;
        match m.split_first() {
            Some((&ty::SERVER_CHALLENGE, c)) if c.len() == 16 => Ok(c.try_into()?),
            _ => bail!("expected a ServerChallenge, got {m:02x?}"),
        }
    }

    /// Sends one binary message.
    pub async fn send(&mut self, body: &[u8]) -> Result<()> {
        self.ws.send_frame(true, op::BINARY, body).await
    }

    /// The next binary message; `None` on EOF. Other websocket frames are
    /// returned as `(opcode, payload)` by [`Self::next_frame`].
    pub async fn msg(&mut self, limit: Duration) -> Result<Option<Vec<u8>>> {
        loop {
            match self.ws.read_message(limit).await? {
                None => return Ok(None),
                Some((op::BINARY, m)) => return Ok(Some(m)),
                Some((op::CLOSE, _)) => return Ok(None),
                Some(_) => {}
            }
        }
    }

    /// The next websocket message of any kind, as (opcode, payload).
    pub async fn next_frame(&mut self, limit: Duration) -> Result<Option<(u8, Vec<u8>)>> {
        self.ws.read_message(limit).await
    }

    pub async fn expect_msg(&mut self) -> Result<Vec<u8>> {
        self.msg(T).await?.context("connection closed")
    }

    /// The next message that is not a server Ping (which is answered).
    pub async fn expect_data(&mut self) -> Result<Vec<u8>> {
        loop {
            let m = self.expect_msg().await?;
            if m.first() == Some(&ty::PING) {
                self.send(&frame(ty::PONG, &m[1..])).await?;
                continue;
            }
            return Ok(m);
        }
    }

    /// Waits until the server closes, returning the messages before.
    pub async fn until_closed(&mut self, limit: Duration) -> Result<Vec<Vec<u8>>> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                bail!("still open after {limit:?} (got {got:02x?})");
            }
            match self.ws.read_message(left).await {
                Ok(None) | Err(_) => return Ok(got),
                Ok(Some((op::BINARY, m))) => got.push(m),
                Ok(Some((op::CLOSE, _))) => return Ok(got),
                Ok(Some(_)) => {}
            }
        }
    }

    /// Sends Ping(data) and waits for its Pong, skipping everything else.
    pub async fn ping_pong(&mut self, data: [u8; 8]) -> Result<Vec<Vec<u8>>> {
        self.send(&frame(ty::PING, &data)).await?;
        let mut other = Vec::new();
        loop {
            let m = self.expect_msg().await?;
            if m.first() == Some(&ty::PONG) && m[1..] == data {
                return Ok(other);
            }
            other.push(m);
        }
    }
}

/// The public key of a signing key.
pub fn public(sk: &SigningKey) -> [u8; 32] {
    *sk.verifying_key().as_bytes()
}

/// A fresh signing key.
pub fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&crate::secret())
}
