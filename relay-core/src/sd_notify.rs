//! systemd service notifications (`sd_notify(3)`) without libsystemd.
//!
//! Under a `Type=notify` or `Type=notify-reload` unit, systemd passes a
//! Unix datagram socket in `NOTIFY_SOCKET` (a path, or `@name` in the
//! abstract namespace) and expects newline-separated `KEY=value`
//! assignments on it: `READY=1` once serving, `RELOADING=1` with the
//! monotonic time when a reload starts, `STOPPING=1`, free-text `STATUS=`,
//! and `WATCHDOG=1` pings when `WatchdogSec=` is set.
//!
//! Sending never blocks: when the socket buffer is full the message is
//! dropped (and reported as such), so a stalled systemd cannot stall the
//! relay. Nothing here panics; failures are returned.
//!
//! [`Notifier::from_env`] leaves `NOTIFY_SOCKET` (and `WATCHDOG_USEC`,
//! `WATCHDOG_PID`) in the environment, so a child process the relay starts
//! would see them too; systemd ignores notifications from processes other
//! than the main one under the default `NotifyAccess=main`.

use std::ffi::OsStr;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// A socket to systemd's notification socket.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
    /// `NOTIFY_SOCKET` as given, for error messages.
    name: String,
}

impl Notifier {
    /// The notifier for `NOTIFY_SOCKET`; `Ok(None)` when it is unset or
    /// empty (not started by systemd, or a unit type that takes no
    /// notifications). The variable is left set (see the module docs).
    pub fn from_env() -> io::Result<Option<Notifier>> {
        match std::env::var_os("NOTIFY_SOCKET") {
            Some(value) if !value.is_empty() => Notifier::new(&value).map(Some),
            _ => Ok(None),
        }
    }

    /// The notifier for a `NOTIFY_SOCKET` value: an absolute path or
    /// `@name` (abstract namespace). Other forms (`vsock:`) are refused.
    pub fn new(notify_socket: &OsStr) -> io::Result<Notifier> {
        let name = notify_socket.to_string_lossy().into_owned();
        let bytes = notify_socket.as_bytes();
        let addr = match bytes.first() {
            Some(b'/') => SocketAddr::from_pathname(notify_socket),
            Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..]),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not an absolute path or @name",
            )),
        }
        .map_err(|e| naming(&name, e))?;
        let socket = UnixDatagram::unbound().map_err(|e| naming(&name, e))?;
        socket.set_nonblocking(true).map_err(|e| naming(&name, e))?;
        Ok(Notifier { socket, addr, name })
    }

    /// `READY=1` with a `STATUS=` line: startup (or a reload) is complete.
    pub fn ready(&self, status: &str) -> io::Result<bool> {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)))
    }

    /// `RELOADING=1` with `MONOTONIC_USEC=`, which systemd 253 and later
    /// require for `Type=notify-reload`. `now_monotonic` is
    /// [`monotonic_now`] taken when the reload starts; send [`ready`]
    /// when it is done.
    ///
    /// [`ready`]: Notifier::ready
    pub fn reloading(&self, now_monotonic: Duration) -> io::Result<bool> {
        self.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}",
            now_monotonic.as_micros()
        ))
    }

    /// `STOPPING=1`: shutdown has begun.
    pub fn stopping(&self) -> io::Result<bool> {
        self.send("STOPPING=1")
    }

    /// `STATUS=text`, shown by `systemctl status` (newlines become spaces).
    pub fn status(&self, text: &str) -> io::Result<bool> {
        self.send(&format!("STATUS={}", one_line(text)))
    }

    /// `WATCHDOG=1`: a keep-alive ping, every [`watchdog_interval`].
    pub fn watchdog(&self) -> io::Result<bool> {
        self.send("WATCHDOG=1")
    }

    /// Sends `message` (newline-separated assignments) as one datagram.
    /// `Ok(false)`: the socket buffer was full and the message was dropped.
    pub fn send(&self, message: &str) -> io::Result<bool> {
        loop {
            match self.socket.send_to_addr(message.as_bytes(), &self.addr) {
                Ok(_) => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(naming(&self.name, e)),
            }
        }
    }
}

/// `e` with the socket named: `notify socket /run/systemd/notify: ...`.
fn naming(name: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("notify socket {name}: {e}"))
}

/// A value that cannot start another assignment.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// `CLOCK_MONOTONIC` now, the clock `MONOTONIC_USEC=` is read against.
pub fn monotonic_now() -> io::Result<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    Ok(Duration::from_secs(secs).saturating_add(Duration::from_nanos(nanos)))
}

/// How often to send [`Notifier::watchdog`], from `WATCHDOG_USEC` and
/// `WATCHDOG_PID` in the environment: see [`watchdog_interval_from`].
pub fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    watchdog_interval_from(usec.as_deref(), pid.as_deref(), std::process::id())
}

