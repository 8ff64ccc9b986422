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

/* The record type of an event map, for b.ringbuf(name)/b.perfBuffer(name) without a type:
 * each call of the helpers that write records leaves a typed, never-read marker in
 * .bcc.events (the section of BCC's markers, bcc/helpers.h, which libbpf skips), so the
 * object's BTF says which struct goes to which map (runtime/maps/object_maps.ts reads them).
 * An output names the map and the data; a reserve the map and the size; a submit only the
 * data, which the reserve's size ties to its map. The data's type is an array of its pointer
 * (clang's BTF keeps only a forward declaration of a struct a static points to directly).
 * The helpers are called as before, arguments evaluated once (typeof evaluates nothing). */
#define __bpfpm_cat_(a, b) a##b
#define __bpfpm_cat(a, b) __bpfpm_cat_(a, b)
#define __bpfpm_marker(kind) \
	__bpfpm_cat(__bpfpm_cat(__bpfpm_, kind), __COUNTER__) __attribute__((section(".bcc.events"), used))
#define __bpfpm_constant(n) __builtin_choose_expr(__builtin_constant_p(n), (n), 0)
#define bpf_ringbuf_output(m_, d_, size_, flags_)                                                 \
	({                                                                                        \
		static struct { __typeof__(m_) map; __typeof__(d_) record[0]; } *__bpfpm_marker(output_); \
		(bpf_ringbuf_output)(m_, d_, size_, flags_);                                      \
	})
#define bpf_ringbuf_reserve(m_, size_, flags_)                                                    \
	({                                                                                        \
		static struct { __typeof__(m_) map; char size[__bpfpm_constant(size_)]; }            \
			*__bpfpm_marker(reserve_);                                                  \
		(bpf_ringbuf_reserve)(m_, size_, flags_);                                         \
	})
#define bpf_ringbuf_submit(d_, flags_)                                                            \
	({                                                                                        \
		static struct { __typeof__(d_) record[0]; } *__bpfpm_marker(submit_);                 \
		(bpf_ringbuf_submit)(d_, flags_);                                                 \
	})
#define bpf_perf_event_output(ctx_, m_, flags_, d_, size_)                                         \
	({                                                                                        \
		static struct { __typeof__(m_) map; __typeof__(d_) record[0]; } *__bpfpm_marker(output_); \
		(bpf_perf_event_output)(ctx_, m_, flags_, d_, size_);                             \
	})

#endif
