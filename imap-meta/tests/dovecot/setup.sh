#!/bin/sh
# Installs Dovecot's IMAP server for the imap-meta proxy integration test
# (tests/proxy_dovecot.rs). Debian/Ubuntu; needs root or sudo. Idempotent.
set -eu

if command -v dovecot >/dev/null 2>&1 && [ -x /usr/lib/dovecot/imap ]; then
    echo "dovecot-imapd already installed: $(dovecot --version)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends dovecot-imapd

# The test runs its own instance with a generated config; a system-wide
# instance started by the package is not needed.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now dovecot >/dev/null 2>&1 || true
fi

echo "installed: $(dovecot --version)"
