#!/usr/bin/env bash
# Installs the reference iroh-relay 0.35.0 server binary into a cache directory
# inside the repository (.cache is git-ignored) and prints the binary path.
#
# Usage: scripts/install-reference-relay.sh
# Then:  RELAY_BIN="$(scripts/install-reference-relay.sh)" RELAY_FLAVOR=reference cargo test -p tests
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$REPO/.cache/iroh-relay-0.35"
BIN="$ROOT/bin/iroh-relay"

if [ ! -x "$BIN" ]; then
    echo "installing reference iroh-relay 0.35.0 into $ROOT" >&2
    # Keep cargo's own output off stdout so stdout is only the binary path.
    cargo install iroh-relay --version 0.35.0 --features server --locked --root "$ROOT" 1>&2
fi

if [ ! -x "$BIN" ]; then
    echo "error: $BIN missing after install" >&2
    exit 1
fi

echo "$BIN"
