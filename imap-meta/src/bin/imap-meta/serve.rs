//! `imap-meta serve`: a minimal IMAP server that answers METADATA.
//!
//! It knows CAPABILITY, ID, NOOP, LOGIN, AUTHENTICATE PLAIN (with SASL-IR or
//! the continuation form), GETMETADATA, SETMETADATA and LOGOUT. It has no
//! mailboxes; every other command gets `NO`.

use std::io;
use std::sync::Arc;

use anyhow::Result;
use imap_meta::wire::status_line;
use imap_meta::{Command, CommandKind, Decoder, Event, Responder, SessionState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::{Common, ServeSettings};
use crate::net::{accept_loop, bind, drain, send, within, BoxStream};
use crate::users::{decode_plain, Users};

const CAPS_BEFORE_LOGIN: &str = "IMAP4rev1 LITERAL+ SASL-IR ID AUTH=PLAIN METADATA";
const CAPS_AFTER_LOGIN: &str = "IMAP4rev1 LITERAL+ SASL-IR ID METADATA";

struct Context {
    common: Common,
    users: Option<Users>,
}

pub async fn run(settings: ServeSettings) -> Result<()> {
    let users = match &settings.users {
        Some(path) => {
            let users = Users::load(path)?;
            tracing::info!(users = users.len(), "loaded users file {}", path.display());
            Some(users)
        }
        None => {
            tracing::warn!("development mode: no --users file, every LOGIN is accepted");
            None
        }
    };
    let ctx = Arc::new(Context {
        common: settings.common,
        users,
    });
    let listener = bind(settings.listen, "serve").await?;
    accept_loop(listener, ctx.common.max_connections, move |stream, peer| {
        let ctx = ctx.clone();
        async move {
            match Session::new(stream, ctx).run().await {
                Ok(()) => tracing::debug!(%peer, "session closed"),
                Err(e) => tracing::debug!(%peer, "session ended: {e}"),
            }
        }
    })
    .await?;
    Ok(())
}

enum Flow {
    Continue,
    Close,
}

struct Session {
    stream: BoxStream,
    decoder: Decoder,
    state: SessionState,
    ctx: Arc<Context>,
    buf: Vec<u8>,
}

impl Session {
    fn new(stream: TcpStream, ctx: Arc<Context>) -> Self {
        Session {
            stream: Box::new(stream),
            decoder: Decoder::new(ctx.common.limits.clone()),
            state: SessionState::NotAuthenticated,
            ctx,
            buf: vec![0; 16 * 1024],
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        send(&mut self.stream, bytes, self.ctx.common.idle_timeout).await
    }

    /// Reads more input into the decoder. `Ok(false)`: the client is gone
    /// or idle for too long (it was told so).
    async fn fill(&mut self) -> io::Result<bool> {
        let limit = self.ctx.common.idle_timeout;
        match within(limit, self.stream.read(&mut self.buf)).await {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.decoder.push(&self.buf[..n]);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                self.write(b"* BYE Idle timeout, closing connection\r\n")
                    .await?;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    async fn run(mut self) -> io::Result<()> {
        let greeting = format!("* OK [CAPABILITY {CAPS_BEFORE_LOGIN}] imap-meta ready\r\n");
        self.write(greeting.as_bytes()).await?;
        loop {
            match self.decoder.next_event() {
                Ok(Event::NeedMore(_)) => {
                    if !self.fill().await? {
                        return Ok(());
                    }
                }
                Ok(Event::Continuation { .. }) => {
                    self.write(b"+ Ready for literal data\r\n").await?
                }
                Ok(Event::Invalid(e)) => self.write(&Responder::reject(&e)).await?,
                Ok(Event::Command(cmd)) => {
                    if let Flow::Close = self.handle(cmd).await? {
                        return Ok(());
                    }
                }
                Err(limit) => {
                    tracing::info!("closing session: {limit}");
                    let reply = Responder::limit_exceeded(limit.tag.as_deref(), &limit.error);
                    self.write(&reply).await?;
                    let _ = within(self.ctx.common.idle_timeout, self.stream.shutdown()).await;
                    drain(&mut self.stream).await;
                    return Ok(());
                }
            }
        }
    }

    async fn handle(&mut self, cmd: Command) -> io::Result<Flow> {
        let tag = cmd.tag.as_slice();
        let authenticated = self.state == SessionState::Authenticated;
        let reply = match &cmd.kind {
            CommandKind::Capability => {
                let caps = if authenticated {
                    CAPS_AFTER_LOGIN
                } else {
                    CAPS_BEFORE_LOGIN
                };
                let mut out = format!("* CAPABILITY {caps}\r\n").into_bytes();
                out.extend(status_line(Some(tag), "OK", None, "CAPABILITY completed"));
                out
            }
            CommandKind::Noop => status_line(Some(tag), "OK", None, "NOOP completed"),
            CommandKind::Id(_) => {
                let mut out = format!(
                    "* ID (\"name\" \"imap-meta\" \"version\" \"{}\")\r\n",
                    env!("CARGO_PKG_VERSION")
                )
                .into_bytes();
                out.extend(status_line(Some(tag), "OK", None, "ID completed"));
                out
            }
            CommandKind::Logout => {
                let mut out = b"* BYE Logging out\r\n".to_vec();
                out.extend(status_line(Some(tag), "OK", None, "LOGOUT completed"));
                self.write(&out).await?;
                return Ok(Flow::Close);
            }
            CommandKind::Login { .. } | CommandKind::Authenticate { .. } if authenticated => {
                status_line(Some(tag), "BAD", None, "Already authenticated")
            }
            CommandKind::Login { user, password } => self.login(tag, user, password),
            CommandKind::Authenticate {
                mechanism,
                initial_response,
            } => {
                if mechanism != "PLAIN" {
                    status_line(
                        Some(tag),
                        "NO",
                        None,
                        "Only AUTHENTICATE PLAIN is supported",
                    )
                } else {
                    match self.sasl_response(initial_response.as_deref()).await? {
                        SaslInput::Response(data) => match decode_plain(&data) {
                            Some((user, password)) => self.login(tag, &user, &password),
                            None => status_line(
                                Some(tag),
                                "NO",
                                Some("AUTHENTICATIONFAILED"),
                                "Invalid SASL PLAIN message",
                            ),
                        },
                        SaslInput::Cancelled => {
                            status_line(Some(tag), "BAD", None, "AUTHENTICATE cancelled")
                        }
                        SaslInput::Closed => return Ok(Flow::Close),
                    }
                }
            }
            CommandKind::GetMetadata(req) if authenticated && !req.is_server() => no_mailboxes(tag),
            CommandKind::SetMetadata(req) if authenticated && !req.is_server() => no_mailboxes(tag),
            CommandKind::GetMetadata(_) | CommandKind::SetMetadata(_) => {
                match self.ctx.common.responder.respond(&cmd, self.state) {
                    Some(reply) => reply,
                    None => status_line(Some(tag), "BAD", None, "Unexpected command"),
                }
            }
            CommandKind::StartTls => status_line(
                Some(tag),
                "NO",
                None,
                "STARTTLS is not supported by imap-meta serve",
            ),
            CommandKind::Other { name } => status_line(
                Some(tag),
                "NO",
                None,
                &format!("{name} is not supported: imap-meta serve only answers METADATA"),
            ),
        };
        self.write(&reply).await?;
        Ok(Flow::Continue)
    }

    fn login(&mut self, tag: &[u8], user: &[u8], password: &[u8]) -> Vec<u8> {
        let accepted = match &self.ctx.users {
            Some(users) => users.check(user, password),
            None => true,
        };
        let user = String::from_utf8_lossy(user);
        if !accepted {
            tracing::info!(%user, "login failed");
            return status_line(
                Some(tag),
                "NO",
                Some("AUTHENTICATIONFAILED"),
                "Invalid credentials",
            );
        }
        tracing::debug!(%user, "logged in");
        self.state = SessionState::Authenticated;
        status_line(
            Some(tag),
            "OK",
            Some(&format!("CAPABILITY {CAPS_AFTER_LOGIN}")),
            "Logged in",
        )
    }

    /// The SASL client response: the initial response if one was sent,
    /// otherwise one line read after a `+` continuation request.
    async fn sasl_response(&mut self, initial: Option<&[u8]>) -> io::Result<SaslInput> {
        if let Some(ir) = initial {
            // "=" stands for an empty initial response.
            return Ok(SaslInput::Response(if ir == b"=" {
                Vec::new()
            } else {
                ir.to_vec()
            }));
        }
        self.write(b"+ \r\n").await?;
        loop {
            match self.decoder.next_line() {
                Ok(Some(line)) if line == b"*" => return Ok(SaslInput::Cancelled),
                Ok(Some(line)) => return Ok(SaslInput::Response(line)),
                Ok(None) => {
                    if !self.fill().await? {
                        return Ok(SaslInput::Closed);
                    }
                }
                Err(limit) => {
                    let reply = Responder::limit_exceeded(None, &limit.error);
                    self.write(&reply).await?;
                    return Ok(SaslInput::Closed);
                }
            }
        }
    }
}

enum SaslInput {
    Response(Vec<u8>),
    Cancelled,
    Closed,
}

fn no_mailboxes(tag: &[u8]) -> Vec<u8> {
    status_line(
        Some(tag),
        "NO",
        Some("NONEXISTENT"),
        "imap-meta serve has no mailboxes; use \"\" for server entries",
    )
}
