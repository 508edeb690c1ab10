//! A thin, time-bounded wrapper over the real iroh-relay 0.35 client.

use std::{collections::VecDeque, time::Duration};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use iroh_base::{NodeId, RelayUrl, SecretKey};
use iroh_relay::{
    client::{ClientBuilder, ClientSink, ClientStream, ReceivedMessage, SendMessage},
    dns::DnsResolver,
    http::Protocol,
};

/// Bound for connecting, sending, or waiting for one message.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Both relay protocols, for parameterised tests.
pub const PROTOCOLS: [Protocol; 2] = [Protocol::Relay, Protocol::Websocket];

/// A connected iroh-relay 0.35 client.
#[derive(Debug)]
pub struct TestClient {
    pub key: SecretKey,
    pub protocol: Protocol,
    sink: ClientSink,
    stream: ClientStream,
    /// Packets that arrived while waiting for something else.
    pending: VecDeque<(NodeId, Bytes)>,
    /// PeerGone ids seen while waiting for a Pong or a packet.
    gone: Vec<NodeId>,
}

/// A fresh random secret key.
pub fn random_key() -> SecretKey {
    SecretKey::from_bytes(&rand::random::<[u8; 32]>())
}

impl TestClient {
    /// Connects with a fresh key.
    pub async fn connect(url: &RelayUrl, protocol: Protocol) -> Result<Self> {
        Self::connect_with_key(url, protocol, random_key()).await
    }

    /// Connects with `key` and waits for the first Pong, which (as for a real
    /// iroh endpoint) means the server has registered the client.
    pub async fn connect_with_key(
        url: &RelayUrl,
        protocol: Protocol,
        key: SecretKey,
    ) -> Result<Self> {
        let builder =
            ClientBuilder::new(url.clone(), key.clone(), DnsResolver::new()).protocol(protocol);
        let client = tokio::time::timeout(CLIENT_TIMEOUT, builder.connect())
            .await
            .context("relay client connect timed out")?
            .context("relay client connect failed")?;
        let (stream, sink) = client.split();
        let mut c = Self {
            key,
            protocol,
            sink,
            stream,
            pending: VecDeque::new(),
            gone: Vec::new(),
        };
        c.ping(rand::random()).await.context("first ping")?;
        Ok(c)
    }

    /// This client's node id.
    pub fn node_id(&self) -> NodeId {
        self.key.public()
    }

    /// Packets received while waiting for something else, not yet returned.
    pub fn pending_packets(&self) -> usize {
        self.pending.len()
    }

    /// PeerGone ids received (and set aside) by [`Self::ping`] / [`Self::recv_packet`].
    pub fn gone(&self) -> &[NodeId] {
        &self.gone
    }

    /// Sends one message (bounded).
    pub async fn send_msg(&mut self, msg: SendMessage) -> Result<()> {
        tokio::time::timeout(CLIENT_TIMEOUT, self.sink.send(msg))
            .await
            .context("send timed out")?
            .context("send failed")?;
        Ok(())
    }

    /// Sends `data` to `dst`.
    pub async fn send(&mut self, dst: NodeId, data: impl Into<Bytes>) -> Result<()> {
        self.send_msg(SendMessage::SendPacket(dst, data.into()))
            .await
    }

    /// The next message; `Ok(None)` when the stream ended, `Err` on a stream
    /// error or timeout.
    pub async fn next_message(&mut self, limit: Duration) -> Result<Option<ReceivedMessage>> {
        match tokio::time::timeout(limit, self.stream.next()).await {
            Err(_) => bail!("no message within {limit:?}"),
            Ok(None) => Ok(None),
            Ok(Some(Ok(m))) => Ok(Some(m)),
            Ok(Some(Err(e))) => Err(e.context("relay stream error")),
        }
    }

