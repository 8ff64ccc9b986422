#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root) for bpfpm: system packages, Deno (pinned, from
# the npm registry), the native library, tracefs and bpffs. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

DENO_VERSION=2.9.6
APT_PACKAGES=(
  clang llvm-14-dev libclang-14-dev libclang-cpp14 libllvm14 libclang-common-14-dev
  libbpf-dev libelf-dev zlib1g-dev bpftool make gcc g++ pkg-config iproute2
)

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh must run as root (it installs packages and mounts tracefs): sudo ./scripts/setup.sh" >&2
  exit 1
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v deno >/dev/null 2>&1 || [ "$(deno --version | head -n1 | cut -d' ' -f2)" != "$DENO_VERSION" ]; then
  echo "setup: installing deno $DENO_VERSION from the npm registry"
  npm install -g --silent "deno@$DENO_VERSION" >/dev/null 2>&1
fi
command -v deno >/dev/null || { echo "setup: deno is not on PATH after install (npm prefix: $(npm prefix -g))" >&2; exit 1; }

make -s -C native
bash scripts/install_bpfpm.sh

# vmlinux.h and its PCH, once per kernel, so the first script compile is fast.
deno run -A --quiet runtime/compile/prepare.ts

if ! mountpoint -q /sys/kernel/tracing; then
  mount -t tracefs tracefs /sys/kernel/tracing || echo "setup: cannot mount tracefs at /sys/kernel/tracing" >&2
fi
if ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf || echo "setup: cannot mount bpffs at /sys/fs/bpf" >&2
fi
