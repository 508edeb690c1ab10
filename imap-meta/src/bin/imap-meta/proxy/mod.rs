//! `imap-meta proxy`: a transparent IMAP proxy that adds METADATA.
//!
//! Every byte passes through unchanged except:
//!
//! * capability lists from the upstream (greeting code, `* CAPABILITY`,
//!   `[CAPABILITY ...]` after LOGIN/AUTHENTICATE) get `METADATA` added and
//!   lose what cannot pass through a proxy that reads the stream:
//!   `COMPRESS=*`, `STARTTLS` (TLS is terminated here), `UNAUTHENTICATE`,
//!   and the upstream's own `METADATA`/`METADATA-SERVER`;
//! * once the session is authenticated, GETMETADATA and SETMETADATA on the
//!   server (mailbox `""`) are answered here from the configured entries;
//! * GETMETADATA/SETMETADATA on a mailbox go to the upstream if its
//!   post-login capabilities include `METADATA` (e.g. Dovecot with
//!   `imap_metadata = yes`, which stores push tokens that way); otherwise
//!   they are answered here: `NIL` for every entry, SETMETADATA refused;
//! * `STARTTLS` and `COMPRESS` are answered here, never forwarded.
//!
//! Client literals are tracked, so literal data (APPEND, SETMETADATA
//! values) is never taken for commands; IDLE and AUTHENTICATE exchanges
//! pass through like any other lines.

mod client;
mod shared;
mod upstream;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use imap_meta::{Limits, Responder};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::cli::TlsMode;
use crate::config::ProxySettings;
use crate::net::{accept_loop, bind, naming, send, within, BoxStream};
use crate::tls;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Commands answered here are buffered whole; none needs more than this.
const MAX_LOCAL_COMMAND: u64 = 1024 * 1024;

pub struct Context {
    pub responder: Arc<Responder>,
    /// Limits for commands answered here.
    pub limits: Limits,
    /// Limits for the pass-through stream.
    pub stream_limits: Limits,
    pub idle_timeout: Duration,
    pub client_tls: Option<(TlsAcceptor, TlsMode)>,
    upstream: String,
    upstream_tls: Option<(TlsConnector, ServerName<'static>)>,
}

pub async fn run(settings: ProxySettings) -> Result<()> {
    let client_tls = match &settings.client_tls {
        Some(t) => Some((tls::acceptor(&t.cert, &t.key)?, t.mode)),
        None => None,
    };
    let upstream_tls = if settings.upstream_tls {
        if settings.upstream_tls_insecure {
            tracing::warn!("upstream TLS certificate is not verified (--upstream-tls-insecure)");
        }
        let connector = tls::connector(
            settings.upstream_ca.as_deref(),
            settings.upstream_tls_insecure,
        )?;
        let name = tls::server_name(&settings.upstream, settings.upstream_server_name.as_deref())?;
        Some((connector, name))
    } else {
        None
    };
    if client_tls.is_none() {
        tracing::warn!("no --tls-cert/--tls-key: clients connect without TLS");
    }
    let ctx = Arc::new(Context {
        responder: settings.common.responder.clone(),
        limits: Limits {
            max_command: settings.common.limits.max_command.min(MAX_LOCAL_COMMAND),
            ..settings.common.limits.clone()
        },
        stream_limits: settings.stream_limits,
        idle_timeout: settings.common.idle_timeout,
        client_tls,
        upstream: settings.upstream,
        upstream_tls,
    });
    let listener = bind(settings.listen, "proxy").await?;
    accept_loop(
        listener,
        settings.common.max_connections,
        move |stream, peer| {
            let ctx = ctx.clone();
            async move {
                match session(stream, ctx).await {
                    Ok(()) => tracing::debug!(%peer, "session closed"),
                    Err(e) => tracing::debug!(%peer, "session ended: {e}"),
                }
            }
        },
    )
    .await?;
    Ok(())
}

/// A failure names the upstream: `cannot connect to upstream
/// 127.0.0.1:143: connection refused`.
async fn connect_upstream(ctx: &Context) -> io::Result<BoxStream> {
    let upstream = &ctx.upstream;
    let tcp = within(CONNECT_TIMEOUT, TcpStream::connect(upstream))
        .await
        .map_err(|e| naming(e, format_args!("cannot connect to upstream {upstream}")))?;
    let _ = tcp.set_nodelay(true);
    match &ctx.upstream_tls {
        None => Ok(Box::new(tcp)),
        Some((connector, name)) => {
            let tls = within(HANDSHAKE_TIMEOUT, connector.connect(name.clone(), tcp))
                .await
                .map_err(|e| naming(e, format_args!("TLS with upstream {upstream} failed")))?;
            Ok(Box::new(tls))
        }
    }
}

async fn session(tcp: TcpStream, ctx: Arc<Context>) -> io::Result<()> {
    let mut client: BoxStream = match &ctx.client_tls {
        Some((acceptor, TlsMode::Implicit)) => {
            Box::new(within(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await?)
        }
        _ => Box::new(tcp),
    };
    let upstream = match connect_upstream(&ctx).await {
        Ok(stream) => stream,
        Err(e) => {
            tracing::warn!("{e}");
            let bye = b"* BYE Upstream server unavailable, try again later\r\n";
            let _ = send(&mut client, bye, Duration::from_secs(5)).await;
            return Err(e);
        }
    };
    let (client_r, client_w) = tokio::io::split(client);
    let (upstream_r, upstream_w) = tokio::io::split(upstream);
    let starttls = matches!(ctx.client_tls, Some((_, TlsMode::Starttls)));
    let shared = Arc::new(shared::Shared::new(client_w, starttls, ctx.idle_timeout));
    let client_side = client::ClientSide::new(client_r, upstream_w, shared.clone(), ctx.clone());
    let result = tokio::select! {
        r = client_side.run() => r,
        r = upstream::run(upstream_r, shared.clone()) => r,
    };
    shared.close_client().await;
    result
}
