#!/usr/bin/env bash
# Installs what the client tests and the install bench need: Verdaccio 5 (runs on Node 20)
# as an independent npm-compatible registry, in a tool dir outside the repo. Idempotent.
set -euo pipefail
DIR="${BPFPM_TOOLS_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/bpfpm-tools}/verdaccio"
if [ -x "$DIR/node_modules/.bin/verdaccio" ]; then exit 0; fi
command -v npm >/dev/null || { echo "tests/client/setup.sh: npm is needed (apt-get install -y npm)" >&2; exit 1; }
mkdir -p "$DIR"
# Verdaccio 5 asks for node-fetch@cjs, a dist-tag the registry does not serve: pin it.
cat > "$DIR/package.json" <<'JSON'
{ "name": "bpfpm-test-tools", "private": true, "overrides": { "node-fetch": "2.7.0" } }
JSON
echo "tests/client/setup.sh: installing verdaccio@5 into $DIR"
(cd "$DIR" && npm install --silent --no-audit --no-fund --ignore-scripts verdaccio@5 >/dev/null 2>&1)
[ -x "$DIR/node_modules/.bin/verdaccio" ] || { echo "tests/client/setup.sh: verdaccio install failed" >&2; exit 1; }
