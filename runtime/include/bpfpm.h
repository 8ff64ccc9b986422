/* Included (through the precompiled header, after vmlinux.h) in every BPF C source bpfpm
 * compiles: libbpf's helper declarations, SEC(), BPF_PROG/BPF_KPROBE and CO-RE reads.
 * Editing this file invalidates the PCH and every cached object built with it. */
#ifndef BPFPM_H_INCLUDED
#define BPFPM_H_INCLUDED

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#endif
