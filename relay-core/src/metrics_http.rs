//! The metrics listener: `GET /metrics` (or `HEAD`) gets the page in
//! Prometheus text format 0.0.4, or in OpenMetrics 1.0 when the request's
//! `Accept` lists `application/openmetrics-text` (Prometheus's does). Any
//! other path is 404, any other method 405. A plain thread; scrapes are
//! rare.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::{render, Format, ProcessStats, ShardMetrics, StunMetrics};

/// The longest request head read; a longer one is refused.
const MAX_HEAD: usize = 16 * 1024;

/// Binds now (so a bad address fails at start) and serves on a thread.
pub fn spawn(
    addr: SocketAddr,
    stun: Option<Arc<StunMetrics>>,
    shards: Vec<Arc<ShardMetrics>>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(conn) => {
                        if let Err(e) = serve(conn, stun.as_deref(), &shards) {
                            tracing::debug!("metrics request failed: {e}");
                        }
                    }
                    // Out of descriptors: wait for some to be freed
                    // instead of spinning.
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        })?;
    Ok(local)
}

/// What a request gets.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Page(Format),
    NotFound,
    MethodNotAllowed,
    BadRequest,
}

fn serve(
    mut conn: TcpStream,
    stun: Option<&StunMetrics>,
    shards: &[Arc<ShardMetrics>],
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    let head = read_head(&mut conn)?;
    let plain = "text/plain; charset=utf-8";
    // A HEAD gets the headers any GET would, and no body.
    let head_only = head.as_deref().is_some_and(|h| h.starts_with(b"HEAD "));
    let reply = match route(&head) {
        Route::Page(format) => {
            let refs: Vec<&ShardMetrics> = shards.iter().map(|s| s.as_ref()).collect();
            let body = render(stun, &refs, ProcessStats::read(), format);
            response("200 OK", format.content_type(), "", &body, head_only)
        }
        Route::NotFound => response("404 Not Found", plain, "", "not found\n", head_only),
        Route::MethodNotAllowed => response(
            "405 Method Not Allowed",
            plain,
            "allow: GET, HEAD\r\n",
            "method not allowed\n",
            head_only,
        ),
        Route::BadRequest => response("400 Bad Request", plain, "", "bad request\n", head_only),
    };
    conn.write_all(&reply)
}

/// Reads up to the blank line that ends the request head, the peer's
/// end of stream, or [`MAX_HEAD`] bytes; `None` past that.
fn read_head(conn: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(Some(head));
        }
        if head.len() >= MAX_HEAD {
            return Ok(None);
        }
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Ok(Some(head));
        }
        head.extend_from_slice(&chunk[..n]);
    }
}

fn response(status: &str, content_type: &str, extra: &str, body: &str, head_only: bool) -> Vec<u8> {
    let mut reply = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        reply.extend_from_slice(body.as_bytes());
    }
    reply
}

/// Routes a request head (`None`: too long).
fn route(head: &Option<Vec<u8>>) -> Route {
    let Some(head) = head else {
        return Route::BadRequest;
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.lines();
    let mut request = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(version), None) = (
        request.next(),
        request.next(),
        request.next(),
        request.next(),
    ) else {
        return Route::BadRequest;
    };
    if !version.starts_with("HTTP/1.") {
        return Route::BadRequest;
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    if path != "/metrics" {
        return Route::NotFound;
    }
    if method != "GET" && method != "HEAD" {
        return Route::MethodNotAllowed;
    }
    let openmetrics = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("accept"))
        .any(|(_, value)| wants_openmetrics(value));
    let format = if openmetrics {
        Format::OpenMetrics
    } else {
        Format::Text
    };
    Route::Page(format)
}

/// Whether an `Accept` value lists `application/openmetrics-text` with a
/// quality above zero.
fn wants_openmetrics(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut params = range.split(';');
        let media = params.next().unwrap_or_default().trim();
        media.eq_ignore_ascii_case("application/openmetrics-text")
            && params.all(|p| match p.split_once('=') {
                Some((k, v)) if k.trim().eq_ignore_ascii_case("q") => {
                    v.trim().parse::<f32>().map_or(true, |q| q > 0.0)
                }
                _ => true,
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(head: &str) -> Route {
        route(&Some(head.as_bytes().to_vec()))
    }

    const PROMETHEUS: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn formats_by_accept() {
        let page = Route::Page;
        assert_eq!(
            get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            page(Format::Text)
        );
        assert_eq!(
            get(&format!(
                "GET /metrics HTTP/1.1\r\naccept: {PROMETHEUS}\r\n\r\n"
            )),
            page(Format::OpenMetrics)
        );
        assert_eq!(
            get("GET /metrics?x=1 HTTP/1.0\r\nAccept: text/plain\r\n\r\n"),
            page(Format::Text)
        );
        assert_eq!(
            get("GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text; q=0\r\n\r\n"),
            page(Format::Text)
        );
        // A header in the body position is not read.
        assert_eq!(
            get("GET /metrics HTTP/1.1\r\n\r\nAccept: application/openmetrics-text\r\n"),
            page(Format::Text)
        );
        assert_eq!(
            get("HEAD /metrics HTTP/1.1\r\nACCEPT: Application/OpenMetrics-Text\r\n\r\n"),
            Route::Page(Format::OpenMetrics)
        );
    }

    #[test]
    fn other_paths_methods_and_garbage() {
        for (head, want) in [
            ("GET / HTTP/1.1\r\n\r\n", Route::NotFound),
            ("GET /metrics/ HTTP/1.1\r\n\r\n", Route::NotFound),
            ("GET /metricsx HTTP/1.1\r\n\r\n", Route::NotFound),
            ("POST /other HTTP/1.1\r\n\r\n", Route::NotFound),
            ("POST /metrics HTTP/1.1\r\n\r\n", Route::MethodNotAllowed),
            ("get /metrics HTTP/1.1\r\n\r\n", Route::MethodNotAllowed),
            ("", Route::BadRequest),
            ("GET /metrics\r\n\r\n", Route::BadRequest),
            ("GET /metrics HTTP/1.1 x\r\n\r\n", Route::BadRequest),
            ("GET /metrics SPDY/3\r\n\r\n", Route::BadRequest),
            ("\u{fffd}\u{0}", Route::BadRequest),
        ] {
            assert_eq!(get(head), want, "{head:?}");
        }
        assert_eq!(route(&None), Route::BadRequest);
    }

    #[test]
    fn head_only_has_no_body() {
        let r = response("200 OK", "text/plain", "", "abc", true);
        let r = String::from_utf8(r).unwrap_or_default();
        assert!(r.contains("content-length: 3\r\n"), "{r}");
        assert!(r.ends_with("\r\n\r\n"), "{r}");
    }
}
