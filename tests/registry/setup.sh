#!/usr/bin/env bash
# Installs what the registry tests need, idempotently: PostgreSQL (a throwaway cluster is
# started by the tests themselves) and Chromium (headless, for the web UI test).
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "tests/registry/setup.sh: missing ${need[*]}; run as root to install them" >&2
    exit 0
  fi
  echo "tests/registry/setup.sh: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The PostgreSQL packages start a system cluster we do not use; the tests run their own.
