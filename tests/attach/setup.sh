#!/usr/bin/env bash
# What the attach and lifecycle tests need (idempotent): gcc and <sys/sdt.h> for the test
# binaries (uprobe, USDT), binutils (nm, readelf) to check symbol offsets, iproute2 for veth
# pairs in network namespaces (XDP, TC), bash and script(1) for the readline test, bpftool to
# check what is loaded, and bpffs for pins.
set -euo pipefail
PACKAGES=(gcc binutils libc6-dev systemtap-sdt-dev iproute2 bash util-linux bpftool)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "tests/attach/setup.sh: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf || echo "tests/attach/setup.sh: cannot mount bpffs at /sys/fs/bpf" >&2
fi
if ! mountpoint -q /sys/kernel/tracing; then
  mount -t tracefs tracefs /sys/kernel/tracing ||
    echo "tests/attach/setup.sh: cannot mount tracefs at /sys/kernel/tracing" >&2
fi
