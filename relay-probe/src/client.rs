//! One relay client over a blocking connection, as an iroh client of the
//! chosen protocol connects: the upgrade, the handshake with a fresh key
//! (0.35: a signed ClientInfo; 1.x: the answer to the server's challenge),
//! then a Ping until its Pong (what the clients take as "connected").

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use ed25519_dalek::SigningKey;
use rustls::ClientConfig;

use super::codec::{encode, Decoder};
pub use super::codec::{Inbound, Outbound, Protocol};
use super::conn::{self, Conn, ConnWriter};
use super::net::{self, Failure, ReadError};
use super::options::Options;
use super::upgrade;
use relay_proto::client_info::{self, PROTOCOL_VERSION};
use relay_proto::key::{short_hex, NodeKey};
use relay_proto::v1x::handshake::client_auth;

/// Why no frame came.
#[derive(Debug)]
pub enum RecvError {
    Timeout,
    Closed,
    Io(std::io::Error),
    /// The relay sent bytes that are not a valid frame.
    Protocol(String),
}

/// Reads frames, keeping a partial one between calls.
#[derive(Debug)]
pub struct FrameReader {
    conn: Conn,
    decoder: Decoder,
    buf: Vec<u8>,
}

impl FrameReader {
    /// The next frame, waiting until `deadline` at most.
    pub fn next(&mut self, deadline: Instant) -> Result<Inbound, RecvError> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.decoder.next(&mut self.buf) {
                Ok(Some((inbound, used))) => {
                    self.buf.drain(..used);
                    return Ok(inbound);
                }
                Ok(None) => {}
                Err(e) => return Err(RecvError::Protocol(e)),
            }
            match self.conn.read_some(&mut chunk, deadline) {
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(ReadError::Timeout) => return Err(RecvError::Timeout),
                Err(ReadError::Closed) => return Err(RecvError::Closed),
                Err(ReadError::Io(e)) => return Err(RecvError::Io(e)),
            }
        }
    }
}

/// Writes frames; shared by the threads of one client, one frame per write.
#[derive(Debug)]
pub struct FrameWriter {
    protocol: Protocol,
    out: ConnWriter,
}

impl FrameWriter {
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    pub fn send(&self, msg: &Outbound<'_>) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(64);
        encode(self.protocol, &mut bytes, msg);
        self.out.write_all(&bytes)
    }
}

/// A connected client.
#[derive(Debug)]
pub struct Client {
    /// "A" or "B", as reports name them.
    pub name: &'static str,
    pub key: NodeKey,
    pub reader: FrameReader,
    pub writer: FrameWriter,
}

impl Client {
    /// The relay's address as connected.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.reader.conn.peer()
    }
}

/// What a report says about a Restarting frame.
pub fn restarting_text(reconnect_in_ms: u32, try_for_ms: u32) -> String {
    format!(
        "relay is restarting (sent Restarting: reconnect in {reconnect_in_ms} ms, try for {try_for_ms} ms)"
    )
}

/// Whether `reason` is [`restarting_text`]'s.
pub fn is_restart(reason: &str) -> bool {
    reason.starts_with("relay is restarting")
}

