//! The handshake after the upgrade, sans-IO, for both families: what the
//! server sends first, how the client's first frame is checked, and what
//! confirms or denies it. The caller moves the bytes, checks the signature
//! (between [`Handshake::decode`] and [`Handshake::checked`], so a shard can
//! check many at once) and asks access control before
//! [`Handshake::confirm`].
//!
//! 0.35: the client speaks first with a signed ClientInfo; a denial is
//! `Health("not authenticated")`. 1.x: the server sends a challenge, the
//! client signs it, the server answers ServerConfirmsAuth or
//! ServerDeniesAuth.

use super::dialect::Dialect;
use super::key::NodeKey;
use super::sig::SigCheck;
use super::v035::client_info;
use super::v035::frame::{Frame, FrameType};
use super::v1x::frame::{decode_client, ClientFrame};
use super::v1x::{handshake as auth, serve};

/// Largest first frame accepted before the client is authenticated (a
/// ClientInfo is 106 bytes, a ClientAuth 98).
pub const MAX_FRAME: usize = 4096;

/// A client whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The client's public key, proven by its signature.
    pub key: NodeKey,
    /// The 0.35 ClientInfo version, checked only after access control.
    version: Option<u64>,
}

/// A first frame that decoded, its signature not yet checked.
#[derive(Debug, Clone)]
pub struct Signed(Pending);

#[derive(Debug, Clone)]
enum Pending {
    V035(client_info::Unchecked),
    V1x(NodeKey, SigCheck),
}

impl Signed {
    /// The signature left to check.
    pub fn sig(&self) -> &SigCheck {
        match &self.0 {
            Pending::V035(info) => &info.sig,
            Pending::V1x(_, sig) => sig,
        }
    }
}

/// A handshake that failed: close, after sending `reply` if there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{why}")]
pub struct Failure {
    /// Bytes to write before closing (a 1.x denial), if any.
    pub reply: Option<Vec<u8>>,
    /// Why, for the log.
    pub why: String,
}

impl Failure {
    fn silent(why: impl std::fmt::Display) -> Self {
        Self {
            reply: None,
            why: why.to_string(),
        }
    }
}

/// One connection's handshake.
#[derive(Debug, Clone)]
pub struct Handshake {
    dialect: Dialect,
    challenge: [u8; 16],
}

impl Handshake {
    /// `challenge` must be fresh random bytes (unused by 0.35).
    pub fn new(dialect: Dialect, challenge: [u8; 16]) -> Self {
        Self { dialect, challenge }
    }

    /// The protocol this handshake is for.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// What the server sends before reading anything.
    pub fn greeting(&self) -> Option<Vec<u8>> {
        match self.dialect {
            Dialect::V035(_) => None,
            Dialect::V1x(_) => {
                let mut body = Vec::with_capacity(17);
                auth::write_challenge(&mut body, &self.challenge);
                Some(serve::message(&body))
            }
        }
    }

    /// Checks the client's first frame.
    pub fn on_frame(&self, ty: u64, payload: &[u8]) -> Result<Verified, Failure> {
        let signed = self.decode(ty, payload)?;
        let valid = signed.sig().verify_strict();
        self.checked(signed, valid)
    }

    /// Checks the client's first frame but for its signature, which the
    /// caller checks (alone or with others, [`super::sig::verify_all`])
    /// and reports to [`Handshake::checked`].
    pub fn decode(&self, ty: u64, payload: &[u8]) -> Result<Signed, Failure> {
        match self.dialect {
            Dialect::V035(_) => {
                if ty != FrameType::ClientInfo as u64 {
                    return Err(Failure::silent(format!("first frame has type {ty}")));
                }
                let info = client_info::decode(payload).map_err(Failure::silent)?;
                Ok(Signed(Pending::V035(info)))
            }
            Dialect::V1x(_) => {
                // Anything but a ClientAuth is closed without a reply.
                let Ok(ClientFrame::ClientAuth(p)) = decode_client(ty, payload) else {
                    return Err(Failure::silent(format!(
                        "expected ClientAuth, got type {ty}"
                    )));
                };
                match auth::decode(&self.challenge, p) {
                    Ok((key, sig)) => Ok(Signed(Pending::V1x(key, sig))),
                    Err(e) => Err(self.auth_failure(e)),
                }
            }
        }
    }

