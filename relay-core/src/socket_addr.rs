//! Listener addresses as config files spell them. Besides what
//! `SocketAddr` parses, an IPv4 address in brackets (`[127.0.0.1]:3340`) is
//! read as that IPv4 address: Madmail writes it that way in its local-only
//! mode, and refusing it would leave the relay down with nobody reading why.

use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Deserializer};

/// Parses `addr`, accepting a bracketed IPv4 address as well.
pub fn parse(addr: &str) -> Option<SocketAddr> {
    if let Ok(a) = addr.parse() {
        return Some(a);
    }
    let rest = addr.strip_prefix('[')?;
    let (ip, port) = rest.split_once("]:")?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    Some(SocketAddr::from((ip, port.parse::<u16>().ok()?)))
}

/// serde `deserialize_with` for `Option<SocketAddr>` fields.
pub fn deserialize_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    parse(&text)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("invalid socket address {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn standard_and_bracketed_ipv4() {
        assert_eq!(parse("[::]:3340"), Some("[::]:3340".parse().unwrap()));
        assert_eq!(parse("0.0.0.0:3340"), Some("0.0.0.0:3340".parse().unwrap()));
        assert_eq!(
            parse("[127.0.0.1]:3340"),
            Some("127.0.0.1:3340".parse().unwrap())
        );
        for bad in [
            "",
            "3340",
            "[127.0.0.1]",
            "[127.0.0.1]:x",
            "[300.0.0.1]:1",
            "localhost:3340",
            "[127.0.0.1]:70000",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
