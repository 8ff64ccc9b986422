/* Included (through the precompiled header, after vmlinux.h) in every BPF C source bpfpm
 * compiles: libbpf's helper declarations, SEC(), BPF_PROG/BPF_KPROBE and CO-RE reads, and
 * BCC's log2 bucket helpers (bpf_log2, bpf_log2l), which probes and BCC programs share.
 * Editing this file invalidates the PCH and every cached object built with it. */
#ifndef BPFPM_H_INCLUDED
#define BPFPM_H_INCLUDED

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

static __always_inline unsigned int bpf_log2(unsigned int v)
{
	unsigned int r, shift;

	r = (v > 0xFFFF) << 4;
	v >>= r;
	shift = (v > 0xFF) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xF) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	return r;
}

/* BCC's bucket index: floor(log2(v)) + 1 (1 for 0 and 1), so bucket i holds [2^(i-1), 2^i). */
static __always_inline unsigned int bpf_log2l(unsigned long v)
{
	unsigned int hi = v >> 32;

	if (hi)
		return bpf_log2(hi) + 32 + 1;
	return bpf_log2(v) + 1;
}

#endif
