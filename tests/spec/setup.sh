#!/usr/bin/env bash
# Tools the spec, btf and policy tests use: clang (BPF target), UAPI headers, libbpf's
# bpf_helpers.h, gcc, binutils (nm) and bpftool (an oracle for BTF). Idempotent.
set -euo pipefail
pkgs=(clang libbpf-dev linux-libc-dev gcc binutils bpftool)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
