//! One iroh 0.35 relay client over blocking std TCP: the `iroh derp http`
//! upgrade, a signed ClientInfo with a fresh key, then a Ping until its Pong
//! (what the 0.35 client takes as "connected"). Bytes go through
//! `proto` for every frame.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;

use super::net::{self, Failure, ReadError};
use super::target::Target;
use crate::proto::client_info::{self, PROTOCOL_VERSION};
use crate::proto::frame::decode;
use crate::proto::key::{short_hex, NodeKey};
use crate::proto::v035::client::{check_upgrade_response, upgrade_request, UpgradeError};
use crate::proto::{stream, Frame, FrameType};

/// A server frame, owned (the reader's buffer moves on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Packet {
        src: NodeKey,
        data: Vec<u8>,
    },
    Ping([u8; 8]),
    Pong([u8; 8]),
    Health(String),
    /// Anything else a client may get (KeepAlive, PeerGone, Restarting…).
    Other(FrameType),
}

/// Why no frame came.
#[derive(Debug)]
pub enum RecvError {
    Timeout,
    Closed,
    Io(std::io::Error),
    /// The relay sent bytes that are not a valid 0.35 frame.
    Protocol(String),
}

/// Reads 0.35 stream frames, keeping a partial one between calls.
#[derive(Debug)]
pub struct FrameReader {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl FrameReader {
    fn new(stream: TcpStream, pending: Vec<u8>) -> Self {
        FrameReader {
            stream,
            buf: pending,
        }
    }

    /// The next frame, waiting until `deadline` at most.
    pub fn next(&mut self, deadline: Instant) -> Result<Inbound, RecvError> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match stream::next_frame(&self.buf) {
                Ok(Some(raw)) => {
                    let frame = decode(raw.ty, &self.buf[raw.start..raw.end])
                        .map_err(|e| RecvError::Protocol(e.to_string()))?;
                    let inbound = match frame {
                        Frame::RecvPacket { src, packet } => Inbound::Packet {
                            src: *src,
                            data: packet.to_vec(),
                        },
                        Frame::Ping(d) => Inbound::Ping(d),
                        Frame::Pong(d) => Inbound::Pong(d),
                        Frame::Health(t) => Inbound::Health(t.to_owned()),
                        other => Inbound::Other(other.frame_type()),
                    };
                    self.buf.drain(..raw.end);
                    return Ok(inbound);
                }
                Ok(None) => {}
                Err(e) => return Err(RecvError::Protocol(e.to_string())),
            }
            match net::read_some(&mut self.stream, &mut chunk, deadline) {
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(ReadError::Timeout) => return Err(RecvError::Timeout),
                Err(ReadError::Closed) => return Err(RecvError::Closed),
                Err(ReadError::Io(e)) => return Err(RecvError::Io(e)),
            }
        }
    }
}

/// Writes frames; shared by the threads of one client, one frame per lock.
#[derive(Debug)]
pub struct FrameWriter(Mutex<TcpStream>);

impl FrameWriter {
    pub fn send(&self, frame: &Frame<'_>) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(5 + frame.payload_len());
        stream::encode(&mut out, frame);
        let mut s = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("writer lock poisoned"))?;
        s.write_all(&out)
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
        self.reader.stream.peer_addr().ok()
    }
}

