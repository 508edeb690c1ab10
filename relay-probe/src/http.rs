//! The relay's plain HTTP routes iroh clients depend on: the
//! captive-portal check (`/generate_204`) and the latency probe (`/ping`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;

use super::codec::Protocol;
use super::conn;
use super::net::{self, Failure, ReadError};
use super::target::Target;

/// Longest response head read.
const MAX_HEAD: usize = 16 * 1024;

/// A response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn status_line(&self) -> String {
        format!("{} {}", self.status, self.reason).trim().to_owned()
    }
}

/// Parses a (possibly partial) response head; `Ok(None)`: need more.
pub fn parse_head(buf: &[u8]) -> Result<Option<Response>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(_)) => Ok(Some(Response {
            status: resp.code.unwrap_or(0),
            reason: resp.reason.unwrap_or_default().to_owned(),
            headers: relay_proto::http::owned_headers(resp.headers),
        })),
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            Err(format!("a response head longer than {MAX_HEAD} bytes"))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(format!("something that is not HTTP ({e})")),
    }
}

/// `GET path` with `headers`; the response head, or why there is none.
pub fn get(
    target: &Target,
    addrs: &[SocketAddr],
    tls: Option<&Arc<ClientConfig>>,
    path: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<Response, Failure> {
    let mut stream = conn::connect(target, addrs, tls, timeout)?;
    let peer = stream
        .peer()
        .map_or_else(|| target.authority(), |a| a.to_string());
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", target.host_header);
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    stream
        .writer()
        .and_then(|w| w.write_all(req.as_bytes()))
        .map_err(|e| Failure::new(format!("cannot send GET {path} to {peer}: {e}")))?;
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read_some(&mut chunk, deadline) {
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(ReadError::Timeout) => {
                return Err(Failure::new(format!(
                "{peer} accepted the connection but sent no HTTP answer to GET {path} within {}",
                net::secs(timeout)
            )))
            }
            Err(ReadError::Closed) => {
                return Err(Failure::new(format!(
                    "{peer} closed the connection without an HTTP answer to GET {path}"
                )))
            }
            Err(ReadError::Io(e)) => {
                return Err(Failure::new(format!(
                    "reading the answer to GET {path} from {peer}: {e}"
                )))
            }
        }
        match parse_head(&buf) {
            Ok(Some(resp)) => return Ok(resp),
            Ok(None) => {}
            Err(what) => {
                return Err(Failure::new(format!(
                    "{peer} answered GET {path} with {what}: not an iroh relay"
                )))
            }
        }
    }
}

/// `/generate_204` with a fresh challenge, as the protocol's clients send
/// it (iroh 0.35: `X-Tailscale-Challenge`, 1.x: `X-Iroh-Challenge`): 204
/// and `<…>-Response: response <challenge>`, else clients think they are
/// behind a captive portal.
pub fn check_generate_204(
    target: &Target,
    addrs: &[SocketAddr],
    tls: Option<&Arc<ClientConfig>>,
    protocol: Protocol,
    timeout: Duration,
) -> Result<String, Failure> {
    let challenge = format!("probe_{:016x}", rand::random::<u64>());
    let (ask, answer, clients) = match protocol.version() {
        None => ("X-Tailscale-Challenge", "X-Tailscale-Response", "iroh 0.35"),
        Some(_) => ("X-Iroh-Challenge", "X-Iroh-Response", "iroh 1.x"),
    };
    let resp = get(
        target,
        addrs,
        tls,
        "/generate_204",
        &[(ask, &challenge)],
        timeout,
    )?;
    if resp.status == 404 && target.tls {
        return Err(Failure::new(format!(
            "/generate_204 at {} answered {} over https: an iroh-relay serving its own TLS \
             answers the captive-portal check only on its plain HTTP port (iroh clients ask \
             http://{}/generate_204); behind a TLS proxy, pass /generate_204 to the relay as \
             chatmail's nginx does",
            target.authority(),
            resp.status_line(),
            target.host_header
        )));
    }
    if resp.status != 204 {
        return Err(Failure::new(format!(
            "HTTP server at {} is not an iroh relay: /generate_204 answered {} (expected 204)",
            target.authority(),
            resp.status_line()
        )));
    }
    let want = format!("response {challenge}");
    match resp.header(answer) {
        Some(got) if got == want => Ok("204, challenge answered".to_owned()),
        got => Err(Failure::new(format!(
            "/generate_204 answered 204 but {} instead of `{answer}: {want}`: \
             {clients} clients take that for a captive portal",
            got.map_or_else(
                || format!("without {answer}"),
                |g| format!("with {answer} {g:?}")
            )
        ))),
    }
}

/// `/ping`: iroh's latency probe, any 200.
pub fn check_ping(
    target: &Target,
    addrs: &[SocketAddr],
    tls: Option<&Arc<ClientConfig>>,
    timeout: Duration,
) -> Result<String, Failure> {
    let resp = get(target, addrs, tls, "/ping", &[], timeout)?;
    if resp.status == 200 {
        Ok("200".to_owned())
    } else {
        Err(Failure::new(format!(
            "HTTP server at {} is not an iroh relay: /ping answered {} (expected 200)",
            target.authority(),
            resp.status_line()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        let r = parse_head(b"HTTP/1.1 204 No Content\r\nX-Tailscale-Response: response x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.status, 204);
        assert_eq!(r.header("x-tailscale-response"), Some("response x"));
        assert_eq!(r.status_line(), "204 No Content");
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\n"), Ok(None));
        assert!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse_head(&vec![b'H'; MAX_HEAD]).is_err());
    }
}
