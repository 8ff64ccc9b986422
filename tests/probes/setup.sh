#!/usr/bin/env bash
# What the probe tests need at test time: bpftool (to check a probe's programs are gone),
# bash (bashreadline's target, with readline inside), mount and util-linux (mountsnoop,
# findmnt, lsblk), bsdutils' script(1) (a terminal for bash -i), coreutils' dd (direct I/O
# for the block probes), and tracefs mounted. oomkill's test uses the cgroup memory
# controller (v2 memory.max, or v1's memory.limit_in_bytes) that the kernel provides.
set -euo pipefail
PACKAGES=(bpftool bash util-linux mount bsdutils coreutils)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -e /sys/kernel/tracing/trace_pipe ]; then
  mount -t tracefs tracefs /sys/kernel/tracing
fi