/// Connects client `name` within `opts.timeout`: TCP (and TLS), upgrade,
/// handshake, Ping/Pong. On success the detail says what was verified.
pub fn connect(
    opts: &Options,
    addrs: &[SocketAddr],
    tls: Option<&Arc<ClientConfig>>,
    name: &'static str,
) -> Result<(Client, String), Failure> {
    let timeout = opts.timeout;
    let deadline = Instant::now() + timeout;
    let mut conn = conn::connect(&opts.target, addrs, tls, timeout)?;
    let peer = conn
        .peer()
        .map_or_else(|| opts.target.authority(), |a| a.to_string());
    let writer = conn
        .writer()
        .map_err(|e| Failure::new(format!("client {name}: {e}")))?;
    let switched = upgrade::upgrade(opts, &mut conn, &writer, &peer, name, deadline)?;
    let secret = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let key = secret.verifying_key().to_bytes();
    let mut client = Client {
        name,
        key,
        reader: FrameReader {
            conn,
            decoder: Decoder::new(opts.protocol),
            buf: switched.pending,
        },
        writer: FrameWriter {
            protocol: opts.protocol,
            out: writer,
        },
    };
    let ping: [u8; 8] = rand::random();
    let send = |c: &Client, m: &Outbound<'_>, what: &str| {
        c.writer
            .send(m)
            .map_err(|e| Failure::new(format!("client {name}: cannot send {what} to {peer}: {e}")))
    };
    if opts.protocol.version().is_none() {
        let info = client_info::build(&secret, PROTOCOL_VERSION);
        send(&client, &Outbound::Handshake(&info), "ClientInfo")?;
        send(&client, &Outbound::Ping(ping), "a Ping")?;
    }
    loop {
        let why = match client.reader.next(deadline) {
            Ok(Inbound::Pong(d)) if d == ping => break,
            Ok(Inbound::Challenge(c)) => {
                send(&client, &Outbound::Handshake(&client_auth(&secret, &c)), "ClientAuth")?;
                continue;
            }
            Ok(Inbound::Confirmed) => {
                send(&client, &Outbound::Ping(ping), "a Ping")?;
                continue;
            }
            Ok(Inbound::Ping(d)) => {
                let _ = client.writer.send(&Outbound::Pong(d));
                continue;
            }
            Ok(Inbound::Health(text)) if opts.protocol.version().is_none() => {
                refused_035(opts, name, &text)
            }
            Ok(Inbound::Denied(text)) => denied_1x(opts, name, &text),
            Ok(Inbound::Restarting {
                reconnect_in_ms,
                try_for_ms,
            }) => format!(
                "{} to client {name} during its handshake",
                restarting_text(reconnect_in_ms, try_for_ms)
            ),
            Ok(_) => continue,
            Err(RecvError::Timeout) => format!(
                "relay at {peer} accepted client {name}'s upgrade but did not answer its {} within {}",
                if opts.protocol.version().is_some() { "handshake and Ping" } else { "Ping" },
                net::secs(timeout)
            ),
            Err(RecvError::Closed) => format!(
                "relay at {peer} closed client {name}'s connection during its handshake \
                 (handshake refused; the relay's log says why)"
            ),
            Err(RecvError::Io(e)) => format!("client {name}: reading from {peer}: {e}"),
            Err(RecvError::Protocol(e)) => format!(
                "relay at {peer} sent client {name} an invalid {} frame: {e}",
                opts.protocol.name()
            ),
        };
        return Err(Failure::new(why));
    }
    let detail = match switched.protocol {
        Some(p) => format!(
            "upgrade ({p}), challenge and Ping answered (key {})",
            short_hex(&key)
        ),
        None => format!(
            "upgrade, ClientInfo and Ping answered (key {})",
            short_hex(&key)
        ),
    };
    Ok((client, detail))
}

/// The token the probe holds: `--token`, else the URL's `?token=`.
fn token(opts: &Options) -> Option<&str> {
    opts.token.as_deref().or(opts.target.token.as_deref())
}

/// A 0.35 client's Health refusal, in words.
fn refused_035(opts: &Options, name: &str, text: &str) -> String {
    let why = if !text.contains("not authenticated") {
        String::new()
    } else if token(opts).is_some() {
        " (the relay requires an access token (access.shared_token), which iroh 0.35 \
         clients cannot send, so Delta Chat's 0.35 clients are refused; \
         --protocol v2 checks the token)"
            .to_owned()
    } else {
        " (its access control does not admit unknown keys, or the relay requires an \
         access token (access.shared_token), which iroh 0.35 clients cannot send)"
            .to_owned()
    };
    format!("relay refused client {name}: Health({text:?}){why}")
}

/// A 1.x client's ServerDeniesAuth, in words.
fn denied_1x(opts: &Options, name: &str, text: &str) -> String {
    let why = if token(opts).is_some() {
        "the relay did not accept the token, or its access control does not admit this key"
    } else {
        "its access control does not admit unknown keys; a relay with access.shared_token \
         needs --token TOKEN or ?token= in the URL"
    };
    format!("relay denied client {name}: ServerDeniesAuth({text:?}) ({why})")
}
