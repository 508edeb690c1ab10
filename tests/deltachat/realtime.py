"""WebXDC realtime exchanges between clients, as the webxdc API drives them.

Gossip drops data sent before its swarm has formed, so a sender repeats its
payload once a second until every receiver has it, as Delta Chat's own tests
do. A receiver must get exactly the bytes sent, and nothing else.
"""

import os
import struct
import threading
import time

from deltachat_rpc_client.const import EventType


class Direction:
    """One sender's payload and the receivers that must get it."""

    def __init__(self, label, sender, sender_msg, receivers):
        self.label = label
        self.sender = sender
        self.sender_msg = sender_msg
        self.receivers = receivers  # [(client, msg_id)]
        self.payload = os.urandom(48) + label.encode()
        self.started = None
        self.arrived = {}  # receiver name -> seconds after start

    def pending(self):
        return [(c, m) for c, m in self.receivers if c.name not in self.arrived]

    def check(self):
        for client, msg_id in self.pending():
            for t, data in client.journal.realtime(msg_id):
                if data == self.payload:
                    self.arrived[client.name] = t - self.started
                    break

    def run(self, deadline):
        self.started = time.monotonic()
        while self.pending() and time.monotonic() < deadline:
            self.sender_msg.send_webxdc_realtime_data(self.payload)
            for _ in range(10):
                self.check()
                if not self.pending():
                    return
                time.sleep(0.1)


def advertise(*msgs):
    """Every member joins the realtime channel of its copy of the app."""
    for m in msgs:
        m.send_webxdc_realtime_advertisement()


def exchange(directions, timeout):
    """Runs every direction at once; returns them, arrival times filled in."""
    deadline = time.monotonic() + timeout
    threads = [threading.Thread(target=d.run, args=(deadline,), daemon=True)
               for d in directions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return directions


def stray_payloads(directions):
    """Realtime data a receiver got that nobody sent it (corruption, mixups)."""
    stray = []
    sent = {}
    for d in directions:
        for client, msg_id in d.receivers:
            sent.setdefault((client.name, msg_id), (client, set()))[1].add(d.payload)
    for (name, msg_id), (client, payloads) in sent.items():
        for _, data in client.journal.realtime(msg_id):
            if data not in payloads:
                stray.append((name, data[:16]))
    return stray


class Stream:
    """A sender sending a numbered payload every 0.2 s, for the restart test."""

    def __init__(self, sender_msg):
        self.msg = sender_msg
        self.sent_at = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        seq = 0
        while not self.stop.is_set():
            self.sent_at[seq] = time.monotonic()
            try:
                self.msg.send_webxdc_realtime_data(b"seq" + struct.pack(">Q", seq))
            except Exception:  # the core refuses while it has no endpoint
                pass
            seq += 1
            self.stop.wait(0.2)

    def first_arrival_after(self, client, msg_id, since):
        """Seconds from `since` to the receipt of the first payload sent after it."""
        for t, data in client.journal.realtime(msg_id):
            if len(data) == 11 and data.startswith(b"seq"):
                seq = struct.unpack(">Q", data[3:])[0]
                if self.sent_at.get(seq, 0) >= since:
                    return t - since
        return None


def wait_advert(client, msg_id, timeout):
    """True once the client got a peer's advertisement for its app msg_id."""
    return client.journal.wait(
        lambda e: e["kind"] == EventType.WEBXDC_REALTIME_ADVERTISEMENT_RECEIVED
        and e["msgId"] == msg_id, timeout) is not None
