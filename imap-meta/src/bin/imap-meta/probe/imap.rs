//! The IMAP side of `imap-meta probe`: connect (IMAPS, STARTTLS or plain),
//! LOGIN, and the GETMETADATA Delta Chat sends, each step timed and its
//! failure put in words.

use std::time::{Duration, Instant};

use imap_meta::{capabilities_in, IROH_RELAY};
use relay_probe::{Check, Status};

use super::conn::{connect, Conn};
use super::response::{metadata, printable};
use super::settings::Settings;
use crate::net::BoxStream;

/// Delta Chat core's first GETMETADATA (`update_metadata` in core's
/// imap.rs): the list form with the current key list, no options.
pub const CORE_REQUEST: &str = "GETMETADATA \"\" (/shared/comment /shared/admin \
    /shared/vendor/deltachat/irohrelay /shared/vendor/deltachat/turn \
    /shared/vendor/deltachat/maxsmtprecipients /shared/vendor/deltachat/appversions)";

/// Step names, in order.
pub const STEPS: [&str; 3] = ["imap_connect", "imap_login", "imap_metadata"];

/// What discovery found.
pub struct Discovery {
    pub checks: Vec<Check>,
    pub capabilities: Vec<String>,
    pub entries: Vec<(String, Option<String>)>,
    pub relay_url: Option<String>,
}

impl Discovery {
    pub fn ok(&self) -> bool {
        self.checks.iter().all(Check::ok) && self.relay_url.is_some()
    }
}

/// Runs the three steps; a failed step skips the rest.
pub async fn discover(s: &Settings) -> Discovery {
    let mut d = Discovery {
        checks: Vec::new(),
        capabilities: Vec::new(),
        entries: Vec::new(),
        relay_url: None,
    };
    let t = Instant::now();
    let mut conn = match connect(s).await {
        Ok((conn, detail)) => {
            d.checks.push(pass(STEPS[0], t, detail));
            conn
        }
        Err(e) => {
            d.checks.push(fail(STEPS[0], t, e));
            skip_rest(&mut d.checks);
            return d;
        }
    };
    let t = Instant::now();
    match login(&mut conn, s).await {
        Ok(caps) => {
            d.capabilities = caps;
            d.checks.push(pass(
                STEPS[1],
                t,
                format!("logged in as {}; METADATA advertised", s.user),
            ));
        }
        Err((caps, e)) => {
            d.capabilities = caps;
            d.checks.push(fail(STEPS[1], t, e));
            skip_rest(&mut d.checks);
            conn.logout().await;
            return d;
        }
    }
    let t = Instant::now();
    match get_metadata(&mut conn).await {
        Ok((entries, url)) => {
            d.entries = entries;
            d.checks
                .push(pass(STEPS[2], t, format!("{IROH_RELAY} = {url}")));
            d.relay_url = Some(url);
        }
        Err((entries, e)) => {
            d.entries = entries;
            d.checks.push(fail(STEPS[2], t, e));
        }
    }
    conn.logout().await;
    d
}

fn pass(name: &'static str, t: Instant, detail: String) -> Check {
    Check {
        name,
        status: Status::Pass,
        duration: t.elapsed(),
        detail,
    }
}

fn fail(name: &'static str, t: Instant, reason: String) -> Check {
    Check {
        name,
        status: Status::Fail(reason),
        duration: t.elapsed(),
        detail: String::new(),
    }
}

fn skip_rest(checks: &mut Vec<Check>) {
    for name in STEPS.into_iter().skip(checks.len()) {
        checks.push(Check {
            name,
            status: Status::Skipped("an earlier IMAP step failed".to_owned()),
            duration: Duration::ZERO,
            detail: String::new(),
        });
    }
}

/// A quoted string as async-imap writes LOGIN's arguments.
fn quoted(s: &str) -> Result<Vec<u8>, String> {
    if s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err("user names and passwords cannot contain line breaks".to_owned());
    }
    let mut out = vec![b'"'];
    for b in s.bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
    Ok(out)
}

/// LOGIN, then the capabilities Delta Chat decides with: those of the
/// tagged OK, else of a CAPABILITY command. Errors keep what was learnt.
async fn login(
    conn: &mut Conn<BoxStream>,
    s: &Settings,
) -> Result<Vec<String>, (Vec<String>, String)> {
    let none = |e| (Vec::new(), e);
    let mut cmd = b"LOGIN ".to_vec();
    cmd.extend(quoted(&s.user).map_err(none)?);
    cmd.push(b' ');
    cmd.extend(quoted(&s.password).map_err(none)?);
    let reply = conn.command(&cmd).await.map_err(none)?;
    if reply.status != "OK" {
        return Err(none(format!(
            "login as {} refused: {} {}",
            s.user, reply.status, reply.text
        )));
    }
    let owned = |caps: Vec<&str>| caps.into_iter().map(str::to_owned).collect::<Vec<_>>();
    let mut caps = capabilities_in(&reply.line).map(owned);
    if caps.is_none() {
        let reply = conn.command(b"CAPABILITY").await.map_err(none)?;
        caps = reply
            .untagged
            .iter()
            .find_map(|r| capabilities_in(r))
            .map(owned);
    }
    let caps = caps.unwrap_or_default();
    // async-imap matches the atom exactly; METADATA-SERVER does not count.
    if caps.iter().any(|c| c == "METADATA") {
        Ok(caps)
    } else {
        let list = caps.join(" ");
        Err((
            caps,
            format!(
                "the server does not advertise METADATA after login (capabilities: {list}), so \
                 Delta Chat never asks it for a relay and uses iroh's default relays"
            ),
        ))
    }
}

type Entries = Vec<(String, Option<String>)>;

/// The GETMETADATA Delta Chat sends; the entries and the relay URL.
async fn get_metadata(conn: &mut Conn<BoxStream>) -> Result<(Entries, String), (Entries, String)> {
    let reply = conn
        .command(CORE_REQUEST.as_bytes())
        .await
        .map_err(|e| (Vec::new(), e))?;
    let mut entries = Vec::new();
    for r in &reply.untagged {
        match metadata(r) {
            Some(found) => entries.extend(
                found
                    .into_iter()
                    .map(|(k, v)| (k, v.map(|v| String::from_utf8_lossy(&v).into_owned()))),
            ),
            None if r.len() > 11 && r[..11].eq_ignore_ascii_case(b"* METADATA ") => {
                return Err((
                    entries,
                    format!(
                        "the server's METADATA answer does not parse: {:?} (Delta Chat's inbox \
                         loop would fail on it)",
                        printable(r)
                    ),
                ))
            }
            None => {}
        }
    }
    if reply.status != "OK" {
        return Err((
            entries,
            format!(
                "GETMETADATA answered {} {}: Delta Chat takes that as no relay",
                reply.status, reply.text
            ),
        ));
    }
    let url = entries
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(IROH_RELAY))
        .and_then(|(_, v)| v.clone());
    match url {
        Some(url) if !url.trim().is_empty() => Ok((entries, url.trim().to_owned())),
        _ => Err((
            entries,
            format!(
                "the server has no {IROH_RELAY} entry (NIL): Delta Chat uses iroh's default relays"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_strings_are_quoted() {
        assert_eq!(quoted("a\"b\\c").unwrap(), b"\"a\\\"b\\\\c\"");
        assert!(quoted("a\r\nb").is_err());
    }
}
