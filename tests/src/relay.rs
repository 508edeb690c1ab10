//! Starting a relay binary (uring-relay or the reference iroh-relay 0.35) as a
//! child process on a free loopback port.
//!
//! Binary selection:
//! * `RELAY_BIN` set: that binary (e.g. `.cache/iroh-relay-0.35/bin/iroh-relay`).
//! * otherwise `target/<profile>/uring-relay` next to the test executable; if it
//!   is missing it is built once with `$CARGO build -p relay-core --bin uring-relay`.
//!
//! `RELAY_FLAVOR=reference` marks the binary as the reference server, so tests of
//! behaviour it lacks are skipped (see [`skip_on_reference`]).
//!
//! `RELAY_IO_BACKEND=epoll` (or `uring`, `auto`) runs uring-relay on that I/O
//! backend (`io_backend` in its config), so one suite covers both backends.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};

/// How long a relay may take to accept TCP connections after being spawned.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// Keep at most this much of the relay's output (the tail).
const LOG_CAP: usize = 256 * 1024;

/// Which server implementation is under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Our uring-relay.
    Uring,
    /// The reference iroh-relay 0.35 binary (`RELAY_FLAVOR=reference`).
    Reference,
}

/// The flavor selected by `RELAY_FLAVOR`.
pub fn flavor() -> Flavor {
    match std::env::var("RELAY_FLAVOR") {
        Ok(v) if v.eq_ignore_ascii_case("reference") => Flavor::Reference,
        _ => Flavor::Uring,
    }
}

/// Returns true (and prints a SKIP line) when running against the reference
/// server, which lacks `what`. Use as `if skip_on_reference("PeerGone") { return; }`.
pub fn skip_on_reference(what: &str) -> bool {
    if flavor() == Flavor::Reference {
        // Written to the real stderr (not print!) so libtest's output capture
        // does not hide it; libtest names the thread after the test.
        let test = std::thread::current().name().unwrap_or("?").to_owned();
        let _ = writeln!(std::io::stderr(), "{test}: SKIP (reference lacks {what})");
        true
    } else {
        false
    }
}

/// Options for a relay child.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// `shards = N` in the config (ignored by the reference).
    pub shards: usize,
    /// Extra TOML lines appended to the generated config.
    pub extra_toml: String,
    /// `enable_metrics = true` on this address (else metrics are off).
    pub metrics_addr: Option<SocketAddr>,
    /// `enable_stun = true` on this address (else STUN is off).
    pub stun_addr: Option<SocketAddr>,
    /// Extra environment variables for the child.
    pub env: Vec<(String, String)>,
    /// `RLIMIT_NOFILE` (soft, hard) for the child, as a service manager
    /// would set it.
    pub nofile: Option<(u64, u64)>,
    /// Give the child a stderr pipe that is never read (as Madmail does):
    /// once the pipe is full, every write to it would block.
    pub stderr_unread: bool,
    /// Run the relay through this program (`wrapper relay-bin args…`),
    /// e.g. one that blocks io_uring first.
    pub wrapper: Option<PathBuf>,
    /// Run this binary instead of [`relay_binary`]'s (e.g. the reference
    /// in a test that compares both).
    pub bin: Option<PathBuf>,
    /// Extra command-line arguments (after `-c FILE`).
    pub args: Vec<String>,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            shards: 2,
            extra_toml: String::new(),
            metrics_addr: None,
            stun_addr: None,
            env: Vec::new(),
            nofile: None,
            stderr_unread: false,
            wrapper: None,
            bin: None,
            args: Vec::new(),
        }
    }
}

/// A running relay child process; killed on drop.
#[derive(Debug)]
pub struct RelayProcess {
    child: Child,
    addr: SocketAddr,
    config_path: PathBuf,
    log: Arc<Mutex<Vec<u8>>>,
    metrics_addr: Option<SocketAddr>,
    bin: PathBuf,
    opts: RelayOptions,
    /// The read end of an unread stderr pipe, held open.
    _unread: Option<std::io::PipeReader>,
}

impl RelayProcess {
    /// Starts a relay with `shards` shards and default options.
    pub fn start(shards: usize) -> Result<Self> {
        Self::start_with(RelayOptions {
            shards,
            ..Default::default()
        })
    }

    /// Starts a relay with the given options. Retries on a fresh port if the
    /// child exits during startup (e.g. the free port was taken meanwhile).
    pub fn start_with(opts: RelayOptions) -> Result<Self> {
        let bin = match &opts.bin {
            Some(b) => b.clone(),
            None => relay_binary()?,
        };
        let mut last_err = None;
        for _ in 0..3 {
            match Self::try_start(&bin, &opts) {
                Ok(relay) => return Ok(relay),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("relay failed to start")))
    }

