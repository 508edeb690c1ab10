"""Private Dovecot and Postfix instances inside the server namespace.

Dovecot serves IMAP on SERVICE_ADDR:143 and LMTP plus a SASL socket on unix
sockets; Postfix takes mail on SERVICE_ADDR:25 (SMTP AUTH through Dovecot)
and hands it to Dovecot over LMTP. Plain text, as on a trusted local link.
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

from topology import PREFIX, SERVER_NS, SERVICE_ADDR, in_ns, wait_listening

DOMAIN = "example.org"
PASSWORD = "dce2e-password"
MAIL_UID = 65534
METADATA_KEY = "/shared/vendor/deltachat/irohrelay"


def dovecot_conf(d: Path, metadata: bool) -> str:
    meta = ("mail_attribute_dict = file:%h/dovecot-attributes\n"
            "protocol imap {\n  imap_metadata = yes\n}\n") if metadata else ""
    return f"""instance_name = {PREFIX}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap lmtp
listen = {SERVICE_ADDR}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
postmaster_address = postmaster@{DOMAIN}
{meta}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/passwd
}}
service imap-login {{
  inet_listener imap {{
    port = 143
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
service auth {{
  unix_listener auth-postfix {{
    mode = 0666
  }}
}}
"""


def postfix_main_cf(d: Path, dovecot_run: Path) -> str:
    return f"""compatibility_level = 3.6
queue_directory = {d}/spool
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.{DOMAIN}
mydomain = {DOMAIN}
mydestination =
inet_interfaces = {SERVICE_ADDR}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
virtual_mailbox_domains = {DOMAIN}
virtual_transport = lmtp:unix:{dovecot_run}/lmtp
smtpd_sasl_type = dovecot
smtpd_sasl_path = {dovecot_run}/auth-postfix
smtpd_sasl_auth_enable = yes
smtpd_tls_security_level = none
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_peername_lookup = no
smtputf8_enable = no
biff = no
maillog_file = {d}/postfix.log
maillog_file_prefixes = {d}
"""


def postfix_master_cf() -> str:
    """Debian's master.cf with chroot off, so smtpd reaches Dovecot's sockets."""
    out = []
    for line in Path("/etc/postfix/master.cf").read_text().splitlines():
        fields = line.split()
        if line and not line[0].isspace() and not line.startswith("#") and len(fields) >= 8:
            fields[4] = "n"
            line = " ".join(fields)
        out.append(line)
    return "\n".join(out) + "\n"


class MailServer:
    """Dovecot + Postfix under `root`; `start()`, then `stop()`."""

    def __init__(self, root: Path, users, metadata: bool):
        self.root = root
        self.users = list(users)
        self.metadata = metadata
        self.dovecot_dir = root / "dovecot"
        self.postfix_dir = root / "postfix"
        self.dovecot = None

    def addr(self, user):
        return f"{user}@{DOMAIN}"

    def start(self):
        d = self.dovecot_dir
        for sub in ["run", "state", "mail"]:
            (d / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        os.chmod(d, 0o755)
        os.chown(d / "mail", MAIL_UID, MAIL_UID)
        lines = [f"{self.addr(u)}:{{PLAIN}}{PASSWORD}:{MAIL_UID}:{MAIL_UID}::{d}/mail/{u}::"
                 for u in self.users]
        (d / "passwd").write_text("\n".join(lines) + "\n")
        (d / "dovecot.conf").write_text(dovecot_conf(d, self.metadata))
        self.dovecot = subprocess.Popen(
            in_ns(SERVER_NS, "dovecot", "-F", "-c", str(d / "dovecot.conf")),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        if not wait_listening(SERVICE_ADDR, 143, 20):
            raise RuntimeError(f"dovecot did not start:\n{self.log('dovecot')}")

        p = self.postfix_dir
        for sub in ["spool", "data"]:
            (p / sub).mkdir(parents=True, exist_ok=True)
        shutil.chown(p / "data", "postfix")
        (p / "main.cf").write_text(postfix_main_cf(p, d / "run"))
        (p / "master.cf").write_text(postfix_master_cf())
        for cmd in ["start"]:
            r = subprocess.run(in_ns(SERVER_NS, "postfix", "-c", str(p), cmd),
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"postfix {cmd} failed: {r.stdout}{r.stderr}\n"
                                   f"{self.log('postfix')}")
        if not wait_listening(SERVICE_ADDR, 25, 20):
            raise RuntimeError(f"postfix did not listen:\n{self.log('postfix')}")

    def set_relay_metadata(self, url):
        """Dovecot's own server METADATA entry, as chatmail sets it."""
        conf = str(self.dovecot_dir / "dovecot.conf")
        for u in self.users:
            subprocess.run(["doveadm", "-c", conf, "mailbox", "metadata", "set",
                            "-u", self.addr(u), "-s", "", METADATA_KEY, url],
                           check=True, capture_output=True)

    def log(self, which):
        path = (self.dovecot_dir / "dovecot.log") if which == "dovecot" \
            else (self.postfix_dir / "postfix.log")
        try:
            return path.read_text()[-4000:]
        except OSError:
            return "(no log)"

    def stop(self):
        subprocess.run(in_ns(SERVER_NS, "postfix", "-c", str(self.postfix_dir), "stop"),
                       capture_output=True)
        if self.dovecot:
            self.dovecot.terminate()
            try:
                self.dovecot.wait(10)
            except subprocess.TimeoutExpired:
                self.dovecot.kill()
        time.sleep(0.2)