/// Connects client `name` within `timeout`: TCP, upgrade, ClientInfo,
/// Ping/Pong. On success the detail says what was verified.
pub fn connect(
    target: &Target,
    addrs: &[SocketAddr],
    name: &'static str,
    timeout: Duration,
) -> Result<(Client, String), Failure> {
    let deadline = Instant::now() + timeout;
    let mut stream = net::connect(addrs, timeout)?;
    let peer = stream
        .peer_addr()
        .map_or_else(|_| target.authority(), |a| a.to_string());
    let _ = stream.set_write_timeout(Some(timeout));
    stream
        .write_all(&upgrade_request(&target.host_header))
        .map_err(|e| {
            Failure::new(format!(
                "client {name}: cannot send the upgrade to {peer}: {e}"
            ))
        })?;
    let pending = read_upgrade(&mut stream, &peer, target, name, deadline, timeout)?;

    let secret = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let key = secret.verifying_key().to_bytes();
    let info = client_info::build(&secret, PROTOCOL_VERSION);
    let ping: [u8; 8] = rand::random();
    let mut out = Vec::new();
    stream::encode(&mut out, &Frame::ClientInfo(&info));
    stream::encode(&mut out, &Frame::Ping(ping));
    stream.write_all(&out).map_err(|e| {
        Failure::new(format!(
            "client {name}: cannot send ClientInfo to {peer}: {e}"
        ))
    })?;
    let writer_stream = stream
        .try_clone()
        .map_err(|e| Failure::new(format!("client {name}: {e}")))?;
    let mut client = Client {
        name,
        key,
        reader: FrameReader::new(stream, pending),
        writer: FrameWriter(Mutex::new(writer_stream)),
    };
    loop {
        match client.reader.next(deadline) {
            Ok(Inbound::Pong(d)) if d == ping => break,
            Ok(Inbound::Ping(d)) => {
                let _ = client.writer.send(&Frame::Pong(d));
            }
            Ok(Inbound::Health(text)) => {
                let why = if text.contains("not authenticated") {
                    " (its access control does not admit unknown keys)"
                } else {
                    ""
                };
                return Err(Failure::new(format!(
                    "relay refused client {name}: Health({text:?}){why}"
                )));
            }
            Ok(_) => {}
            Err(RecvError::Timeout) => {
                return Err(Failure::new(format!(
                    "relay at {peer} accepted client {name}'s upgrade but did not answer its Ping within {}",
                    net::secs(timeout)
                )))
            }
            Err(RecvError::Closed) => {
                return Err(Failure::new(format!(
                    "relay at {peer} closed client {name}'s connection after its ClientInfo \
                     (handshake refused; the relay's log says why)"
                )))
            }
            Err(RecvError::Io(e)) => {
                return Err(Failure::new(format!(
                    "client {name}: reading from {peer}: {e}"
                )))
            }
            Err(RecvError::Protocol(e)) => {
                return Err(Failure::new(format!(
                    "relay at {peer} sent client {name} an invalid 0.35 frame: {e}"
                )))
            }
        }
    }
    let detail = format!(
        "upgrade, ClientInfo and Ping answered (key {})",
        short_hex(&key)
    );
    Ok((client, detail))
}

/// Reads the 101; returns the bytes after its head.
fn read_upgrade(
    stream: &mut TcpStream,
    peer: &str,
    target: &Target,
    name: &str,
    deadline: Instant,
    timeout: Duration,
) -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match net::read_some(stream, &mut chunk, deadline) {
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(ReadError::Timeout) => {
                return Err(Failure::new(format!(
                    "{peer} accepted client {name}'s connection but did not answer the relay upgrade (GET /relay) within {}",
                    net::secs(timeout)
                )))
            }
            Err(ReadError::Closed) => {
                return Err(Failure::new(format!(
                    "{peer} closed client {name}'s connection instead of answering the relay upgrade (GET /relay)"
                )))
            }
            Err(ReadError::Io(e)) => {
                return Err(Failure::new(format!(
                    "client {name}: reading the upgrade answer from {peer}: {e}"
                )))
            }
        }
        match check_upgrade_response(&buf) {
            Ok(Some(n)) => return Ok(buf.split_off(n)),
            Ok(None) => {}
            Err(UpgradeError::Status {
                status: 404,
                reason,
            }) => {
                return Err(Failure::new(format!(
                    "HTTP server at {} is not an iroh relay: /relay answered {}",
                    target.authority(),
                    status_text(404, &reason)
                )))
            }
            Err(UpgradeError::Status { status, reason }) => {
                return Err(Failure::new(format!(
                    "HTTP server at {} does not serve iroh 0.35 clients: /relay answered {} \
                     to `Upgrade: iroh derp http`",
                    target.authority(),
                    status_text(status, &reason)
                )))
            }
            Err(e) => {
                return Err(Failure::new(format!(
                    "{peer} is not an iroh relay: the relay upgrade {e}"
                )))
            }
        }
    }
}

/// `404 Not Found`, or `404` when the server sent no reason phrase.
pub fn status_text(status: u16, reason: &str) -> String {
    format!("{status} {reason}").trim_end().to_owned()
}