    fn try_start(bin: &Path, opts: &RelayOptions) -> Result<Self> {
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let config_path = write_config(addr, opts)?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (child, unread) = spawn(bin, &config_path, opts, &log)?;
        let mut relay = RelayProcess {
            child,
            addr,
            config_path,
            log,
            metrics_addr: opts.metrics_addr,
            bin: bin.to_owned(),
            opts: opts.clone(),
            _unread: unread,
        };
        relay.wait_ready()?;
        Ok(relay)
    }

    /// Kills the relay with SIGKILL (as Madmail restarts it) and starts it
    /// again at once on the same port and config; fails unless the new
    /// process answers `/ping` (a dying one's listener may still take TCP
    /// connections for a moment).
    pub fn kill_and_restart(&mut self) -> Result<()> {
        self.child.kill().context("SIGKILL")?;
        self.child.wait().context("reaping the killed relay")?;
        let (child, unread) = spawn(&self.bin, &self.config_path, &self.opts, &self.log)?;
        self.child = child;
        self._unread = unread;
        self.wait_ready()?;
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "restarted relay exited ({status}); output:\n{}",
                    self.log_text()
                );
            }
            if ping(self.addr) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "restarted relay does not answer /ping; output:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            let up =
                |a: &SocketAddr| TcpStream::connect_timeout(a, Duration::from_millis(500)).is_ok();
            // The metrics listener (when enabled) may come up just after the
            // relay port.
            let metrics_up = match &self.metrics_addr {
                Some(a) => up(a),
                None => true,
            };
            if up(&self.addr) && metrics_up {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Give the drain threads a moment to collect the last output.
                std::thread::sleep(Duration::from_millis(100));
                bail!(
                    "relay exited during startup on {} ({status}); output:\n{}",
                    self.addr,
                    self.log_text()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "relay did not accept TCP on {} within {:?}; output:\n{}",
                    self.addr,
                    STARTUP_TIMEOUT,
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The HTTP listener address (127.0.0.1:port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The metrics address, when [`RelayOptions::metrics_addr`] was set (the
    /// relay is only reported ready once it accepts there too).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The listener port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT` as a relay URL.
    pub fn url(&self) -> iroh_base::RelayUrl {
        let url = format!("http://127.0.0.1:{}", self.addr.port());
        // A loopback URL with a numeric port always parses.
        url.parse().expect("loopback relay url parses")
    }

    /// The generated config file (removed when the relay is dropped); tests
    /// may rewrite it and send [`Self::sighup`].
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Replaces the config's `[access]` section and whatever follows it
    /// with `tail`, in one step (write + rename), keeping the generated
    /// part (addresses, shards); for reload tests.
    pub fn rewrite_access(&self, tail: &str) -> Result<()> {
        let text = std::fs::read_to_string(&self.config_path)?;
        let at = text
            .find("[access]")
            .context("the generated config has no [access] section")?;
        let tmp = self.config_path.with_extension("toml.new");
        std::fs::write(&tmp, format!("{}{tail}", &text[..at]))?;
        std::fs::rename(&tmp, &self.config_path)?;
        Ok(())
    }

    /// Sends SIGHUP (config reload) to the relay (via `kill -HUP`).
    pub fn sighup(&self) -> Result<()> {
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(self.child.id().to_string())
            .status()
            .context("running kill -HUP")?;
        if !status.success() {
            bail!("kill -HUP {} failed: {status}", self.child.id());
        }
        Ok(())
    }

    /// The process id of the relay.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM to the relay (via `kill -TERM`).
    pub fn sigterm(&self) -> Result<()> {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .context("running kill -TERM")?;
        if !status.success() {
            bail!("kill -TERM {} failed: {status}", self.child.id());
        }
        Ok(())
    }

    /// Waits (blocking, bounded) for the child to exit; returns whether it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return true,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => return false,
            }
        }
    }

    /// The captured stdout+stderr of the relay so far (tail).
    pub fn log_text(&self) -> String {
        let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        String::from_utf8_lossy(&log).into_owned()
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config_path);
        if std::thread::panicking() {
            eprintln!(
                "---- relay {} output (tail) ----\n{}\n---- end relay output ----",
                self.addr,
                self.log_text()
            );
        }
    }
}

