//! Client-to-upstream direction: forwards commands, answers some here.

use std::io;
use std::sync::Arc;

use imap_meta::wire::status_line;
use imap_meta::{parse_command, Boundary, CommandKind, Framer, Responder, SessionState};
use tokio::io::{AsyncReadExt, ReadHalf, WriteHalf};

use super::shared::Shared;
use super::{Context, HANDSHAKE_TIMEOUT};
use crate::net::{drain, send, within, BoxStream};

/// Where the bytes of the current command go.
enum Route {
    Upstream,
    /// Buffered and answered here once complete.
    Local(Vec<u8>),
}

enum Next {
    Continue,
    /// A limit was exceeded and the client was told; close gracefully.
    Close,
    /// Reply OK with this tag and start TLS.
    StartTls(Vec<u8>),
}

pub struct ClientSide {
    reader: Option<ReadHalf<BoxStream>>,
    upstream: WriteHalf<BoxStream>,
    shared: Arc<Shared>,
    ctx: Arc<Context>,
    framer: Framer,
    /// The line segment being read (literal data is never kept here).
    segment: Vec<u8>,
    /// The segment being read is the first of its command.
    first: bool,
    route: Route,
}

impl ClientSide {
    pub fn new(
        reader: ReadHalf<BoxStream>,
        upstream: WriteHalf<BoxStream>,
        shared: Arc<Shared>,
        ctx: Arc<Context>,
    ) -> Self {
        ClientSide {
            reader: Some(reader),
            upstream,
            framer: Framer::new(&ctx.stream_limits),
            shared,
            ctx,
            segment: Vec::new(),
            first: true,
            route: Route::Upstream,
        }
    }

