//! One server connection driven through the relay's own sans-IO
//! [`Session`] (relay_proto::session), as a shard drives it: HTTP requests
//! until one upgrades, the handshake of the chosen family (signatures
//! checked, access allowed unless the token starts with `deny`), then
//! relay frames. Every step checks what the shard relies on: nothing
//! panics, a request for more bytes is for more than the buffer holds and
//! is bounded (so the bytes held for a connection stay bounded), and
//! everything the server would write reads back whole for a client of
//! the same dialect.

use std::time::{Duration, Instant, SystemTime};

use crate::proto::key::NodeKey;
use crate::proto::session::{Flow, Note, Relay, Session, Setup, SetupEnd};
use crate::proto::ws::MAX_MESSAGE;
use crate::proto::{Datagram, Dialect, ServerFrame};

use crate::{client_reads, CHALLENGE};

/// Longest websocket frame header (2 + 8 length + 4 mask bytes).
const WS_HEADER_MAX: usize = 14;
/// Most bytes any step may ask to have buffered.
pub const MAX_NEED: usize = MAX_MESSAGE + WS_HEADER_MAX;

/// A connection: the session and the bytes received but not yet used.
#[derive(Debug)]
pub struct Connection {
    session: Session,
    buf: Vec<u8>,
    dialect: Option<Dialect>,
    closed: bool,
    now: Instant,
    /// Relay frames handled (for seeds that must reach this far).
    pub frames: usize,
}

impl Default for Connection {
    fn default() -> Self {
        Self::new()
    }
}

impl Connection {
    pub fn new() -> Self {
        let now = Instant::now();
        Self {
            session: Session::new(now, CHALLENGE, 1),
            buf: Vec::new(),
            dialect: None,
            closed: false,
            now,
            frames: 0,
        }
    }

    /// Whether the session ended.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Appends one read and handles everything it completes.
    pub fn feed(&mut self, read: &[u8]) {
        if self.closed {
            return;
        }
        self.buf.extend_from_slice(read);
        if self.session.is_relaying() {
            self.relay();
        } else {
            self.setup();
        }
        if self.closed {
            self.buf = Vec::new();
        }
        assert!(self.buf.len() < MAX_NEED, "{} bytes held", self.buf.len());
    }

    fn setup(&mut self) {
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut step = self.session.setup(self.now, wall, &mut self.buf);
        loop {
            step = match step {
                Setup::Read(n) => {
                    assert!(n > self.buf.len(), "asked for {n} holding {}", self.buf.len());
                    assert!(n <= MAX_NEED, "asked for {n} bytes");
                    return;
                }
                Setup::Write(reply) => {
                    check_http_reply(&reply, false);
                    self.session.setup(self.now, wall, &mut self.buf)
                }
                Setup::Upgrade { reply, dialect } => {
                    let head = check_http_reply(&reply, true);
                    // The 1.x challenge follows the 101 in the same write.
                    let greeting = client_reads(dialect, &reply[head..]);
                    assert!(greeting.len() <= 1);
                    self.dialect = Some(dialect);
                    self.session.setup(self.now, wall, &mut self.buf)
                }
                Setup::Verify(sig) => self.session.signature(sig.verify_strict()),
                Setup::Authorize => {
                    let deny = self.session.token().is_some_and(|t| t.starts_with("deny"));
                    self.session.access(self.now, !deny)
                }
                Setup::Admitted { confirm } => {
                    if let (Some(c), Some(d)) = (confirm, self.dialect) {
                        assert_eq!(client_reads(d, &c).len(), 1);
                    }
                    return self.relay();
                }
                Setup::Close { reply, end } => {
                    match (reply, end, self.dialect) {
                        (Some(r), SetupEnd::Http, _) => {
                            check_http_reply(&r, false);
                        }
                        (Some(r), _, Some(d)) => {
                            assert_eq!(client_reads(d, &r).len(), 1);
                        }
                        (Some(_), _, None) => panic!("a frame reply before any upgrade"),
                        (None, ..) => {}
                    }
                    self.closed = true;
                    return;
                }
            };
        }
    }

    fn relay(&mut self) {
        let Some(dialect) = self.dialect else {
            panic!("relaying without a dialect");
        };
        let mut out = Check {
            dialect,
            frames: &mut self.frames,
        };
        match self.session.handle_input(self.now, &mut self.buf, &mut out) {
            Ok(Flow::Read(n)) => {
                assert!(n > self.buf.len(), "asked for {n} holding {}", self.buf.len());
                assert!(n <= MAX_NEED, "asked for {n} bytes");
            }
            Ok(Flow::Paused(_)) => panic!("paused without a receive limit"),
            Ok(Flow::Closed) | Err(_) => self.closed = true,
        }
    }
}

/// The shard's side of a relaying session, checking what it is handed.
struct Check<'a> {
    dialect: Dialect,
    frames: &'a mut usize,
}

impl Relay for Check<'_> {
    fn forward(&mut self, dst: &NodeKey, datagram: &Datagram<'_>) {
        *self.frames += 1;
        assert!(crate::proto::key::is_valid_point(dst));
        // Delivered to a receiver of the same dialect, from `dst`.
        let mut out = Vec::new();
        self.dialect.write_datagram(&mut out, dst, datagram);
        assert!(out.len() <= Dialect::datagram_cost(datagram.contents.len()));
        let frames = client_reads(self.dialect, &out);
        assert_eq!(frames.len(), 1);
        assert!(frames[0].1.ends_with(datagram.contents));
    }

    fn send(&mut self, frame: &ServerFrame<'_>) -> bool {
        let mut out = Vec::new();
        self.dialect.encode(&mut out, frame);
        let frames = client_reads(self.dialect, &out);
        assert!(frames.len() <= 1);
        if let (ServerFrame::Pong(data), Some(f)) = (frame, frames.first()) {
            assert_eq!(&f.1, data);
        }
        true
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        assert!(bytes.len() <= 2 + 125, "pong of {} bytes", bytes.len());
    }

    fn note(&mut self, note: Note) {
        if !matches!(note, Note::RateLimited { .. }) {
            *self.frames += 1;
        }
    }
}

/// A reply is one complete HTTP/1.1 response head (plus its body);
/// returns the head's length.
pub fn check_http_reply(reply: &[u8], upgrade: bool) -> usize {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let status = resp.parse(reply).expect("reply does not parse");
    let httparse::Status::Complete(len) = status else {
        panic!("reply head is incomplete");
    };
    let code = resp.code.unwrap_or(0);
    assert_eq!(code == 101, upgrade, "status {code}");
    len
}