/// Spawns the relay binary on `config`, its output collected into `log`
/// (or stderr left unread, see [`RelayOptions::stderr_unread`]).
fn spawn(
    bin: &Path,
    config: &Path,
    opts: &RelayOptions,
    log: &Arc<Mutex<Vec<u8>>>,
) -> Result<(Child, Option<std::io::PipeReader>)> {
    let mut cmd = match &opts.wrapper {
        Some(w) => {
            let mut c = Command::new(w);
            c.arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.arg("-c")
        .arg(config)
        .args(&opts.args)
        .envs(opts.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let unread = if opts.stderr_unread {
        let (reader, writer) = std::io::pipe().context("creating a pipe")?;
        cmd.stderr(writer);
        Some(reader)
    } else {
        cmd.stderr(Stdio::piped());
        None
    };
    if let Some((soft, hard)) = opts.nofile {
        let lim = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: setrlimit is async-signal-safe and touches only the
        // child, between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("spawning {}", bin.display()))?;
    drop(cmd);
    if let Some(out) = child.stdout.take() {
        drain(out, log.clone());
    }
    if let Some(err) = child.stderr.take() {
        drain(err, log.clone());
    }
    Ok((child, unread))
}

fn drain(mut src: impl Read + Send + 'static, log: Arc<Mutex<Vec<u8>>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match src.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Ok(mut l) = log.lock() {
                        l.extend_from_slice(&buf[..n]);
                        if l.len() > LOG_CAP {
                            let excess = l.len() - LOG_CAP;
                            l.drain(..excess);
                        }
                    }
                }
            }
        }
    });
}

/// Whether `GET /ping` on `addr` answers 200 (blocking, bounded).
fn ping(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"GET /ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// A currently free loopback TCP port.
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding a probe listener")?;
    Ok(l.local_addr()?.port())
}

fn write_config(addr: SocketAddr, opts: &RelayOptions) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "relay-test-{}-{}-{n}.toml",
        std::process::id(),
        addr.port()
    ));
    let stun = match opts.stun_addr {
        Some(a) => format!("enable_stun = true\nstun_bind_addr = \"{a}\""),
        None => "enable_stun = false".to_owned(),
    };
    let metrics = match opts.metrics_addr {
        Some(a) => format!("enable_metrics = true\nmetrics_bind_addr = \"{a}\""),
        None => "enable_metrics = false".to_owned(),
    };
    let backend = match (flavor(), std::env::var("RELAY_IO_BACKEND")) {
        (Flavor::Uring, Ok(b)) if !b.is_empty() => format!("io_backend = \"{b}\"\n"),
        _ => String::new(),
    };
    let toml = format!(
        "http_bind_addr = \"{addr}\"\n{stun}\n{metrics}\nshards = {}\n{backend}{}\n",
        opts.shards, opts.extra_toml
    );
    std::fs::write(&path, toml).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The relay binary to run: `RELAY_BIN`, else uring-relay from this target dir
/// (built once if missing).
pub fn relay_binary() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("RELAY_BIN") {
        let mut bin = PathBuf::from(bin);
        // Test executables run in the package dir; also accept a path relative
        // to the workspace root, where the commands are usually typed.
        if bin.is_relative() && !bin.is_file() {
            if let Some(root) = Path::new(env!("CARGO_MANIFEST_DIR")).parent() {
                bin = root.join(bin);
            }
        }
        if !bin.is_file() {
            bail!("RELAY_BIN={} is not a file", bin.display());
        }
        return Ok(bin);
    }
    uring_relay_binary()
}

/// uring-relay from this target dir (built once if missing), whatever
/// `RELAY_BIN` says: for tests of its own subcommands, such as `probe`.
pub fn uring_relay_binary() -> Result<PathBuf> {
    static BUILT: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| locate_or_build_uring_relay().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

fn locate_or_build_uring_relay() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("current_exe")?;
    // target/<profile>/deps/<test-exe>
    let deps = exe.parent().context("test exe has no parent dir")?;
    let profile_dir = if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().context("deps dir has no parent")?
    } else {
        deps
    };
    let bin = profile_dir.join("uring-relay");
    if bin.is_file() {
        return Ok(bin);
    }
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug")
        .to_owned();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("tests crate has no parent dir")?;
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "-p", "relay-core", "--bin", "uring-relay"]);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    eprintln!("building uring-relay: {cmd:?}");
    let status = cmd
        .status()
        .context("running cargo build for uring-relay")?;
    if !status.success() {
        bail!("building uring-relay failed: {status}");
    }
    if !bin.is_file() {
        bail!("{} still missing after cargo build", bin.display());
    }
    Ok(bin)
}
