#!/usr/bin/env bash
# Installs a reference iroh-relay server binary into a cache directory inside
# the repository (.cache is git-ignored) and prints the binary path.
#
# Usage: scripts/install-reference-relay.sh [VERSION]
#   VERSION 0.35.0 (default): the iroh 0.35 relay, in .cache/iroh-relay-0.35
#   VERSION 1.4.1:            the iroh 1.x relay, in .cache/iroh-relay-1.4.1
# Then:  RELAY_BIN="$(scripts/install-reference-relay.sh)" RELAY_FLAVOR=reference cargo test -p tests
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${1:-0.35.0}"
case "$VERSION" in
    0.35.0) ROOT="$REPO/.cache/iroh-relay-0.35" ;;
    *) ROOT="$REPO/.cache/iroh-relay-$VERSION" ;;
esac
BIN="$ROOT/bin/iroh-relay"

if [ ! -x "$BIN" ]; then
    echo "installing reference iroh-relay $VERSION into $ROOT" >&2
    # Keep cargo's own output off stdout so stdout is only the binary path.
    cargo install iroh-relay --version "$VERSION" --features server --locked --root "$ROOT" 1>&2
fi

if [ ! -x "$BIN" ]; then
    echo "error: $BIN missing after install" >&2
    exit 1
fi

echo "$BIN"
