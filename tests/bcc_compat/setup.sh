#!/usr/bin/env bash
# The BCC-compat tests build their workload with gcc and need tracefs and bpffs mounted.
set -euo pipefail
command -v gcc >/dev/null || {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc >/dev/null
}
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing || true
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || true
# <sys/sdt.h> for the USDT workload.
[ -f /usr/include/x86_64-linux-gnu/sys/sdt.h ] || [ -f /usr/include/sys/sdt.h ] || {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemtap-sdt-dev >/dev/null
}