    /// The outcome of a first frame from [`Handshake::decode`] once its
    /// signature was found `valid` or not.
    pub fn checked(&self, signed: Signed, valid: bool) -> Result<Verified, Failure> {
        match signed.0 {
            Pending::V035(info) => {
                let info = info.finish(valid).map_err(Failure::silent)?;
                Ok(Verified {
                    key: info.key,
                    version: Some(info.version),
                })
            }
            Pending::V1x(key, _) => match auth::finish(key, valid) {
                Ok(key) => Ok(Verified { key, version: None }),
                Err(e) => Err(self.auth_failure(e)),
            },
        }
    }

    fn auth_failure(&self, e: auth::AuthError) -> Failure {
        match e {
            auth::AuthError::Malformed => Failure::silent("ClientAuth does not decode"),
            auth::AuthError::BadSignature => Failure {
                reply: Some(deny_message(auth::SIGNATURE_INVALID)),
                why: "ClientAuth signature does not verify".into(),
            },
        }
    }

    /// Access allowed: the last checks, and what to send (1.x: Confirm).
    pub fn confirm(&self, v: &Verified) -> Result<Option<Vec<u8>>, Failure> {
        match self.dialect {
            Dialect::V035(_) => {
                let info = client_info::ClientInfo {
                    key: v.key,
                    version: v.version.unwrap_or(0),
                };
                client_info::check_version(&info).map_err(Failure::silent)?;
                Ok(None)
            }
            Dialect::V1x(_) => {
                let mut body = Vec::with_capacity(1);
                auth::write_confirm(&mut body);
                Ok(Some(serve::message(&body)))
            }
        }
    }

    /// Access denied: what to send before closing.
    pub fn deny(&self) -> Vec<u8> {
        match self.dialect {
            Dialect::V035(t) => {
                let mut out = Vec::new();
                t.encode(&mut out, &Frame::Health("not authenticated"));
                out
            }
            Dialect::V1x(_) => deny_message(auth::NOT_AUTHORIZED),
        }
    }
}

fn deny_message(reason: &str) -> Vec<u8> {
    let mut body = Vec::new();
    auth::write_deny(&mut body, reason);
    serve::message(&body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1x::Version;
    use crate::Transport;

    #[test]
    fn v035_client_speaks_first() {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[0x2a; 32]);
        let h = Handshake::new(Dialect::V035(Transport::Derp), [0; 16]);
        assert_eq!(h.greeting(), None);
        let info = client_info::build(&sk, 3);
        let v = h.on_frame(2, &info).unwrap();
        assert_eq!(v.key, *sk.verifying_key().as_bytes());
        assert_eq!(h.confirm(&v), Ok(None));
        let old = h.on_frame(2, &client_info::build(&sk, 2)).unwrap();
        assert!(h.confirm(&old).is_err());
        assert!(h.on_frame(4, &info).unwrap_err().reply.is_none());
        assert_eq!(&h.deny()[5..], b"not authenticated");
    }

    #[test]
    fn v1x_server_speaks_first() {
        let challenge: [u8; 16] = std::array::from_fn(|i| i as u8);
        let sk = ed25519_dalek::SigningKey::from_bytes(&[0x2a; 32]);
        let h = Handshake::new(Dialect::V1x(Version::V2), challenge);
        let g = h.greeting().unwrap();
        assert_eq!(&g[..3], &[0x82, 0x11, 0x00]);
        assert_eq!(&g[3..], &challenge);
        let msg = auth::client_auth(&sk, &challenge);
        let v = h.on_frame(1, &msg[1..]).unwrap();
        assert_eq!(h.confirm(&v), Ok(Some(vec![0x82, 0x01, 0x02])));
        // A zeroed signature is answered, a Ping instead is not.
        let mut zeroed = msg[1..].to_vec();
        zeroed[33..].fill(0);
        let f = h.on_frame(1, &zeroed).unwrap_err();
        assert_eq!(
            f.reply.unwrap()[2..],
            [
                0x03, 0x11, b's', b'i', b'g', b'n', b'a', b't', b'u', b'r', b'e', b' ', b'i', b'n',
                b'v', b'a', b'l', b'i', b'd'
            ]
        );
        assert_eq!(h.on_frame(9, &[0; 8]).unwrap_err().reply, None);
        assert_eq!(
            &h.deny()[2..],
            &[
                0x03, 0x0e, b'n', b'o', b't', b' ', b'a', b'u', b't', b'h', b'o', b'r', b'i', b'z',
                b'e', b'd'
            ]
        );
    }
}
