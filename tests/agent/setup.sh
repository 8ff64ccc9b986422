#!/usr/bin/env bash
# What the agent tests need: Debian's prometheus (the scraper and PromQL server the test
# starts on a loopback port; installing it starts nothing here, as there is no systemd),
# its promtool (checks /metrics), and bpftool (to check the agents' programs are gone).
set -euo pipefail
PACKAGES=(prometheus bpftool)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
if [ ! -e /sys/kernel/tracing/trace_pipe ]; then
  mount -t tracefs tracefs /sys/kernel/tracing
fi
