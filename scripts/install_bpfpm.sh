#!/usr/bin/env bash
# Installs the bpfpm command as a self-contained copy, so it keeps working when this
# checkout moves or is deleted:
#   $PREFIX/lib/bpfpm/<version>-<content hash>/  the files bpfpm runs: mod.ts, runtime/,
#       registry/, scripts/bpfpm.ts, deno.json, deno.lock, node_modules/ and the native
#       libraries (native/build/*.so); nothing in it points back at the checkout
#   $PREFIX/bin/bpfpm  a wrapper running that copy with the deno it was installed with
# PREFIX is BPFPM_PREFIX or /usr/local; BPFPM_BIN overrides the wrapper's path. Idempotent:
# the same files give the same directory, and the wrapper is rewritten only when it changes.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX="${BPFPM_PREFIX:-/usr/local}"
TARGET="${BPFPM_BIN:-$PREFIX/bin/bpfpm}"
LIB="$PREFIX/lib/bpfpm"

DENO="$(command -v deno || true)"
[ -n "$DENO" ] || { echo "install_bpfpm: deno is not on PATH; run scripts/setup.sh first" >&2; exit 1; }
DENO="$(readlink -f "$DENO")"
LIBS=(native/build/libbpfpm.so native/build/libbpfpm_compiler.so native/build/libbpfpm_clang.so)
for f in "${LIBS[@]}"; do
  [ -f "$REPO/$f" ] || { echo "install_bpfpm: $REPO/$f is missing; build it with make -C $REPO/native" >&2; exit 1; }
done

files() {
  tar -C "$REPO" -c --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    --exclude='*_test.ts' --exclude='*/testdata' \
    mod.ts deno.json deno.lock runtime registry scripts/bpfpm.ts "${LIBS[@]}"
}
VERSION="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$REPO/deno.json" | head -n1)"
HASH="$( (files; echo "$DENO") | sha256sum | cut -c1-12)"
DEST="$LIB/$VERSION-$HASH"

if [ ! -f "$DEST/.complete" ]; then
  mkdir -p "$LIB"
  STAGE="$(mktemp -d "$LIB/.staging.XXXXXX")"
  trap 'rm -rf "$STAGE"' EXIT
  files | tar -C "$STAGE" -x
  # npm dependencies: the checkout's node_modules, completed from deno's cache if needed.
  if [ -d "$REPO/node_modules" ]; then cp -a "$REPO/node_modules" "$STAGE/node_modules"; fi
  (cd "$STAGE" && "$DENO" install --quiet --frozen --config deno.json >/dev/null)
  # Warm the module graph so a first run does not resolve anything. The CLI imports its
  # commands by computed specifiers, which deno cache does not follow: each is named.
  (cd "$STAGE" && "$DENO" cache --quiet --config deno.json scripts/bpfpm.ts registry/client/*.ts registry/server/cli.ts registry/agent/mod.ts registry/render/mod.ts runtime/btf/gen_types_cli.ts runtime/sandbox/server.ts mod.ts >/dev/null)
  chmod -R a+rX,go-w "$STAGE"
  touch "$STAGE/.complete"
  rm -rf "$DEST"
  mv "$STAGE" "$DEST"
  trap - EXIT
fi

WANT="#!/bin/sh
# bpfpm $VERSION: runs the installed copy in $DEST (installed from $REPO by
# scripts/install_bpfpm.sh; the checkout is not used)
BPFPM_SELF=\"$TARGET\" exec \"$DENO\" run -A --quiet --cached-only --config \"$DEST/deno.json\" \"$DEST/scripts/bpfpm.ts\" \"\$@\""
if [ -f "$TARGET" ] && [ "$(cat "$TARGET")" = "$WANT" ]; then exit 0; fi
mkdir -p "$(dirname "$TARGET")"
tmp="$(mktemp "$(dirname "$TARGET")/.bpfpm.XXXXXX")"
printf '%s\n' "$WANT" > "$tmp"
chmod 0755 "$tmp"
mv -f "$tmp" "$TARGET"
# Keep the copy now in use and the one before it (a bpfpm still running); drop older ones.
{ ls -1dt "$LIB"/[0-9]*-* 2>/dev/null | grep -vxF "$DEST" || true; } | tail -n +2 | xargs -r rm -rf
echo "install_bpfpm: $TARGET runs $DEST"
