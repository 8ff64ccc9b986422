#!/usr/bin/env bash
# The README's test command: the gate (format, lint, types of the code and of every JSDoc
# example), then every test for real. The gate fails the run before any test starts.
# Each test area may ship tests/<area>/setup.sh (idempotent) for its own dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:/usr/local/bin:$PATH"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

code=(mod.ts runtime/ registry/ scripts/ probes/ bench/)
gate() {
  if ! NO_COLOR=1 "$@" >"$log" 2>&1; then
    grep -v '^Check ' "$log" || true
    echo "gate: \`$*\` failed; tests not run"
    exit 1
  fi
}
gate deno fmt --check
gate deno lint
# --doc type-checks each module and the code blocks of its JSDoc (the public API's examples).
gate deno check --doc "${code[@]}"

for s in tests/*/setup.sh; do
  [ -f "$s" ] && bash "$s"
done
status=0
NO_COLOR=1 deno test -A --no-check=remote "${@:-tests/}" 2>&1 | tee "$log" || status=$?
# deno's summary ("ok | 309 passed (63 steps) | 0 failed") as the plain closing line.
summary=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$log" | tail -n 1 || true)
if [ -n "$summary" ]; then
  passed=$(sed -E 's/.*\| ([0-9]+) passed.*/\1/' <<<"$summary")
  failed=$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$summary")
  echo "tests: $passed passed, $failed failed"
fi
exit "$status"
