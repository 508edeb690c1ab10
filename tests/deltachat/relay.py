"""The relay under test (ours or the reference) and imap-meta, in the server
namespace, each with its stderr in a log file."""

import signal
import subprocess
from pathlib import Path

from topology import SERVER_NS, SERVICE_ADDR, in_ns, wait_listening

RELAY_PORT = 3340
METRICS_PORT = 9090
PROXY_PORT = 1143
RELAY_URL = f"http://{SERVICE_ADDR}:{RELAY_PORT}"

CONFIG = f"""# chatmail's iroh-relay.toml, bound to the test's service address.
enable_relay = true
http_bind_addr = "{SERVICE_ADDR}:{RELAY_PORT}"
enable_stun = false
enable_metrics = true
metrics_bind_addr = "{SERVICE_ADDR}:{METRICS_PORT}"
access = "everyone"
"""


class Relay:
    """One relay process at a time; `start()` again after `stop()` is a restart."""

    def __init__(self, flavor: str, binary: str, root: Path, rust_log: str):
        self.flavor = flavor
        self.binary = binary
        self.config = root / "relay.toml"
        self.config.write_text(CONFIG)
        self.log_path = root / "relay.log"
        self.rust_log = rust_log
        self.proc = None

    def start(self):
        log = open(self.log_path, "ab")
        args = [self.binary, "--config-path", str(self.config)]
        env = {"RUST_LOG": self.rust_log, "PATH": "/usr/bin:/bin"}
        self.proc = subprocess.Popen(in_ns(SERVER_NS, *args), stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log, env=env)
        log.close()
        if not wait_listening(SERVICE_ADDR, RELAY_PORT, 20):
            self.stop(signal.SIGKILL)
            raise RuntimeError(f"{self.flavor} relay did not listen; log:\n{self.log_tail()}")

    def stop(self, sig=signal.SIGTERM):
        """Stops the relay; returns its exit code."""
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def metrics(self):
        """Counter values by name (labels folded in), from the relay's /metrics."""
        code = ("import urllib.request;print(urllib.request.urlopen("
                f"'http://{SERVICE_ADDR}:{METRICS_PORT}/metrics',timeout=5).read().decode())")
        out = subprocess.run(in_ns(SERVER_NS, "python3", "-c", code),
                             capture_output=True, text=True, check=True).stdout
        values = {}
        for line in out.splitlines():
            if line.startswith("#") or " " not in line:
                continue
            name, _, value = line.rpartition(" ")
            try:
                values[name] = float(value)
            except ValueError:
                continue
        return values

    def forwarded_packets(self):
        """relayserver_send_packets_sent: 'send' packets relayed to a destination."""
        return sum(v for k, v in self.metrics().items()
                   if k.split("{")[0] in ("relayserver_send_packets_sent",
                                          "relayserver_send_packets_sent_total"))

    def log_tail(self, n=3000):
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"


class ImapMetaProxy:
    """`imap-meta proxy` in front of Dovecot, publishing RELAY_URL."""

    def __init__(self, binary: str, root: Path):
        self.binary = binary
        self.log_path = root / "imap-meta.log"
        self.proc = None

    def start(self, upstream_port=143):
        log = open(self.log_path, "ab")
        args = [self.binary, "proxy", "--listen", f"{SERVICE_ADDR}:{PROXY_PORT}",
                "--upstream", f"{SERVICE_ADDR}:{upstream_port}", "--relay-url", RELAY_URL]
        self.proc = subprocess.Popen(in_ns(SERVER_NS, *args), stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log)
        log.close()
        if not wait_listening(SERVICE_ADDR, PROXY_PORT, 20):
            raise RuntimeError(f"imap-meta did not listen; log:\n{self.log_path.read_text()}")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