    pub async fn run(mut self) -> io::Result<()> {
        let mut buf = vec![0; 32 * 1024];
        loop {
            let reader = self.reader.as_mut().ok_or(io::ErrorKind::NotConnected)?;
            let n = match within(self.ctx.idle_timeout, reader.read(&mut buf)).await {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    let _ = self
                        .shared
                        .reply(b"* BYE Idle timeout, closing connection\r\n")
                        .await;
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            match self.process(&buf[..n]).await? {
                Next::Continue => {}
                Next::Close => {
                    self.shared.close_client().await;
                    if let Some(reader) = self.reader.as_mut() {
                        drain(reader).await;
                    }
                    return Ok(());
                }
                // Anything the client sent after STARTTLS in the same packet
                // is dropped: it must not reach the encrypted session.
                Next::StartTls(tag) => self.start_tls(&tag).await?,
            }
        }
    }

    async fn process(&mut self, mut input: &[u8]) -> io::Result<Next> {
        let mut out = Vec::new();
        while !input.is_empty() {
            let in_literal = self.framer.in_literal();
            let (n, boundary) = match self.framer.step(input) {
                Ok(step) => step,
                Err(error) => {
                    self.forward(&mut out).await?;
                    tracing::info!("closing proxy session: {error}");
                    let mut head = self.segment.clone();
                    head.extend_from_slice(&input[..input.len().min(256)]);
                    let tag = if self.first {
                        command_head(&head).map(|h| h.0)
                    } else {
                        None
                    };
                    self.shared
                        .reply(&Responder::limit_exceeded(tag.as_deref(), &error))
                        .await?;
                    return Ok(Next::Close);
                }
            };
            let chunk = &input[..n];
            input = &input[n..];
            if !in_literal {
                self.segment.extend_from_slice(chunk);
            } else {
                match &mut self.route {
                    Route::Upstream => out.extend_from_slice(chunk),
                    Route::Local(buf) => buf.extend_from_slice(chunk),
                }
            }
            let Boundary::LineEnd(literal) = boundary else {
                if self.local_too_big() {
                    return self.refuse_too_big().await;
                }
                continue;
            };
            let segment = std::mem::take(&mut self.segment);
            if self.first {
                self.route = self.route_for(&segment, literal.is_some());
            }
            self.first = literal.is_none();
            match &mut self.route {
                Route::Upstream => out.extend_from_slice(&segment),
                Route::Local(buf) => buf.extend_from_slice(&segment),
            }
            if self.local_too_big() {
                return self.refuse_too_big().await;
            }
            match literal {
                Some(h) if h.synchronizing && matches!(self.route, Route::Local(_)) => {
                    self.forward(&mut out).await?;
                    self.shared.reply(b"+ Ready for literal data\r\n").await?;
                }
                Some(_) => {}
                None => {
                    if let Route::Local(command) =
                        std::mem::replace(&mut self.route, Route::Upstream)
                    {
                        self.forward(&mut out).await?;
                        match self.answer(&command).await? {
                            Next::Continue => {}
                            other => return Ok(other),
                        }
                    }
                }
            }
        }
        self.forward(&mut out).await?;
        Ok(Next::Continue)
    }

    async fn forward(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        if !out.is_empty() {
            send(&mut self.upstream, out, self.ctx.idle_timeout).await?;
            out.clear();
        }
        Ok(())
    }

    fn local_too_big(&self) -> bool {
        matches!(&self.route, Route::Local(buf) if buf.len() as u64 > self.ctx.limits.max_command)
    }

    async fn refuse_too_big(&mut self) -> io::Result<Next> {
        let tag = match &self.route {
            Route::Local(buf) => command_head(buf).map(|h| h.0),
            Route::Upstream => None,
        };
        let error = imap_meta::FrameError::CommandTooLong {
            limit: self.ctx.limits.max_command,
        };
        self.shared
            .reply(&Responder::limit_exceeded(tag.as_deref(), &error))
            .await?;
        Ok(Next::Close)
    }

    /// Decides from a command's first line where the command goes.
    fn route_for(&self, segment: &[u8], has_literal: bool) -> Route {
        let Some((tag, name)) = command_head(segment) else {
            // Not a command: IDLE's DONE, an AUTHENTICATE response line...
            return Route::Upstream;
        };
        let local = Route::Local(Vec::new());
        match name.as_str() {
            "GETMETADATA" | "SETMETADATA" => {
                if !self.shared.authenticated() {
                    // The upstream refuses it with its usual wording.
                    Route::Upstream
                } else if !has_literal
                    && self.shared.upstream_metadata()
                    && names_a_mailbox(segment, &self.ctx)
                {
                    Route::Upstream
                } else {
                    local
                }
            }
            "STARTTLS" | "COMPRESS" => local,
            "LOGIN" | "AUTHENTICATE" => {
                if self.shared.privacy_required() {
                    local
                } else {
                    self.shared.expect_auth_reply(&tag);
                    Route::Upstream
                }
            }
            _ => Route::Upstream,
        }
    }

    async fn answer(&mut self, command: &[u8]) -> io::Result<Next> {
        let cmd = match parse_command(command, &self.ctx.limits) {
            Ok(cmd) => cmd,
            Err(e) => {
                self.shared.reply(&Responder::reject(&e)).await?;
                return Ok(Next::Continue);
            }
        };
        let tag = Some(cmd.tag.as_slice());
        let reply = match &cmd.kind {
            CommandKind::GetMetadata(_) | CommandKind::SetMetadata(_) => self
                .ctx
                .responder
                .respond(&cmd, SessionState::Authenticated)
                .unwrap_or_default(),
            CommandKind::StartTls
                if self.shared.privacy_required() && !self.shared.authenticated() =>
            {
                return Ok(Next::StartTls(cmd.tag));
            }
            CommandKind::StartTls => status_line(tag, "BAD", None, "STARTTLS is not available"),
            CommandKind::Login { .. } | CommandKind::Authenticate { .. } => {
                status_line(tag, "NO", Some("PRIVACYREQUIRED"), "Run STARTTLS first")
            }
            _ => status_line(tag, "NO", None, "Not available through this proxy"),
        };
        self.shared.reply(&reply).await?;
        Ok(Next::Continue)
    }

    async fn start_tls(&mut self, tag: &[u8]) -> io::Result<()> {
        let Some((acceptor, _)) = &self.ctx.client_tls else {
            return Err(io::ErrorKind::Unsupported.into());
        };
        let mut guard = self.shared.writer.lock().await;
        let mut writer = guard.take().ok_or(io::ErrorKind::NotConnected)?;
        let ok = status_line(Some(tag), "OK", None, "Begin TLS negotiation now");
        send(&mut writer, &ok, self.shared.idle_timeout).await?;
        let reader = self.reader.take().ok_or(io::ErrorKind::NotConnected)?;
        let plain = reader.unsplit(writer);
        let tls = within(HANDSHAKE_TIMEOUT, acceptor.accept(plain)).await?;
        let boxed: BoxStream = Box::new(tls);
        let (reader, writer) = tokio::io::split(boxed);
        *guard = Some(writer);
        self.reader = Some(reader);
        self.shared.set_tls_active();
        self.framer.reset();
        self.segment.clear();
        self.first = true;
        self.route = Route::Upstream;
        Ok(())
    }
}

/// Tag and upper-cased command name from the start of a command line.
fn command_head(line: &[u8]) -> Option<(Vec<u8>, String)> {
    let mut words = line.split(|&b| b == b' ');
    let tag = words.next().filter(|t| !t.is_empty())?;
    let name = words.next()?;
    let name = name.strip_suffix(b"\n").unwrap_or(name);
    let name = name.strip_suffix(b"\r").unwrap_or(name);
    if name.is_empty() || !name.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    Some((
        tag.to_vec(),
        String::from_utf8_lossy(name).to_ascii_uppercase(),
    ))
}

/// `true` if a complete one-line GETMETADATA/SETMETADATA names a mailbox
/// rather than the server (`""`).
fn names_a_mailbox(line: &[u8], ctx: &Context) -> bool {
    match parse_command(line, &ctx.limits).map(|c| c.kind) {
        Ok(CommandKind::GetMetadata(g)) => !g.is_server(),
        Ok(CommandKind::SetMetadata(s)) => !s.is_server(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        assert_eq!(
            command_head(b"A0005 getmetadata \"\" x\r\n"),
            Some((b"A0005".to_vec(), "GETMETADATA".to_owned()))
        );
        assert_eq!(
            command_head(b"a1 NOOP\r\n"),
            Some((b"a1".to_vec(), "NOOP".to_owned()))
        );
        assert_eq!(command_head(b"DONE\r\n"), None);
        assert_eq!(command_head(b"dGVzdA==\r\n"), None);
        assert_eq!(command_head(b"\r\n"), None);
        assert_eq!(command_head(b" NOOP\r\n"), None);
    }
}
