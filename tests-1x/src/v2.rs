//! The real iroh-relay 1.4.1 client, which offers `iroh-relay-v2,
//! iroh-relay-v1` and so speaks v2 to a current server.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use iroh_base::{EndpointId, RelayUrl, SecretKey};
use iroh_relay::client::{ClientBuilder, ClientSink, ClientStream};
use iroh_relay::protos::relay::{ClientToRelayMsg, Datagrams, RelayToClientMsg};
use n0_future::{SinkExt, StreamExt};

use crate::T;

pub struct Client {
    pub key: SecretKey,
    sink: ClientSink,
    stream: ClientStream,
}

/// A relay client builder for `url` (plain HTTP; the TLS config is still
/// required by the 1.4.1 API).
pub fn builder(url: &RelayUrl, key: SecretKey) -> ClientBuilder {
    let tls = iroh_relay::tls::CaTlsConfig::default()
        .client_config(iroh_relay::tls::default_provider())
        .expect("tls config");
    ClientBuilder::new(url.clone(), key, iroh::dns::DnsResolver::new()).tls_client_config(tls)
}

impl Client {
    pub async fn connect(url: &RelayUrl) -> Result<Self> {
        Self::connect_key(url, crate::secret()).await
    }

    pub async fn connect_key(url: &RelayUrl, key: [u8; 32]) -> Result<Self> {
        let key = SecretKey::from_bytes(&key);
        Self::connect_with(builder(url, key.clone()), key).await
    }

    /// Connects with `b` (made for `key`) and waits for the Pong to a first
    /// Ping, as iroh does.
    pub async fn connect_with(b: ClientBuilder, key: SecretKey) -> Result<Self> {
        let client = tokio::time::timeout(T, b.connect())
            .await
            .context("connect timed out")?
            .context("connect failed")?;
        let (stream, sink) = client.split();
        let mut c = Self { key, sink, stream };
        c.ping(rand::random()).await.context("first ping")?;
        Ok(c)
    }

    pub fn id(&self) -> EndpointId {
        self.key.public()
    }

    pub async fn send_msg(&mut self, msg: ClientToRelayMsg) -> Result<()> {
        tokio::time::timeout(T, self.sink.send(msg))
            .await
            .context("send timed out")?
            .context("send failed")
    }

    pub async fn send(&mut self, dst: EndpointId, datagrams: impl Into<Datagrams>) -> Result<()> {
        self.send_msg(ClientToRelayMsg::Datagrams {
            dst_endpoint_id: dst,
            datagrams: datagrams.into(),
        })
        .await
    }

    /// The next message; `None` when the connection ended.
    pub async fn next(&mut self, limit: Duration) -> Result<Option<RelayToClientMsg>> {
        match tokio::time::timeout(limit, self.stream.next()).await {
            Err(_) => bail!("no message within {limit:?}"),
            Ok(None) => Ok(None),
            Ok(Some(r)) => Ok(Some(r.context("relay stream error")?)),
        }
    }

    /// Sends Ping(data) and waits for its Pong, answering server Pings.
    pub async fn ping(&mut self, data: [u8; 8]) -> Result<()> {
        self.ping_collect(data).await.map(drop)
    }

    /// As [`Self::ping`], returning every other message that came first.
    pub async fn ping_collect(&mut self, data: [u8; 8]) -> Result<Vec<RelayToClientMsg>> {
        self.send_msg(ClientToRelayMsg::Ping(data)).await?;
        let mut other = Vec::new();
        loop {
            match self.next(T).await? {
                Some(RelayToClientMsg::Pong(d)) if d == data => return Ok(other),
                Some(RelayToClientMsg::Ping(d)) => self.send_msg(ClientToRelayMsg::Pong(d)).await?,
                Some(m) => other.push(m),
                None => bail!("closed while waiting for Pong"),
            }
        }
    }

    /// The next datagrams (source, datagrams), answering server Pings and
    /// skipping other messages.
    pub async fn recv(&mut self) -> Result<(EndpointId, Datagrams)> {
        loop {
            match self.next(T).await? {
                Some(RelayToClientMsg::Datagrams {
                    remote_endpoint_id,
                    datagrams,
                }) => return Ok((remote_endpoint_id, datagrams)),
                Some(RelayToClientMsg::Ping(d)) => self.send_msg(ClientToRelayMsg::Pong(d)).await?,
                Some(_) => {}
                None => bail!("closed while waiting for a datagram"),
            }
        }
    }

    /// The contents of the next datagram from `src`.
    pub async fn recv_from(&mut self, src: EndpointId) -> Result<Bytes> {
        let (from, d) = self.recv().await?;
        if from != src {
            bail!("datagram from {from}, expected {src}");
        }
        Ok(d.contents)
    }

    /// Waits (bounded) until the server closes the connection.
    pub async fn expect_closed(&mut self, limit: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.stream.next()).await {
                Err(_) => bail!("still open after {limit:?}"),
                Ok(None) | Ok(Some(Err(_))) => return Ok(()),
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.sink.close().await;
    }
}
