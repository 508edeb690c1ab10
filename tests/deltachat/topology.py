"""Network namespaces where the relay is the only path between clients.

One server namespace holds mail, discovery and the relay on a service
address (10.77.0.1, on its loopback). Each client namespace has a veth link
to the server namespace and a route to 10.77.0.0/16 through it. The server
does not forward, so a client reaches the server but never another client:
iroh's direct paths fail and everything goes through the relay.

DCE2E_INSTANCE=N (1-9) shifts names and addresses, so runs can go side by side.
"""

import os
import subprocess
import time

INSTANCE = int(os.environ.get("DCE2E_INSTANCE", "0"))
PREFIX = f"dce2e{INSTANCE}" if INSTANCE else "dce2e"
NET = f"10.{77 + INSTANCE}"
SERVER_NS = f"{PREFIX}-srv"
SERVICE_ADDR = f"{NET}.0.1"


def run(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def in_ns(ns, *args):
    return ["ip", "netns", "exec", ns, *args]


class Topology:
    """Creates the namespaces on entry and deletes them on exit."""

    def __init__(self, clients):
        self.clients = list(clients)
        self.client_ns = {name: f"{PREFIX}-{name}" for name in self.clients}
        self.client_addr = {}

    def __enter__(self):
        self.delete_leftovers()
        run("ip", "netns", "add", SERVER_NS)
        self._srv("ip", "link", "set", "lo", "up")
        self._srv("ip", "addr", "add", f"{SERVICE_ADDR}/32", "dev", "lo")
        self._srv("sysctl", "-qw", "net.ipv4.ip_forward=0")
        for i, name in enumerate(self.clients, start=1):
            ns = self.client_ns[name]
            near, far = f"{PREFIX}-{name}0", f"{PREFIX}-{name}1"
            net = f"{NET}.{i}"
            run("ip", "netns", "add", ns)
            run("ip", "link", "add", near, "netns", SERVER_NS, "type", "veth",
                "peer", "name", far, "netns", ns)
            self._srv("ip", "addr", "add", f"{net}.1/24", "dev", near)
            self._srv("ip", "link", "set", near, "up")
            run(*in_ns(ns, "ip", "link", "set", "lo", "up"))
            run(*in_ns(ns, "ip", "addr", "add", f"{net}.2/24", "dev", far))
            run(*in_ns(ns, "ip", "link", "set", far, "up"))
            run(*in_ns(ns, "ip", "route", "add", f"{NET}.0.0/16", "via", f"{net}.1"))
            self.client_addr[name] = f"{net}.2"
        return self

    def __exit__(self, *_exc):
        self.delete_leftovers()

    def delete_leftovers(self):
        """Removes this test's namespaces, also those of a killed earlier run."""
        for name in self.kill_processes():
            run("ip", "netns", "delete", name, check=False)

    def kill_processes(self):
        """SIGKILLs everything in this test's namespaces; returns their names."""
        names = [line.split(" ")[0] for line in
                 run("ip", "netns", "list", check=False).stdout.split("\n")]
        names = [n for n in names if n.startswith(f"{PREFIX}-")]
        for name in names:
            for pid in run("ip", "netns", "pids", name, check=False).stdout.split():
                run("kill", "-9", pid, check=False)
        return names

    def _srv(self, *args):
        run(*in_ns(SERVER_NS, *args))

    def prove_isolated(self):
        """Each client reaches the server; no client reaches another.

        A TCP listener in every client namespace: the server namespace
        connects to it (so it is up), every other client must fail to.
        """
        port = 7999
        listeners = []
        for name, addr in self.client_addr.items():
            code = ("import socket,time;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,"
                    f"socket.SO_REUSEADDR,1);s.bind(('{addr}',{port}));s.listen();time.sleep(30)")
            listeners.append(subprocess.Popen(in_ns(self.client_ns[name], "python3", "-c", code)))
        try:
            for name, addr in self.client_addr.items():
                if not wait_connect(SERVER_NS, addr, port, 5):
                    raise AssertionError(f"server namespace cannot reach client {name} at {addr}")
            attempts = [(other, name, connect(self.client_ns[other], addr, port, 2))
                        for name, addr in self.client_addr.items()
                        for other in self.clients if other != name]
            for other, name, attempt in attempts:
                if attempt.wait() == 0:
                    raise AssertionError(f"client {other} reaches client {name} directly")
        finally:
            for p in listeners:
                p.kill()
                p.wait()


def connect(ns, addr, port, timeout):
    """A TCP connect from inside ns; the process exits 0 if it connected."""
    code = f"import socket;socket.create_connection(('{addr}',{port}),timeout={timeout})"
    return subprocess.Popen(in_ns(ns, "python3", "-c", code),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def try_connect(ns, addr, port, timeout):
    return connect(ns, addr, port, timeout).wait() == 0


def wait_connect(ns, addr, port, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if try_connect(ns, addr, port, 1):
            return True
        time.sleep(0.1)
    return False


def wait_listening(addr, port, seconds, ns=SERVER_NS):
    """True once something accepts TCP on addr:port inside ns."""
    return wait_connect(ns, addr, port, seconds)

