//! Request heads, parsed with httparse.

/// Heads larger than this get 431 and a close.
pub const MAX_HEAD_LEN: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

/// The parts of a request head the relay routes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The method as sent (case kept).
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// The query string (after `?`), empty if none.
    pub query: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    /// Header names lower-cased, values as sent (lossy UTF-8), in order.
    pub headers: Vec<(String, String)>,
    /// Length of the head including the blank line.
    pub len: usize,
}

impl Head {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every header with this (lower-case) name, in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the client asked to keep the connection open.
    pub fn keep_alive(&self) -> bool {
        let conn = self.header("connection").map(|v| v.to_ascii_lowercase());
        match conn.as_deref() {
            Some(v) if v.split(',').any(|t| t.trim() == "close") => false,
            Some(v) if v.split(',').any(|t| t.trim() == "keep-alive") => true,
            _ => self.version == 1,
        }
    }
}

/// Why a request head is refused; both are answered and closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// Malformed request line or header: 400.
    Bad,
    /// Too many headers or a head over [`MAX_HEAD_LEN`]: 431.
    TooLarge,
}

/// Parsed headers as (lowercase name, value) pairs.
pub fn owned_headers(headers: &[httparse::Header<'_>]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

/// Parses a complete head from `buf`, `Ok(None)` if more bytes are needed.
/// A head over [`MAX_HEAD_LEN`] or with over 64 headers is
/// [`HeadError::TooLarge`].
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            if len > MAX_HEAD_LEN {
                return Err(HeadError::TooLarge);
            }
            let target = req.path.unwrap_or("");
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            Ok(Some(Head {
                method: req.method.unwrap_or("").to_string(),
                path: path.to_string(),
                query: query.to_string(),
                version: req.version.unwrap_or(1),
                headers: owned_headers(req.headers),
                len,
            }))
        }
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_LEN => Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge),
        Err(_) => Err(HeadError::Bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_iroh_upgrade() {
        let req =
            b"GET /relay?x=1 HTTP/1.1\r\nupgrade: iroh derp http\r\nhost: r.example\r\n\r\nEXTRA";
        let h = parse_head(req).unwrap().unwrap();
        assert_eq!(h.method, "GET");
        assert_eq!(h.path, "/relay");
        assert_eq!(h.header("upgrade"), Some("iroh derp http"));
        assert_eq!(&req[h.len..], b"EXTRA");
        assert!(h.keep_alive());
    }

    #[test]
    fn partial_bad_and_large() {
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n"), Ok(None));
        assert_eq!(
            parse_head(b"\x00\x01 / HTTP/1.1\r\n\r\n"),
            Err(HeadError::Bad)
        );
        assert_eq!(parse_head(b"GET / HTTP/2.0\r\n\r\n"), Err(HeadError::Bad));
        let mut big = b"GET / HTTP/1.1\r\nx: ".to_vec();
        big.resize(MAX_HEAD_LEN + 1, b'a');
        assert_eq!(parse_head(&big), Err(HeadError::TooLarge));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..100 {
            many.extend_from_slice(format!("h{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse_head(&many), Err(HeadError::TooLarge));
    }

    #[test]
    fn connection_tokens() {
        let h = parse_head(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive());
        let h = parse_head(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive());
        let h = parse_head(b"GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive());
    }
}
