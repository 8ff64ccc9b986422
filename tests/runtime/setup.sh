#!/usr/bin/env bash
# What tests/runtime needs beyond scripts/setup.sh: bpftool (program ids), setpriv (dropping
# capabilities), bash (a child that forks). Idempotent.
set -euo pipefail
need=()
command -v bpftool >/dev/null 2>&1 || need+=(bpftool)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v bash >/dev/null 2>&1 || need+=(bash)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
