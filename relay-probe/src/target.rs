//! The relay URL a probe is pointed at, as an iroh client reads it:
//! scheme, host and port count; the path does not (clients always dial
//! `/relay`); the query does for 1.x clients, which keep it on `/relay`
//! and so present a `?token=`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use relay_proto::http::token;

/// A parsed `http[s]://host[:port][/path][?query]` relay URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as given, with a `token=` value replaced by `REDACTED` (for
    /// reports and metric labels).
    pub url: String,
    /// `https://`: TLS, with SNI and the certificate checked for `host`.
    pub tls: bool,
    /// Host as it goes into a socket lookup (IPv6 without brackets, no
    /// trailing dot).
    pub host: String,
    pub port: u16,
    /// The `Host` header value iroh sends: host without the trailing dot,
    /// `:port` only for a non-default port.
    pub host_header: String,
    /// `?query` as in the URL (empty without one): iroh 1.x clients send
    /// it on `/relay`.
    pub query: String,
    /// The URL's `token=` parameter, percent-decoded.
    pub token: Option<String>,
}

/// Why a URL cannot be probed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("{url:?} is not a URL ({reason}); expected one like https://relay.example.org or http://relay.example.org:3340")]
    Invalid { url: String, reason: String },
    #[error("{url}: unsupported scheme {scheme:?}; the probe speaks http:// and https://")]
    Scheme { url: String, scheme: String },
    #[error("{0}: the URL has no host")]
    NoHost(String),
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        let trimmed = url.trim();
        if !trimmed.contains("://") {
            return Err(TargetError::Invalid {
                url: trimmed.to_owned(),
                reason: "no http:// or https:// in front".to_owned(),
            });
        }
        let parsed = url::Url::parse(trimmed).map_err(|e| TargetError::Invalid {
            url: trimmed.to_owned(),
            reason: e.to_string(),
        })?;
        let tls = match parsed.scheme() {
            "http" => false,
            "https" => true,
            other => {
                return Err(TargetError::Scheme {
                    url: trimmed.to_owned(),
                    scheme: other.to_owned(),
                })
            }
        };
        let host = match parsed.host() {
            Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(TargetError::NoHost(trimmed.to_owned())),
        };
        if host.is_empty() {
            return Err(TargetError::NoHost(trimmed.to_owned()));
        }
        // The url crate drops a port equal to the scheme's default.
        let port = parsed
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let host_header = match parsed.port() {
            Some(p) => format!("{bracketed}:{p}"),
            None => bracketed,
        };
        let query = parsed.query().unwrap_or_default();
        let token = token::from_query(query);
        Ok(Target {
            url: redacted(trimmed, query),
            tls,
            host,
            port,
            host_header,
            query: if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            },
            token,
        })
    }

    /// `host:port` for messages (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The addresses the host resolves to. The lookup runs on its own
    /// thread, so a resolver that hangs costs `timeout`, not its retries.
    pub fn resolve(&self, timeout: Duration) -> Result<Vec<SocketAddr>, String> {
        let (host, port) = (self.host.clone(), self.port);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send((host.as_str(), port).to_socket_addrs().map(Vec::from_iter));
        });
        match rx.recv_timeout(timeout) {
            Ok(Ok(addrs)) if addrs.is_empty() => {
                Err(format!("{} resolves to no address", self.host))
            }
            Ok(Ok(addrs)) => Ok(addrs),
            Ok(Err(e)) => Err(format!("cannot resolve host {}: {e}", self.host)),
            Err(_) => Err(format!(
                "looking up host {} took longer than {}",
                self.host,
                super::net::secs(timeout)
            )),
        }
    }
}

/// `url` with the value of every `token=` parameter in `query` replaced.
fn redacted(url: &str, query: &str) -> String {
    if !query.split('&').any(|p| p.starts_with("token=")) {
        return url.to_owned();
    }
    let hidden: Vec<&str> = query
        .split('&')
        .map(|p| {
            if p.starts_with("token=") {
                "token=REDACTED"
            } else {
                p
            }
        })
        .collect();
    url.replacen(query, &hidden.join("&"), 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls() {
        let t = Target::parse("http://127.0.0.1:3340").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 3340));
        assert_eq!(t.host_header, "127.0.0.1:3340");
        let t = Target::parse("http://relay.example.org./relay").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("relay.example.org", 80));
        assert_eq!(t.host_header, "relay.example.org");
        let t = Target::parse("http://[::1]:3340/").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 3340));
        assert_eq!(t.host_header, "[::1]:3340");
        assert_eq!(t.authority(), "[::1]:3340");
        assert_eq!(Target::parse("http://h:80").unwrap().host_header, "h");
    }

    #[test]
    fn https_urls_and_tokens() {
        let t = Target::parse("https://mail.example.org").unwrap();
        assert!(t.tls);
        assert_eq!((t.host.as_str(), t.port), ("mail.example.org", 443));
        assert_eq!(t.host_header, "mail.example.org");
        assert_eq!((t.query.as_str(), t.token.as_deref()), ("", None));
        let t = Target::parse("https://h:8443/relay?x=1&token=s%2Fcret").unwrap();
        assert_eq!((t.port, t.host_header.as_str()), (8443, "h:8443"));
        assert_eq!(t.query, "?x=1&token=s%2Fcret");
        assert_eq!(t.token.as_deref(), Some("s/cret"));
        assert_eq!(t.url, "https://h:8443/relay?x=1&token=REDACTED");
        assert!(!Target::parse("http://h:1").unwrap().tls);
    }

    #[test]
    fn rejected_urls() {
        assert!(matches!(
            Target::parse("ws://h:1"),
            Err(TargetError::Scheme { .. })
        ));
        assert!(matches!(
            Target::parse("relay.example.org:3340"),
            Err(TargetError::Invalid { .. })
        ));
        assert!(matches!(
            Target::parse("http://h:99999"),
            Err(TargetError::Invalid { .. })
        ));
        assert!(matches!(
            Target::parse("not a url"),
            Err(TargetError::Invalid { .. })
        ));
    }
}
