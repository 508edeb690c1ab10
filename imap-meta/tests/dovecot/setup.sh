#!/bin/sh
# Installs Dovecot (IMAP only) for the imap-meta proxy integration test.
# Debian/Ubuntu; needs root (or sudo). Safe to run repeatedly.
set -eu

if command -v dovecot >/dev/null 2>&1 && [ -x /usr/lib/dovecot/imap ] || command -v doveconf >/dev/null 2>&1 && doveconf -h base_dir >/dev/null 2>&1 && [ -n "$(find /usr/lib/dovecot -maxdepth 1 -name imap 2>/dev/null)" ]; then
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

# The package starts a system-wide instance on some systems; the test runs its
# own instance with a private config, so the system one is not needed.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now dovecot >/dev/null 2>&1 || true
fi

echo "installed: $(dovecot --version)"
