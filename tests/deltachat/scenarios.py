"""One end-to-end run: the setup, then each scenario as a method.

Every step prints its time. A failed expectation raises Failed with a
sentence saying what did not happen.
"""

import re
import signal
import time
from pathlib import Path

from client import Client, make_xdc
from mailserver import MailServer
from realtime import Direction, Stream, advertise, exchange, stray_payloads, wait_advert
from relay import PROXY_PORT, RELAY_URL, ImapMetaProxy, Relay

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Failed(Exception):
    pass


def expect(cond, text):
    if not cond:
        raise Failed(text)


class Steps:
    def __init__(self, label):
        self.label = label
        self.t0 = time.monotonic()

    def __call__(self, text):
        print(f"[{self.label} {time.monotonic() - self.t0:6.1f} s] {text}", flush=True)


def home_relays(client):
    """Every relay URL the core's iroh endpoint took as its home."""
    return re.findall(r"home is now relay (http[^\s,]+)", ANSI.sub("", client.core_log()))


class Run:
    def __init__(self, args, topo, root: Path, step: Steps, report: dict):
        self.args = args
        self.topo = topo
        self.root = root
        self.step = step
        self.report = report
        self.mail = self.relay = self.proxy = None
        self.clients = {}

    def setup(self):
        args, step = self.args, self.step
        self.topo.prove_isolated()
        step("isolation proven: each client reaches the server, none reaches another")
        names = self.topo.clients
        self.mail = MailServer(self.root / "mail", names, metadata=args.discovery == "dovecot")
        self.mail.start()
        step("dovecot and postfix up")
        self.relay = Relay(args.relay, args.relay_bin, self.root, args.relay_log)
        self.relay.start()
        step(f"{args.relay} relay up at {RELAY_URL}")
        if args.discovery == "dovecot":
            self.mail.set_relay_metadata(RELAY_URL)
            imap_port = 143
            step("relay URL set in Dovecot's own METADATA")
        else:
            self.proxy = ImapMetaProxy(args.imap_meta_bin, self.root)
            self.proxy.start()
            imap_port = PROXY_PORT
            step("imap-meta proxy in front of Dovecot (which has no METADATA)")

        for n in names:
            c = Client(n, self.topo.client_ns[n], self.root, args.rpc_server, args.client_log)
            self.clients[n] = c
            c.start()
            c.configure(self.mail.addr(n), imap_port)
            c.go_online()
        step(f"{len(names)} Delta Chat cores configured and online")
        for c in self.clients.values():
            expect(c.wait_info("Server supports metadata", 20),
                   f"{c.name}: the core never read server METADATA")
        step("every core read the server's METADATA")

        a, b = self.clients["a"], self.clients["b"]
        self.xdc = str(make_xdc(self.root / "realtime.xdc"))
        b.chat_with(a)
        self.msg_a = a.chat_with(b).send_message(text="realtime", file=self.xdc)
        self.msg_b = b.wait_incoming_webxdc(60)
        step("encrypted 1:1 chat, webxdc app arrived at b")

    def pair(self):
        """Random bytes a->b and b->a; the relay's counters show it carried them."""
        a, b, args = self.clients["a"], self.clients["b"], self.args
        if args.advertise == "b-then-a":
            # a joins knowing b's address and dials it; b dials back when a's
            # advertisement reaches it: two connections, b's the newer.
            advertise(self.msg_b)
            expect(wait_advert(a, self.msg_a.id, 60), "b's advertisement never reached a")
            advertise(self.msg_a)
        else:
            advertise(self.msg_a, self.msg_b)
        dirs = [Direction("a->b", a, self.msg_a, [(b, self.msg_b.id)]),
                Direction("b->a", b, self.msg_b, [(a, self.msg_a.id)])]
        if args.order == "together":
            exchange(dirs, args.timeout)
        else:  # a->b while b is silent, then b->a
            for d in dirs:
                exchange([d], args.timeout)
        arrived = {d.label: d.arrived.get(d.receivers[0][0].name) for d in dirs}
        self.report["directions"] = arrived
        missing = [d.label for d in dirs if d.pending()]
        expect(not missing, f"realtime data never arrived: {', '.join(missing)} "
               f"(within {args.timeout} s each; arrived: {arrived})")
        # Counted from the relay's start: a core may connect to its peer as
        # soon as the app arrives, before anyone advertises.
        forwarded = self.relay.forwarded_packets()
        self.step("realtime both ways: " + ", ".join(f"{k} {v:.1f} s" for k, v in arrived.items())
                  + f"; the relay forwarded {forwarded:.0f} packets since its start")
        expect(forwarded >= 10, f"the relay forwarded only {forwarded} packets")
        expect(not stray_payloads(dirs), f"unexpected data: {stray_payloads(dirs)}")
        for c in (a, b):
            homes = home_relays(c)
            expect(homes and all(h.rstrip("/") == RELAY_URL for h in homes),
                   f"{c.name}: iroh home relay {homes}, expected {RELAY_URL}")
        self.step(f"both cores' iroh home relay is {RELAY_URL}")

    def group(self):
        """One sender, two receivers in a 3-member group."""
        a, b, c = self.clients["a"], self.clients["b"], self.clients["c"]
        group_a = a.chat_with(b, c).send_message(text="group realtime", file=self.xdc)
        group_b = b.wait_incoming_webxdc(60)
        group_c = c.wait_incoming_webxdc(60)
        self.step("3-member group, webxdc app arrived at b and c")
        advertise(group_a, group_b, group_c)
        d = Direction("a->b,c", a, group_a, [(b, group_b.id), (c, group_c.id)])
        exchange([d], self.args.timeout)
        expect(not d.pending(), f"group data never reached {[x.name for x, _ in d.pending()]}")
        expect(not stray_payloads([d]), f"unexpected data: {stray_payloads([d])}")
        self.step("group realtime: " + ", ".join(f"{k} {v:.1f} s" for k, v in d.arrived.items()))

    def restart(self):
        """SIGTERM the relay mid-session, start it again, time the recovery."""
        a, b, args = self.clients["a"], self.clients["b"], self.args
        streams = [(Stream(self.msg_a), b, self.msg_b.id, "a->b"),
                   (Stream(self.msg_b), a, self.msg_a.id, "b->a")]
        for s, *_ in streams:
            s.thread.start()
        time.sleep(2)
        code = self.relay.stop(signal.SIGTERM)
        # The reference has no SIGTERM handler and dies of the signal.
        expect(code == 0 or (args.relay == "reference" and code == -signal.SIGTERM),
               f"relay exited {code} on SIGTERM")
        restarted = time.monotonic()
        self.relay.start()
        self.step("relay stopped with SIGTERM mid-session and started again")
        recovery = {}
        deadline = restarted + args.restart_bound
        while time.monotonic() < deadline and len(recovery) < 2:
            for s, receiver, msg_id, label in streams:
                if label not in recovery:
                    t = s.first_arrival_after(receiver, msg_id, restarted)
                    if t is not None:
                        recovery[label] = t
            time.sleep(0.2)
        for s, *_ in streams:
            s.stop.set()
        self.report["recovery"] = recovery
        expect(len(recovery) == 2, f"data did not flow again within "
               f"{args.restart_bound} s of the restart: {recovery}")
        expect(self.relay.forwarded_packets() > 0, "the restarted relay forwarded nothing")
        self.step("data flows again after the restart: "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in recovery.items()))

    def negative(self):
        """With the advertised relay dead, no realtime data arrives."""
        a, b, args = self.clients["a"], self.clients["b"], self.args
        self.relay.stop()
        for c in (a, b):
            c.stop()
            c.start()
            c.go_online()
        self.step("relay dead; a and b restarted with fresh cores")
        na, nb = a.message(self.msg_a.id), b.message(self.msg_b.id)
        advertise(na, nb)
        expect(wait_advert(a, na.id, 60) and wait_advert(b, nb.id, 60),
               "the cores did not see each other's advertisements by mail")
        dirs = exchange([Direction("a->b", a, na, [(b, nb.id)]),
                         Direction("b->a", b, nb, [(a, na.id)])], args.negative_timeout)
        leaked = [d.label for d in dirs if not d.pending()]
        expect(not leaked, f"realtime data arrived with the relay dead: {leaked}")
        self.step(f"negative control: no data in {args.negative_timeout:.0f} s with the relay dead")

    def teardown(self):
        for c in self.clients.values():
            try:
                c.stop()
            except Exception:
                pass
        if self.relay and self.relay.proc:
            try:
                self.report["metrics"] = {k: v for k, v in self.relay.metrics().items()
                                          if "dropped" in k or "send_packets" in k}
            except Exception as e:
                self.report["metrics"] = f"unreadable: {e}"
            self.relay.stop()
        if self.proxy:
            self.proxy.stop()
        if self.mail:
            self.mail.stop()
