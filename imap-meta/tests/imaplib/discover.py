"""Relay discovery the way chatmail's test-15 does it, with Python's imaplib.

Usage: discover.py HOST PORT KEY
Prints the URL found in the untagged METADATA reply for KEY, or "NIL" when
the server answered NIL; exits non-zero (with the reason) otherwise.
"""
import imaplib
import re
import sys

host, port, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
imaplib.Commands["GETMETADATA"] = ("AUTH", "SELECTED")

conn = imaplib.IMAP4(host, port)
conn.login("alice@example.org", "pw")
typ, caps = conn.capability()
if typ != "OK" or not any("METADATA" in c.decode() for c in caps[0].split()):
    sys.exit(f"CAPABILITY lacks METADATA: {typ} {caps}")
conn.untagged_responses.clear()
typ, data = conn._simple_command("GETMETADATA", '""', key)
if typ != "OK":
    sys.exit(f"GETMETADATA status {typ}: {data}")
typ, items = conn._untagged_response(typ, data, "METADATA")
found = None
for item in items:
    # A literal-bearing reply would arrive as a tuple, which test-15 skips.
    if not isinstance(item, bytes):
        sys.exit(f"value came as a literal, not a quoted string: {item!r}")
    text = item.decode()
    if key not in text:
        continue
    m = re.search(r"https?://[^\s\"()]+", text)
    if m:
        found = m.group(0)
    elif re.search(re.escape(key) + r"\s+NIL\)", text):
        found = "NIL"
if found is None:
    sys.exit(f"no METADATA item for {key}: {items!r}")
conn.logout()
print(found)