    /// Sends Ping(data) and waits for Pong(data). Packets arriving meanwhile are
    /// kept for [`Self::recv_packet`], PeerGone ids for [`Self::gone`]; server
    /// Pings are answered.
    pub async fn ping(&mut self, data: [u8; 8]) -> Result<()> {
        self.send_msg(SendMessage::Ping(data)).await?;
        loop {
            match self.next_message(CLIENT_TIMEOUT).await? {
                None => bail!("stream ended while waiting for Pong"),
                Some(ReceivedMessage::Pong(d)) if d == data => return Ok(()),
                Some(ReceivedMessage::Pong(d)) => bail!("Pong {d:02x?}, expected {data:02x?}"),
                Some(ReceivedMessage::Ping(d)) => self.send_msg(SendMessage::Pong(d)).await?,
                Some(ReceivedMessage::ReceivedPacket {
                    remote_node_id,
                    data,
                }) => self.pending.push_back((remote_node_id, data)),
                Some(ReceivedMessage::NodeGone(id)) => self.gone.push(id),
                Some(other) => bail!("unexpected {other:?} while waiting for Pong"),
            }
        }
    }

    /// The next packet (src, data), answering server Pings meanwhile.
    pub async fn recv_packet(&mut self) -> Result<(NodeId, Bytes)> {
        if let Some(p) = self.pending.pop_front() {
            return Ok(p);
        }
        loop {
            match self.next_message(CLIENT_TIMEOUT).await? {
                None => bail!("stream ended while waiting for a packet"),
                Some(ReceivedMessage::ReceivedPacket {
                    remote_node_id,
                    data,
                }) => return Ok((remote_node_id, data)),
                Some(ReceivedMessage::Ping(d)) => self.send_msg(SendMessage::Pong(d)).await?,
                Some(ReceivedMessage::KeepAlive) => {}
                Some(ReceivedMessage::NodeGone(id)) => self.gone.push(id),
                Some(other) => bail!("unexpected {other:?} while waiting for a packet"),
            }
        }
    }

    /// Requires the connection to end (EOF or error) without any further
    /// message, within `limit`.
    pub async fn expect_closed(&mut self, limit: Duration) -> Result<()> {
        if let Some(p) = self.pending.front() {
            bail!("packet from {} pending, expected close", p.0.fmt_short());
        }
        match tokio::time::timeout(limit, self.stream.next()).await {
            Err(_) => bail!("still open after {limit:?}"),
            Ok(None) | Ok(Some(Err(_))) => Ok(()),
            Ok(Some(Ok(m))) => bail!("expected close without a frame, got {m:?}"),
        }
    }

    /// Closes the sending half (flush + close / WS close).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(CLIENT_TIMEOUT, self.sink.close()).await;
    }
}

/// Connects `n` clients, `batch` at a time, alternating the upgrades. A
/// client the test does not poll cannot answer the server's pings (sent
/// 16-20 s after its last frame, 5 s to answer), so while a slow machine
/// connects many, the ones already connected are pinged every few seconds.
pub async fn connect_many(url: &RelayUrl, n: usize, batch: usize) -> Result<Vec<TestClient>> {
    const TOUCH_EVERY: Duration = Duration::from_secs(5);
    let mut clients: Vec<TestClient> = Vec::with_capacity(n);
    let mut touched = std::time::Instant::now();
    while clients.len() < n {
        let k = batch.max(1).min(n - clients.len());
        let base = clients.len();
        let joined = futures_util::future::join_all(
            (0..k).map(|i| TestClient::connect(url, PROTOCOLS[(base + i) % 2])),
        )
        .await;
        for (i, c) in joined.into_iter().enumerate() {
            clients.push(c.with_context(|| format!("client {}", base + i))?);
        }
        if touched.elapsed() > TOUCH_EVERY {
            for (i, c) in clients.iter_mut().enumerate() {
                c.ping(rand::random())
                    .await
                    .with_context(|| format!("keeping client {i} alive"))?;
            }
            touched = std::time::Instant::now();
        }
    }
    Ok(clients)
}
