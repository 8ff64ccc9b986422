#!/usr/bin/env bash
# Installs /usr/local/bin/bpfpm: a small wrapper running this checkout's scripts/bpfpm.ts
# with deno. Idempotent: rewrites the wrapper only when its content would change.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${BPFPM_BIN:-/usr/local/bin/bpfpm}"
WANT="#!/bin/sh
# bpfpm: installed by $REPO/scripts/install_bpfpm.sh
exec deno run -A --quiet --config \"$REPO/deno.json\" \"$REPO/scripts/bpfpm.ts\" \"\$@\""
if [ -f "$TARGET" ] && [ "$(cat "$TARGET")" = "$WANT" ]; then exit 0; fi
mkdir -p "$(dirname "$TARGET")"
tmp="$(mktemp "$(dirname "$TARGET")/.bpfpm.XXXXXX")"
printf '%s\n' "$WANT" > "$tmp"
chmod 0755 "$tmp"
mv -f "$tmp" "$TARGET"
echo "install_bpfpm: $TARGET runs $REPO/scripts/bpfpm.ts"
