//! The access token a client presents (1.x `access.shared_token`): the
//! first `Authorization` header whose scheme is `Bearer` (any case), else
//! the first `token=` query parameter, percent-decoded.

use super::request::Head;

/// The token `head` presents: the first `Authorization: Bearer` value,
/// else the first `token=` query parameter (see the module notes).
pub fn of(head: &Head) -> Option<String> {
    for value in head.headers_named("authorization") {
        if let Some((scheme, token)) = value.split_once(' ') {
            if scheme.eq_ignore_ascii_case("bearer") {
                return Some(token.trim().to_string());
            }
        }
    }
    from_query(&head.query)
}

/// The first `token=` parameter of a query string (without the `?`),
/// percent-decoded.
pub fn from_query(query: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .map(percent_decode)
}

/// `%XX` escapes and `+` (as a space, as form encoding has it).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_head;

    fn token(req: &str) -> Option<String> {
        of(&parse_head(req.as_bytes()).unwrap().unwrap())
    }

    #[test]
    fn header_first_then_query() {
        assert_eq!(
            token("GET /relay HTTP/1.1\r\nAuthorization: Bearer abc\r\n\r\n"),
            Some("abc".into())
        );
        assert_eq!(
            token("GET /relay HTTP/1.1\r\nauthorization: bearer abc\r\n\r\n"),
            Some("abc".into())
        );
        assert_eq!(
            token("GET /relay?token=q HTTP/1.1\r\nAuthorization: Basic x\r\nAuthorization: Bearer h\r\n\r\n"),
            Some("h".into())
        );
        assert_eq!(
            token("GET /relay?a=1&token=t%2Fo+k%zz HTTP/1.1\r\n\r\n"),
            Some("t/o k%zz".into())
        );
        assert_eq!(
            token("GET /relay?token=%41 HTTP/1.1\r\n\r\n"),
            Some("A".into())
        );
        assert_eq!(token("GET /relay HTTP/1.1\r\n\r\n"), None);
    }
}
