#!/usr/bin/env bash
# What the maps, events and output tests need: gcc (they build small C programs) and bpffs
# (pinning). Idempotent.
set -euo pipefail
if ! command -v gcc >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null
fi
if ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf || echo "tests/maps/setup.sh: cannot mount bpffs at /sys/fs/bpf" >&2
fi
