"""A Delta Chat client: the real core (deltachat-rpc-server) in its own
network namespace, one account, and a journal of every event it emits."""

import os
import threading
import time
import zipfile
from pathlib import Path

from deltachat_rpc_client import DeltaChat, Rpc
from deltachat_rpc_client.const import EventType, ViewType
from deltachat_rpc_client.message import Message

from mailserver import PASSWORD
from topology import SERVICE_ADDR, in_ns


class Journal:
    """Every event of one account, kept in order, waitable by predicate."""

    def __init__(self, rpc: Rpc, account_id: int):
        self.events = []
        self.cond = threading.Condition()
        self.queue = rpc.get_queue(account_id)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        while True:
            event = self.queue.get()
            with self.cond:
                self.events.append((time.monotonic(), event))
                self.cond.notify_all()

    def wait(self, predicate, timeout):
        """The first event (after any seen before) matching predicate, or None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for _, e in self.events:
                    if predicate(e):
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def matching(self, predicate):
        with self.cond:
            return [(t, e) for t, e in self.events if predicate(e)]

    def realtime(self, msg_id):
        """(time, bytes) of every realtime payload received for msg_id."""
        return [(t, bytes(e["data"])) for t, e in self.matching(
            lambda e: e["kind"] == EventType.WEBXDC_REALTIME_DATA and e["msgId"] == msg_id)]


class Client:
    """One deltachat-rpc-server process in `ns`; `start()` may be called again
    after `stop()` to get a fresh core (it reads METADATA anew)."""

    def __init__(self, name, ns, root: Path, rpc_server: str, rust_log: str):
        self.name = name
        self.ns = ns
        self.dir = root / f"client-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = root / f"client-{name}.log"
        self.rpc_server = rpc_server
        self.rust_log = rust_log
        self.rpc = None
        self.account = None
        self.journal = None
        self.seen_msgs = set()

    def start(self):
        # The core's stderr goes to a file: a full pipe would block it.
        stderr = open(self.log_path, "ab")
        env = {**os.environ, "RUST_LOG": self.rust_log}
        self.rpc = Rpc(accounts_dir=str(self.dir / "accounts"),
                       rpc_server_path=in_ns(self.ns, self.rpc_server), stderr=stderr, env=env)
        self.rpc.start()
        stderr.close()
        dc = DeltaChat(self.rpc)
        accounts = dc.get_all_accounts()
        self.account = accounts[0] if accounts else dc.add_account()
        self.journal = Journal(self.rpc, self.account.id)

    def configure(self, addr, imap_port):
        """Mail servers by IP literal: no autoconfig, no DNS."""
        self.account.set_config("displayname", self.name)
        self.account.add_or_update_transport({
            "addr": addr, "password": PASSWORD,
            "imapServer": SERVICE_ADDR, "imapPort": imap_port, "imapSecurity": "plain",
            "smtpServer": SERVICE_ADDR, "smtpPort": 25, "smtpSecurity": "plain",
            "certificateChecks": "acceptInvalidCertificates",
        })

    def go_online(self):
        # A new profile starts reading INBOX at UIDNEXT: be idle before
        # anyone sends to it, or the first message is skipped.
        self.rpc.start_io(self.account.id)
        self.rpc.wait_for_all_work_done(self.account.id)

    def stop(self):
        if self.rpc:
            self.rpc.close()
            self.rpc.process.wait(15)
            self.rpc = None

    def wait_info(self, needle, timeout):
        """The core's first Info event containing needle, or None."""
        return self.journal.wait(
            lambda e: e["kind"] == EventType.INFO and needle in e.get("msg", ""), timeout)

    def core_log(self):
        return self.log_path.read_text(errors="replace")

    def vcard(self):
        return self.account.self_contact.make_vcard()

    def chat_with(self, *others):
        """A 1:1 chat (one other) or a group (several), members from their
        vCards, so the chat is encrypted from its first message."""
        contacts = [self.account.import_vcard(o.vcard())[0] for o in others]
        if len(contacts) == 1:
            return contacts[0].create_chat()
        group = self.account.create_group("realtime group")
        group.add_contact(*contacts)
        return group

    def wait_incoming_webxdc(self, timeout) -> Message:
        """The next incoming webxdc app not returned before; its chat accepted."""
        e = self.journal.wait(lambda e: e["kind"] == EventType.INCOMING_MSG
                              and e["msgId"] not in self.seen_msgs
                              and self.message(e["msgId"]).get_snapshot().view_type
                              == ViewType.WEBXDC, timeout)
        if e is None:
            raise AssertionError(f"{self.name}: no webxdc app arrived within {timeout} s")
        self.seen_msgs.add(e["msgId"])
        msg = self.message(e["msgId"])
        msg.get_snapshot().chat.accept()
        return msg

    def message(self, msg_id) -> Message:
        return Message(self.account, msg_id)


def make_xdc(path: Path) -> Path:
    """The smallest webxdc app: a manifest and an index page."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("manifest.toml", 'name = "realtime check"\n')
        z.writestr("index.html", "<html><body>realtime</body></html>\n")
    return path


