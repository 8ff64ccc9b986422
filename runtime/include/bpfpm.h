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
 * The helpers are called as before, arguments evaluated once (typeof evaluates nothing). A
 * call the preprocessor splits into more arguments than the helper takes (a compound
 * literal's commas) is left as written, unmarked. */
#define __bpfpm_cat_(a, b) a##b
#define __bpfpm_cat(a, b) __bpfpm_cat_(a, b)
#define __bpfpm_nth_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, _17,  \
		     _18, _19, _20, _21, _22, _23, _24, _25, _26, _27, _28, _29, _30, _31, _32, n, \
		     ...)                                                                         \
	n
#define __bpfpm_nargs(...)                                                                        \
	__bpfpm_nth_(__VA_ARGS__, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, \
		     15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
#define __bpfpm_second_(a, b, ...) b
#define __bpfpm_second(...) __bpfpm_second_(__VA_ARGS__)
#define __bpfpm_is_2_2 ~, 1
#define __bpfpm_is_3_3 ~, 1
#define __bpfpm_is_4_4 ~, 1
#define __bpfpm_is_5_5 ~, 1
/* 1 when a call of the helper's arity n split into m arguments, else 0. */
#define __bpfpm_eq(n, m) __bpfpm_second(__bpfpm_cat(__bpfpm_cat(__bpfpm_is_, n), __bpfpm_cat(_, m)), 0, ~)
#define __bpfpm_typed(h, n, ...)                                                                 \
	__bpfpm_cat(__bpfpm_typed_, __bpfpm_eq(n, __bpfpm_nargs(__VA_ARGS__)))(h, __VA_ARGS__)
#define __bpfpm_typed_1(h, ...) __bpfpm_cat(__bpfpm_marked_, h)(__VA_ARGS__)
#define __bpfpm_typed_0(h, ...) (h)(__VA_ARGS__)
#define __bpfpm_marker(kind) \
	__bpfpm_cat(__bpfpm_cat(__bpfpm_, kind), __COUNTER__) __attribute__((section(".bcc.events"), used))
#define __bpfpm_constant(n) __builtin_choose_expr(__builtin_constant_p(n), (n), 0)
#define bpf_ringbuf_output(...) __bpfpm_typed(bpf_ringbuf_output, 4, __VA_ARGS__)
#define bpf_ringbuf_reserve(...) __bpfpm_typed(bpf_ringbuf_reserve, 3, __VA_ARGS__)
#define bpf_ringbuf_submit(...) __bpfpm_typed(bpf_ringbuf_submit, 2, __VA_ARGS__)
#define bpf_perf_event_output(...) __bpfpm_typed(bpf_perf_event_output, 5, __VA_ARGS__)
#define __bpfpm_marked_bpf_ringbuf_output(m_, d_, size_, flags_)                                  \
	({                                                                                        \
		static struct { __typeof__(m_) map; __typeof__(d_) record[0]; } *__bpfpm_marker(output_); \
		(bpf_ringbuf_output)(m_, d_, size_, flags_);                                      \
	})
#define __bpfpm_marked_bpf_ringbuf_reserve(m_, size_, flags_)                                     \
	({                                                                                        \
		static struct { __typeof__(m_) map; char size[__bpfpm_constant(size_)]; }            \
			*__bpfpm_marker(reserve_);                                                  \
		(bpf_ringbuf_reserve)(m_, size_, flags_);                                         \
	})
#define __bpfpm_marked_bpf_ringbuf_submit(d_, flags_)                                             \
	({                                                                                        \
		static struct { __typeof__(d_) record[0]; } *__bpfpm_marker(submit_);                 \
		(bpf_ringbuf_submit)(d_, flags_);                                                 \
	})
#define __bpfpm_marked_bpf_perf_event_output(ctx_, m_, flags_, d_, size_)                          \
	({                                                                                        \
		static struct { __typeof__(m_) map; __typeof__(d_) record[0]; } *__bpfpm_marker(output_); \
		(bpf_perf_event_output)(ctx_, m_, flags_, d_, size_);                             \
	})

#endif
