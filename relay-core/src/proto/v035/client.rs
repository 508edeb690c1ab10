//! The client's side of the `iroh derp http` upgrade (docs/protocol-0.35.md
//! §2.3), pure: the request an iroh 0.35 client writes and the check of the
//! server's answer. Frames and ClientInfo are in [`super::stream`] and
//! [`super::client_info`].

/// Longest response head a client reads before giving up.
pub const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// The upgrade request, byte for byte as the 0.35 client writes it (lower
/// case, no `Connection`). `host` is the URL host without a trailing dot,
/// with `:port` for a non-default port.
pub fn upgrade_request(host: &str) -> Vec<u8> {
    format!("GET /relay HTTP/1.1\r\nupgrade: iroh derp http\r\nhost: {host}\r\n\r\n").into_bytes()
}

/// Why the server did not switch protocols.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeError {
    #[error("the answer is not HTTP ({0})")]
    NotHttp(String),
    #[error("the response head is longer than {MAX_RESPONSE_HEAD} bytes")]
    TooLong,
    #[error("answered {status} {reason}")]
    Status { status: u16, reason: String },
}

/// Checks a (possibly partial) response to [`upgrade_request`].
/// `Ok(None)`: more bytes needed. `Ok(Some(n))`: a 101 whose head is `n`
/// bytes; what follows is frame data. Like the 0.35 client, only the status
/// is checked.
pub fn check_upgrade_response(buf: &[u8]) -> Result<Option<usize>, UpgradeError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let n = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_RESPONSE_HEAD => {
            return Err(UpgradeError::TooLong)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(UpgradeError::NotHttp(e.to_string())),
    };
    match resp.code {
        Some(101) => Ok(Some(n)),
        code => Err(UpgradeError::Status {
            status: code.unwrap_or(0),
            reason: resp.reason.unwrap_or_default().to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes() {
        assert_eq!(
            upgrade_request("127.0.0.1:3340"),
            b"GET /relay HTTP/1.1\r\nupgrade: iroh derp http\r\nhost: 127.0.0.1:3340\r\n\r\n"
        );
    }

    #[test]
    fn responses() {
        let ok = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: iroh derp http\r\n\r\n\x0c";
        assert_eq!(check_upgrade_response(ok), Ok(Some(ok.len() - 1)));
        assert_eq!(check_upgrade_response(&ok[..20]), Ok(None));
        assert_eq!(
            check_upgrade_response(b"HTTP/1.1 404 Not Found\r\n\r\n"),
            Err(UpgradeError::Status {
                status: 404,
                reason: "Not Found".into()
            })
        );
        assert!(matches!(
            check_upgrade_response(b"SSH-2.0-OpenSSH_9.6\r\n"),
            Err(UpgradeError::NotHttp(_))
        ));
        let long = vec![b'a'; MAX_RESPONSE_HEAD];
        let mut partial = b"HTTP/1.1 101 OK\r\nx: ".to_vec();
        partial.extend_from_slice(&long);
        assert_eq!(check_upgrade_response(&partial), Err(UpgradeError::TooLong));
    }
}