/// Half the watchdog timeout `usec` (microseconds), the ping period
/// systemd recommends. `None` when there is no watchdog for us: `usec`
/// unset, zero or not a number, or `pid` set but not `our_pid`.
pub fn watchdog_interval_from(
    usec: Option<&str>,
    pid: Option<&str>,
    our_pid: u32,
) -> Option<Duration> {
    let usec = usec?.trim().parse::<u64>().ok().filter(|&u| u > 0)?;
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok()? != our_pid {
            return None;
        }
    }
    Some(Duration::from_micros((usec / 2).max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A name no other test (or test run) uses.
    fn unique(what: &str) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        format!("uring-relay-sd-notify-{what}-{}-{n}", std::process::id())
    }

    /// A directory removed when dropped.
    struct TempDir(PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A receiving socket bound at a path, the notifier for it, and the
    /// directory it lives in.
    fn at_path() -> (UnixDatagram, Notifier, TempDir) {
        let dir = TempDir(std::env::temp_dir().join(unique("dir")));
        std::fs::create_dir(&dir.0).expect("temp dir");
        let path = dir.0.join("notify");
        let receiver = UnixDatagram::bind(&path).expect("bind");
        let notifier = Notifier::new(path.as_os_str()).expect("notifier");
        (receiver, notifier, dir)
    }

    /// The next datagram; a test that sent nothing fails instead of hanging.
    fn received(receiver: &UnixDatagram) -> String {
        receiver
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        let mut buf = [0u8; 512];
        let n = receiver.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn messages_at_a_path_are_exact() {
        let (receiver, notifier, _dir) = at_path();
        assert_eq!(notifier.ready("2 shards, 0 clients").ok(), Some(true));
        assert_eq!(received(&receiver), "READY=1\nSTATUS=2 shards, 0 clients");
        notifier
            .reloading(Duration::from_micros(1_234_567_890))
            .expect("send");
        assert_eq!(
            received(&receiver),
            "RELOADING=1\nMONOTONIC_USEC=1234567890"
        );
        notifier.stopping().expect("send");
        assert_eq!(received(&receiver), "STOPPING=1");
        notifier.watchdog().expect("send");
        assert_eq!(received(&receiver), "WATCHDOG=1");
        // A newline cannot smuggle in another assignment.
        notifier.status("draining\nREADY=1\r").expect("send");
        assert_eq!(received(&receiver), "STATUS=draining READY=1 ");
    }

    #[test]
    fn abstract_namespace() {
        let name = unique("abstract");
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("address");
        let receiver = UnixDatagram::bind_addr(&addr).expect("bind");
        let notifier = Notifier::new(OsStr::new(&format!("@{name}"))).expect("notifier");
        notifier.ready("up").expect("send");
        assert_eq!(received(&receiver), "READY=1\nSTATUS=up");
    }

    #[test]
    fn full_buffer_drops_instead_of_blocking() {
        let (_receiver, notifier, _dir) = at_path();
        // Nobody reads: the queue fills and sending reports a drop.
        let dropped = (0..100_000).any(|_| notifier.watchdog().ok() == Some(false));
        assert!(dropped);
    }

    #[test]
    fn errors_are_returned_and_name_the_socket() {
        for bad in ["", "relative/notify", "vsock:2:1234"] {
            let e = Notifier::new(OsStr::new(bad)).err();
            assert_eq!(e.map(|e| e.kind()), Some(io::ErrorKind::InvalidInput));
        }
        let long = format!("/{}", "x".repeat(200));
        assert!(Notifier::new(OsStr::new(&long)).is_err());

        let gone = std::env::temp_dir().join(unique("gone")).join("notify");
        let notifier = Notifier::new(gone.as_os_str()).expect("notifier");
        let e = notifier.ready("up").err().map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(
            e.starts_with(&format!("notify socket {}: ", gone.display())),
            "{e}"
        );
    }

    #[test]
    fn watchdog_interval_is_half_the_timeout_for_our_pid() {
        let half = |usec, pid| watchdog_interval_from(usec, pid, 4242);
        assert_eq!(half(Some("30000000"), None), Some(Duration::from_secs(15)));
        assert_eq!(
            half(Some("3000000"), Some("4242")),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(half(Some("1"), None), Some(Duration::from_micros(1)));
        assert_eq!(half(Some("3000000"), Some("4243")), None);
        assert_eq!(half(Some("3000000"), Some("init")), None);
        assert_eq!(half(Some("0"), None), None);
        assert_eq!(half(Some("-5"), None), None);
        assert_eq!(half(Some("soon"), None), None);
        assert_eq!(half(None, Some("4242")), None);
    }

    #[test]
    fn monotonic_clock_reads() {
        let a = monotonic_now().expect("clock");
        let b = monotonic_now().expect("clock");
        assert!(b >= a);
    }
}
