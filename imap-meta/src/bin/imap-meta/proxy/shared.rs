//! State both directions of a proxy session look at.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use imap_meta::{capabilities_in, CapabilityEditor};
use tokio::io::{AsyncWriteExt, WriteHalf};

use crate::net::{within, BoxStream};

/// The client's write half. Whoever writes a complete response holds the
/// lock, so answers made here never land inside an upstream response.
pub type ClientWriter = Arc<tokio::sync::Mutex<Option<WriteHalf<BoxStream>>>>;

pub struct Shared {
    pub writer: ClientWriter,
    pub idle_timeout: Duration,
    /// STARTTLS towards the client is offered (and required before login).
    pub starttls: bool,
    tls_active: AtomicBool,
    authenticated: AtomicBool,
    upstream_metadata: AtomicBool,
    /// Tags of LOGIN/AUTHENTICATE commands waiting for their tagged reply.
    pending_auth: Mutex<Vec<Vec<u8>>>,
}

impl Shared {
    pub fn new(writer: WriteHalf<BoxStream>, starttls: bool, idle_timeout: Duration) -> Self {
        Shared {
            writer: Arc::new(tokio::sync::Mutex::new(Some(writer))),
            idle_timeout,
            starttls,
            tls_active: AtomicBool::new(!starttls),
            authenticated: AtomicBool::new(false),
            upstream_metadata: AtomicBool::new(false),
            pending_auth: Mutex::new(Vec::new()),
        }
    }

    pub fn authenticated(&self) -> bool {
        self.authenticated.load(Ordering::SeqCst)
    }

    pub fn upstream_metadata(&self) -> bool {
        self.upstream_metadata.load(Ordering::SeqCst)
    }

    pub fn tls_active(&self) -> bool {
        self.tls_active.load(Ordering::SeqCst)
    }

    pub fn set_tls_active(&self) {
        self.tls_active.store(true, Ordering::SeqCst);
    }

    /// LOGIN/AUTHENTICATE must wait for STARTTLS.
    pub fn privacy_required(&self) -> bool {
        self.starttls && !self.tls_active()
    }

    pub fn expect_auth_reply(&self, tag: &[u8]) {
        if let Ok(mut pending) = self.pending_auth.lock() {
            pending.push(tag.to_vec());
        }
    }

    fn editor(&self) -> CapabilityEditor {
        let mut editor = CapabilityEditor::new()
            .without("COMPRESS=*")
            .without("STARTTLS")
            .without("UNAUTHENTICATE")
            .without("METADATA")
            .without("METADATA-SERVER")
            .with("METADATA");
        if self.privacy_required() {
            editor = editor.with("STARTTLS").with("LOGINDISABLED");
        }
        editor
    }

    /// Looks at the first line of an upstream response: rewrites capability
    /// lists and notices when authentication succeeded.
    pub fn inspect_response(&self, line: Vec<u8>) -> Vec<u8> {
        let mut line = line;
        if let Some(caps) = capabilities_in(&line) {
            let has = caps.iter().any(|c| c.eq_ignore_ascii_case("METADATA"));
            self.upstream_metadata.store(has, Ordering::SeqCst);
            if let Some(edited) = self.editor().rewrite_line(&line) {
                line = edited;
            }
        }
        let mut words = line.splitn(3, |&b| b == b' ');
        let (Some(tag), Some(status)) = (words.next(), words.next()) else {
            return line;
        };
        let status = status.strip_suffix(b"\r\n").unwrap_or(status);
        if tag == b"*" {
            if status.eq_ignore_ascii_case(b"PREAUTH") {
                self.authenticated.store(true, Ordering::SeqCst);
            }
        } else if let Ok(mut pending) = self.pending_auth.lock() {
            if let Some(i) = pending.iter().position(|t| t.as_slice() == tag) {
                pending.swap_remove(i);
                if status.eq_ignore_ascii_case(b"OK") {
                    self.authenticated.store(true, Ordering::SeqCst);
                }
            }
        }
        line
    }

    /// Writes a complete response made here.
    /// Gives up after the idle timeout, also when an upstream response that
    /// stalled halfway holds the writer.
    pub async fn reply(&self, bytes: &[u8]) -> io::Result<()> {
        within(self.idle_timeout, async {
            let mut guard = self.writer.lock().await;
            let w = guard.as_mut().ok_or(io::ErrorKind::NotConnected)?;
            w.write_all(bytes).await?;
            w.flush().await
        })
        .await
    }

    /// Shuts the client connection down (TLS close_notify, then FIN).
    pub async fn close_client(&self) {
        if let Some(mut w) = self.writer.lock().await.take() {
            let _ = within(Duration::from_secs(5), w.shutdown()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(starttls: bool) -> Shared {
        let (a, _b) = tokio::io::duplex(64);
        let boxed: BoxStream = Box::new(a);
        let (_r, w) = tokio::io::split(boxed);
        Shared::new(w, starttls, Duration::from_secs(5))
    }

    #[test]
    fn login_reply_authenticates_and_records_upstream_metadata() {
        let s = shared(false);
        s.expect_auth_reply(b"A0001");
        let out = s.inspect_response(
            b"A0001 OK [CAPABILITY IMAP4rev1 METADATA COMPRESS=DEFLATE] Logged in\r\n".to_vec(),
        );
        assert_eq!(
            out,
            b"A0001 OK [CAPABILITY IMAP4rev1 METADATA] Logged in\r\n"
        );
        assert!(s.authenticated());
        assert!(s.upstream_metadata());
        s.inspect_response(b"* CAPABILITY IMAP4rev1 METADATA-SERVER\r\n".to_vec());
        assert!(!s.upstream_metadata());
    }

    #[test]
    fn failed_or_unrelated_replies_do_not_authenticate() {
        let s = shared(false);
        s.expect_auth_reply(b"a1");
        s.inspect_response(b"a2 OK done\r\n".to_vec());
        assert!(!s.authenticated());
        s.inspect_response(b"a1 NO [AUTHENTICATIONFAILED] nope\r\n".to_vec());
        assert!(!s.authenticated());
        s.inspect_response(b"a1 OK late\r\n".to_vec());
        assert!(!s.authenticated());
        s.inspect_response(b"* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n".to_vec());
        assert!(s.authenticated());
    }

    #[test]
    fn starttls_offered_until_active() {
        let s = shared(true);
        let greeting = b"* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready\r\n".to_vec();
        assert_eq!(
            s.inspect_response(greeting.clone()),
            b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN METADATA STARTTLS LOGINDISABLED] ready\r\n"
        );
        assert!(s.privacy_required());
        s.set_tls_active();
        assert_eq!(
            s.inspect_response(greeting),
            b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN METADATA] ready\r\n"
        );
    }
}
