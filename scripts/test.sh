#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every test for real.
# Each test area may ship tests/<area>/setup.sh (idempotent) for its own dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:/usr/local/bin:$PATH"
for s in tests/*/setup.sh; do
  [ -f "$s" ] && bash "$s"
done
exec deno test -A --no-check=remote "${@:-tests/}"
