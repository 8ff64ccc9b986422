/* BCC's C dialect on libbpf: the map macros, the helpers of the map methods (the BCC rewriter
 * turns `name.method(args)` into `__bcc_method(&name, args)`), bpf_trace_printk with BCC's
 * calling convention, bpf_log2l, TP_DATA_LOC_READ* and bpf_usdt_readarg. Every program the BCC
 * rewriter produces includes this file first; it needs no kernel headers, only vmlinux.h. */
#ifndef BPFPM_BCC_HELPERS_H
#define BPFPM_BCC_HELPERS_H

#if !defined(__TARGET_ARCH_x86) && !defined(__TARGET_ARCH_arm64) && !defined(__TARGET_ARCH_s390) && \
    !defined(__TARGET_ARCH_riscv) && !defined(__TARGET_ARCH_powerpc) && !defined(__TARGET_ARCH_arm)
#define __TARGET_ARCH_x86
#endif

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "bpfpm.h" /* bpf_log2, bpf_log2l */
#include "bcc/compat.h"

/* ---- map definitions -------------------------------------------------------------------- */

#define __BCC_PICK1(_1, N, ...) N
#define __BCC_PICK2(_1, _2, N, ...) N
#define __BCC_PICK3(_1, _2, _3, N, ...) N
#define __BCC_PICK4(_1, _2, _3, _4, N, ...) N

#define __BCC_KV_MAP(_type, _key, _leaf, _name, _max, _flags)                                  \
	struct {                                                                                \
		__uint(type, _type);                                                            \
		__type(key, _key);                                                              \
		__type(value, _leaf);                                                           \
		__uint(max_entries, _max);                                                      \
		__uint(map_flags, _flags);                                                      \
	} _name SEC(".maps")

#define __BCC_SIZED_MAP(_type, _ksize, _vsize, _name, _max, _flags)                            \
	struct {                                                                                \
		__uint(type, _type);                                                            \
		__uint(key_size, _ksize);                                                       \
		__uint(value_size, _vsize);                                                     \
		__uint(max_entries, _max);                                                      \
		__uint(map_flags, _flags);                                                      \
	} _name SEC(".maps")

#define __BCC_VALUE_MAP(_type, _leaf, _name, _max, _flags)                                     \
	struct {                                                                                \
		__uint(type, _type);                                                            \
		__type(value, _leaf);                                                           \
		__uint(max_entries, _max);                                                      \
		__uint(map_flags, _flags);                                                      \
	} _name SEC(".maps")

#define __BCC_RINGBUF_MAP(_name, _size)                                                          \
	struct {                                                                                \
		__uint(type, BPF_MAP_TYPE_RINGBUF);                                             \
		__uint(max_entries, _size);                                                     \
	} _name SEC(".maps")

#define __BCC_STORAGE_MAP(_type, _leaf, _name)                                                 \
	struct {                                                                                \
		__uint(type, _type);                                                            \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                           \
		__type(key, int);                                                               \
		__type(value, _leaf);                                                           \
	} _name SEC(".maps")

#define __BCC_OF_MAPS(_type, _key, _inner, _name, _max, _flags)                                \
	struct {                                                                                \
		__uint(type, _type);                                                            \
		__type(key, _key);                                                              \
		__uint(max_entries, _max);                                                      \
		__uint(map_flags, _flags);                                                      \
		__array(values, typeof(_inner));                                                \
	} _name SEC(".maps")

/* The first argument of BPF_TABLE is a string in BCC; the rewriter passes it as a bare word. */
#define __BCC_TABLE_hash(k, v, n, m, f) __BCC_KV_MAP(BPF_MAP_TYPE_HASH, k, v, n, m, f)
#define __BCC_TABLE_array(k, v, n, m, f) __BCC_KV_MAP(BPF_MAP_TYPE_ARRAY, k, v, n, m, f)
/* As in BCC, a histogram is an array when its key is a 4-byte integer, else a hash. */
#define __BCC_IS_INT_KEY(k)                                                                    \
	((__builtin_classify_type(*(k *)0) == 1 || __builtin_classify_type(*(k *)0) == 3) &&     \
	 sizeof(k) == 4)
#define __BCC_TABLE_histogram(k, v, n, m, f)                                                    \
	__BCC_KV_MAP(__BCC_IS_INT_KEY(k) ? BPF_MAP_TYPE_ARRAY : BPF_MAP_TYPE_HASH, k, v, n, m, f)
#define __BCC_TABLE_percpu_hash(k, v, n, m, f) __BCC_KV_MAP(BPF_MAP_TYPE_PERCPU_HASH, k, v, n, m, f)
#define __BCC_TABLE_percpu_array(k, v, n, m, f) __BCC_KV_MAP(BPF_MAP_TYPE_PERCPU_ARRAY, k, v, n, m, f)
#define __BCC_TABLE_lru_hash(k, v, n, m, f) __BCC_KV_MAP(BPF_MAP_TYPE_LRU_HASH, k, v, n, m, f)
#define __BCC_TABLE_lru_percpu_hash(k, v, n, m, f) __BCC_KV_MAP(BPF_MAP_TYPE_LRU_PERCPU_HASH, k, v, n, m, f)
#define __BCC_TABLE_lpm_trie(k, v, n, m, f) __BCC_KV_MAP(BPF_MAP_TYPE_LPM_TRIE, k, v, n, m, (f) | BPF_F_NO_PREALLOC)
#define __BCC_TABLE_stacktrace(k, v, n, m, f) __BCC_KV_MAP(BPF_MAP_TYPE_STACK_TRACE, k, v, n, m, f)
#define __BCC_TABLE_perf_output(k, v, n, m, f) __BCC_SIZED_MAP(BPF_MAP_TYPE_PERF_EVENT_ARRAY, sizeof(int), sizeof(u32), n, 0, f)
#define __BCC_TABLE_perf_array(k, v, n, m, f) __BCC_SIZED_MAP(BPF_MAP_TYPE_PERF_EVENT_ARRAY, sizeof(int), sizeof(u32), n, m, f)
#define __BCC_TABLE_prog(k, v, n, m, f) __BCC_SIZED_MAP(BPF_MAP_TYPE_PROG_ARRAY, sizeof(u32), sizeof(u32), n, m, f)
#define __BCC_TABLE_cgroup_array(k, v, n, m, f) __BCC_SIZED_MAP(BPF_MAP_TYPE_CGROUP_ARRAY, sizeof(u32), sizeof(u32), n, m, f)
#define __BCC_TABLE_devmap(k, v, n, m, f) __BCC_SIZED_MAP(BPF_MAP_TYPE_DEVMAP, sizeof(u32), sizeof(u32), n, m, f)
#define __BCC_TABLE_cpumap(k, v, n, m, f) __BCC_SIZED_MAP(BPF_MAP_TYPE_CPUMAP, sizeof(u32), sizeof(u32), n, m, f)
#define __BCC_TABLE_xskmap(k, v, n, m, f) __BCC_SIZED_MAP(BPF_MAP_TYPE_XSKMAP, sizeof(u32), sizeof(u32), n, m, f)
#define __BCC_TABLE_sockmap(k, v, n, m, f) __BCC_SIZED_MAP(BPF_MAP_TYPE_SOCKMAP, sizeof(u32), sizeof(u32), n, m, f)
#define __BCC_TABLE_sockhash(k, v, n, m, f) __BCC_KV_MAP(BPF_MAP_TYPE_SOCKHASH, k, u32, n, m, f)
#define __BCC_TABLE_queue(k, v, n, m, f) __BCC_VALUE_MAP(BPF_MAP_TYPE_QUEUE, v, n, m, f)
#define __BCC_TABLE_stack(k, v, n, m, f) __BCC_VALUE_MAP(BPF_MAP_TYPE_STACK, v, n, m, f)
#define __BCC_TABLE_ringbuf(k, v, n, m, f) __BCC_RINGBUF_MAP(n, m)

#define BPF_F_TABLE(_table_type, _key_type, _leaf_type, _name, _max_entries, _flags)           \
	__BCC_TABLE_##_table_type(_key_type, _leaf_type, _name, _max_entries, _flags)
#define BPF_TABLE(_table_type, _key_type, _leaf_type, _name, _max_entries)                     \
	BPF_F_TABLE(_table_type, _key_type, _leaf_type, _name, _max_entries, 0)
/* BPF_TABLE_PINNED: the rewriter checked that the path is /sys/fs/bpf/<name>, where libbpf pins
 * a map by name (an existing pinned map of the same shape is reused). */
#define __BCC_PINNED_MAP(_type, _key, _leaf, _name, _max, _flags)                               \
	struct {                                                                                \
		__uint(type, _type);                                                            \
		__type(key, _key);                                                              \
		__type(value, _leaf);                                                           \
		__uint(max_entries, _max);                                                      \
		__uint(map_flags, _flags);                                                      \
		__uint(pinning, LIBBPF_PIN_BY_NAME);                                            \
	} _name SEC(".maps")
#define __BCC_PINNED_hash(k, v, n, m, f) __BCC_PINNED_MAP(BPF_MAP_TYPE_HASH, k, v, n, m, f)
#define __BCC_PINNED_array(k, v, n, m, f) __BCC_PINNED_MAP(BPF_MAP_TYPE_ARRAY, k, v, n, m, f)
#define __BCC_PINNED_percpu_hash(k, v, n, m, f) __BCC_PINNED_MAP(BPF_MAP_TYPE_PERCPU_HASH, k, v, n, m, f)
#define __BCC_PINNED_percpu_array(k, v, n, m, f) __BCC_PINNED_MAP(BPF_MAP_TYPE_PERCPU_ARRAY, k, v, n, m, f)
#define __BCC_PINNED_lru_hash(k, v, n, m, f) __BCC_PINNED_MAP(BPF_MAP_TYPE_LRU_HASH, k, v, n, m, f)
#define __BCC_PINNED_lru_percpu_hash(k, v, n, m, f) __BCC_PINNED_MAP(BPF_MAP_TYPE_LRU_PERCPU_HASH, k, v, n, m, f)
#define __BCC_PINNED_lpm_trie(k, v, n, m, f) __BCC_PINNED_MAP(BPF_MAP_TYPE_LPM_TRIE, k, v, n, m, (f) | BPF_F_NO_PREALLOC)
#define BPF_TABLE_PINNED(_table_type, _key_type, _leaf_type, _name, _max_entries, _pinned)      \
	__BCC_PINNED_##_table_type(_key_type, _leaf_type, _name, _max_entries, 0)
#define BPF_TABLE_PINNED7(_table_type, _key_type, _leaf_type, _name, _max_entries, _pinned, _flags) \
	__BCC_PINNED_##_table_type(_key_type, _leaf_type, _name, _max_entries, _flags)

/* BCC's public/shared tables are process-wide by name; here they are ordinary maps. */
#define BPF_TABLE_PUBLIC(t, k, v, n, m) BPF_TABLE(t, k, v, n, m)
#define BPF_TABLE_SHARED(t, k, v, n, m) BPF_TABLE(t, k, v, n, m)

#define BPF_HASH1(_name) BPF_TABLE(hash, u64, u64, _name, 10240)
#define BPF_HASH2(_name, _key) BPF_TABLE(hash, _key, u64, _name, 10240)
#define BPF_HASH3(_name, _key, _leaf) BPF_TABLE(hash, _key, _leaf, _name, 10240)
#define BPF_HASH4(_name, _key, _leaf, _size) BPF_TABLE(hash, _key, _leaf, _name, _size)
#define BPF_HASH(...) __BCC_PICK4(__VA_ARGS__, BPF_HASH4, BPF_HASH3, BPF_HASH2, BPF_HASH1)(__VA_ARGS__)

#define BPF_PERCPU_HASH1(_name) BPF_TABLE(percpu_hash, u64, u64, _name, 10240)
#define BPF_PERCPU_HASH2(_name, _key) BPF_TABLE(percpu_hash, _key, u64, _name, 10240)
#define BPF_PERCPU_HASH3(_name, _key, _leaf) BPF_TABLE(percpu_hash, _key, _leaf, _name, 10240)
#define BPF_PERCPU_HASH4(_name, _key, _leaf, _size) BPF_TABLE(percpu_hash, _key, _leaf, _name, _size)
#define BPF_PERCPU_HASH(...)                                                                   \
	__BCC_PICK4(__VA_ARGS__, BPF_PERCPU_HASH4, BPF_PERCPU_HASH3, BPF_PERCPU_HASH2, BPF_PERCPU_HASH1)(__VA_ARGS__)

#define BPF_ARRAY1(_name) BPF_TABLE(array, int, u64, _name, 10240)
#define BPF_ARRAY2(_name, _leaf) BPF_TABLE(array, int, _leaf, _name, 10240)
#define BPF_ARRAY3(_name, _leaf, _size) BPF_TABLE(array, int, _leaf, _name, _size)
#define BPF_ARRAY(...) __BCC_PICK3(__VA_ARGS__, BPF_ARRAY3, BPF_ARRAY2, BPF_ARRAY1)(__VA_ARGS__)

#define BPF_PERCPU_ARRAY1(_name) BPF_TABLE(percpu_array, int, u64, _name, 10240)
#define BPF_PERCPU_ARRAY2(_name, _leaf) BPF_TABLE(percpu_array, int, _leaf, _name, 10240)
#define BPF_PERCPU_ARRAY3(_name, _leaf, _size) BPF_TABLE(percpu_array, int, _leaf, _name, _size)
#define BPF_PERCPU_ARRAY(...)                                                                  \
	__BCC_PICK3(__VA_ARGS__, BPF_PERCPU_ARRAY3, BPF_PERCPU_ARRAY2, BPF_PERCPU_ARRAY1)(__VA_ARGS__)

#define BPF_HISTOGRAM1(_name) BPF_TABLE(histogram, int, u64, _name, 64)
#define BPF_HISTOGRAM2(_name, _key) BPF_TABLE(histogram, _key, u64, _name, 64)
#define BPF_HISTOGRAM3(_name, _key, _size) BPF_TABLE(histogram, _key, u64, _name, _size)
#define BPF_HISTOGRAM(...)                                                                     \
	__BCC_PICK3(__VA_ARGS__, BPF_HISTOGRAM3, BPF_HISTOGRAM2, BPF_HISTOGRAM1)(__VA_ARGS__)

#define BPF_LPM_TRIE1(_name) BPF_TABLE(lpm_trie, u64, u64, _name, 10240)
#define BPF_LPM_TRIE2(_name, _key) BPF_TABLE(lpm_trie, _key, u64, _name, 10240)
#define BPF_LPM_TRIE3(_name, _key, _leaf) BPF_TABLE(lpm_trie, _key, _leaf, _name, 10240)
#define BPF_LPM_TRIE4(_name, _key, _leaf, _size) BPF_TABLE(lpm_trie, _key, _leaf, _name, _size)
#define BPF_LPM_TRIE(...)                                                                      \
	__BCC_PICK4(__VA_ARGS__, BPF_LPM_TRIE4, BPF_LPM_TRIE3, BPF_LPM_TRIE2, BPF_LPM_TRIE1)(__VA_ARGS__)

#ifndef BPF_MAX_STACK_DEPTH
#define BPF_MAX_STACK_DEPTH 127
#endif
struct bpf_stacktrace {
	u64 ip[BPF_MAX_STACK_DEPTH];
};
#define BPF_STACK_TRACE(_name, _max_entries) BPF_TABLE(stacktrace, int, struct bpf_stacktrace, _name, _max_entries)

#define BPF_PERF_OUTPUT(_name) BPF_TABLE(perf_output, int, u32, _name, 0)
#define BPF_PERF_ARRAY(_name, _max_entries) BPF_TABLE(perf_array, int, u32, _name, _max_entries)
#define BPF_RINGBUF_OUTPUT(_name, _page_cnt) BPF_TABLE(ringbuf, int, int, _name, (_page_cnt) * 4096)
#define BPF_PROG_ARRAY(_name, _max_entries) BPF_TABLE(prog, u32, u32, _name, _max_entries)
#define BPF_CGROUP_ARRAY(_name, _max_entries) BPF_TABLE(cgroup_array, u32, u32, _name, _max_entries)
#define BPF_DEVMAP(_name, _max_entries) BPF_TABLE(devmap, u32, u32, _name, _max_entries)
#define BPF_CPUMAP(_name, _max_entries) BPF_TABLE(cpumap, u32, u32, _name, _max_entries)
#define BPF_XSKMAP(_name, _max_entries) BPF_TABLE(xskmap, u32, u32, _name, _max_entries)
#define BPF_SOCKMAP(_name, _max_entries) BPF_TABLE(sockmap, u32, u32, _name, _max_entries)
#define BPF_SOCKHASH1(_name) BPF_TABLE(sockhash, u32, u32, _name, 10240)
#define BPF_SOCKHASH2(_name, _key) BPF_TABLE(sockhash, _key, u32, _name, 10240)
#define BPF_SOCKHASH3(_name, _key, _size) BPF_TABLE(sockhash, _key, u32, _name, _size)
#define BPF_SOCKHASH(...) __BCC_PICK3(__VA_ARGS__, BPF_SOCKHASH3, BPF_SOCKHASH2, BPF_SOCKHASH1)(__VA_ARGS__)

#define BPF_QUEUE(_name, _leaf_type, _max_entries) BPF_TABLE(queue, int, _leaf_type, _name, _max_entries)
#define BPF_STACK(_name, _leaf_type, _max_entries) BPF_TABLE(stack, int, _leaf_type, _name, _max_entries)

/* The inner map's name is a string in BCC; the rewriter passes it as a bare word. */
#define BPF_ARRAY_OF_MAPS(_name, _inner, _max_entries)                                         \
	__BCC_OF_MAPS(BPF_MAP_TYPE_ARRAY_OF_MAPS, int, _inner, _name, _max_entries, 0)
#define __BCC_HASH_OF_MAPS3(_name, _inner, _max_entries)                                       \
	__BCC_OF_MAPS(BPF_MAP_TYPE_HASH_OF_MAPS, int, _inner, _name, _max_entries, 0)
#define __BCC_HASH_OF_MAPS4(_name, _key, _inner, _max_entries)                                 \
	__BCC_OF_MAPS(BPF_MAP_TYPE_HASH_OF_MAPS, _key, _inner, _name, _max_entries, 0)
#define BPF_HASH_OF_MAPS(...)                                                                  \
	__BCC_PICK4(__VA_ARGS__, __BCC_HASH_OF_MAPS4, __BCC_HASH_OF_MAPS3, _, _)(__VA_ARGS__)

#define BPF_TASK_STORAGE(_name, _leaf) __BCC_STORAGE_MAP(BPF_MAP_TYPE_TASK_STORAGE, _leaf, _name)
#define BPF_SK_STORAGE(_name, _leaf) __BCC_STORAGE_MAP(BPF_MAP_TYPE_SK_STORAGE, _leaf, _name)
#define BPF_INODE_STORAGE(_name, _leaf) __BCC_STORAGE_MAP(BPF_MAP_TYPE_INODE_STORAGE, _leaf, _name)
#define BPF_CGRP_STORAGE(_name, _leaf) __BCC_STORAGE_MAP(BPF_MAP_TYPE_CGRP_STORAGE, _leaf, _name)

/* ---- map methods: `name.method(a, b)` arrives here as `__bcc_method(&name, a, b)` ---------- */

#define __bcc_lookup(m, k) bpf_map_lookup_elem(m, k)
#define __bcc_update(m, k, v) bpf_map_update_elem(m, k, v, BPF_ANY)
#define __bcc_insert(m, k, v) bpf_map_update_elem(m, k, v, BPF_NOEXIST)
#define __bcc_delete(m, k) bpf_map_delete_elem(m, k)
#define __bcc_lookup_or_try_init(m, k, init)                                                    \
	({                                                                                      \
		typeof(*(m)->value) *__bcc_v = bpf_map_lookup_elem(m, k);                       \
		if (!__bcc_v) {                                                                 \
			bpf_map_update_elem(m, k, init, BPF_NOEXIST);                           \
			__bcc_v = bpf_map_lookup_elem(m, k);                                    \
		}                                                                               \
		__bcc_v;                                                                        \
	})
#define __bcc_lookup_or_init(m, k, init) __bcc_lookup_or_try_init(m, k, init)
/* increment(key[, n]): atomic add, inserting the key on first use (and retrying the add when
 * another CPU inserted it first). */
#define __bcc_increment_(m, k, n, ...)                                                          \
	({                                                                                      \
		typeof(*(m)->key) __bcc_k = (k);                                                \
		typeof(*(m)->value) *__bcc_v = bpf_map_lookup_elem(m, &__bcc_k);                \
		if (__bcc_v) {                                                                  \
			__sync_fetch_and_add(__bcc_v, (n));                                     \
		} else {                                                                        \
			typeof(*(m)->value) __bcc_z = (n);                                      \
			if (bpf_map_update_elem(m, &__bcc_k, &__bcc_z, BPF_NOEXIST)) {          \
				__bcc_v = bpf_map_lookup_elem(m, &__bcc_k);                     \
				if (__bcc_v)                                                    \
					__sync_fetch_and_add(__bcc_v, (n));                     \
			}                                                                       \
		}                                                                               \
	})
#define __bcc_increment(m, ...) __bcc_increment_(m, __VA_ARGS__, 1, _)
#define __bcc_atomic_increment(m, ...) __bcc_increment_(m, __VA_ARGS__, 1, _)
/* The record type of an event map, as BCC learns it from the data passed to perf_submit,
 * ringbuf_output and ringbuf_submit: a pointer to it named for the map, in .bcc.events (a
 * section libbpf skips), so the object's BTF says how to decode the map's records. */
#define __bcc_event_type(name, data)                                                              \
	({                                                                                        \
		static __typeof__(*(data)) *__bcc_event_type__##name                             \
			__attribute__((section(".bcc.events"), used));                             \
	})
#define __bcc_perf_submit(m, ctx, data, size) bpf_perf_event_output(ctx, m, BPF_F_CURRENT_CPU, data, size)
#define __bcc_perf_submit_skb(m, ctx, skb_len, data, size)                                      \
	bpf_perf_event_output(ctx, m, ((u64)(skb_len) << 32) | BPF_F_CURRENT_CPU, data, size)
#define __bcc_perf_read(m, idx) bpf_perf_event_read(m, idx)
#define __bcc_typed_perf_submit(name, ctx, data, size)                                           \
	({                                                                                        \
		__bcc_event_type(name, data);                                                     \
		__bcc_perf_submit(&name, ctx, data, size);                                        \
	})
#define __bcc_typed_perf_submit_skb(name, ctx, skb_len, data, size)                              \
	({                                                                                        \
		__bcc_event_type(name, data);                                                     \
		__bcc_perf_submit_skb(&name, ctx, skb_len, data, size);                           \
	})
#define __bcc_ringbuf_output(m, data, size, flags) bpf_ringbuf_output(m, data, size, flags)
#define __bcc_ringbuf_reserve(m, size) bpf_ringbuf_reserve(m, size, 0)
#define __bcc_ringbuf_submit(m, data, flags) bpf_ringbuf_submit(data, flags)
#define __bcc_ringbuf_discard(m, data, flags) bpf_ringbuf_discard(data, flags)
#define __bcc_ringbuf_query(m, flags) bpf_ringbuf_query(m, flags)
#define __bcc_typed_ringbuf_output(name, data, size, flags)                                      \
	({                                                                                        \
		__bcc_event_type(name, data);                                                     \
		__bcc_ringbuf_output(&name, data, size, flags);                                   \
	})
#define __bcc_typed_ringbuf_submit(name, data, flags)                                            \
	({                                                                                        \
		__bcc_event_type(name, data);                                                     \
		__bcc_ringbuf_submit(&name, data, flags);                                         \
	})
#define __bcc_get_stackid(m, ctx, flags) bpf_get_stackid(ctx, m, flags)
#define __bcc_push(m, v, flags) bpf_map_push_elem(m, v, flags)
#define __bcc_pop(m, v) bpf_map_pop_elem(m, v)
#define __bcc_peek(m, v) bpf_map_peek_elem(m, v)
#define __bcc_call(m, ctx, idx) bpf_tail_call(ctx, m, idx)
#define __bcc_redirect_map(m, idx, flags) bpf_redirect_map(m, idx, flags)
#define __bcc_check_current_task(m, idx) bpf_current_task_under_cgroup(m, idx)
#define __bcc_sk_storage_get(m, sk, v, flags) bpf_sk_storage_get(m, sk, v, flags)
#define __bcc_sk_storage_delete(m, sk) bpf_sk_storage_delete(m, sk)
#define __bcc_task_storage_get(m, task, v, flags) bpf_task_storage_get(m, task, v, flags)
#define __bcc_task_storage_delete(m, task) bpf_task_storage_delete(m, task)
#define __bcc_inode_storage_get(m, inode, v, flags) bpf_inode_storage_get(m, inode, v, flags)
#define __bcc_inode_storage_delete(m, inode) bpf_inode_storage_delete(m, inode)
#define __bcc_cgrp_storage_get(m, cgrp, v, flags) bpf_cgrp_storage_get(m, cgrp, v, flags)
#define __bcc_cgrp_storage_delete(m, cgrp) bpf_cgrp_storage_delete(m, cgrp)

/* ---- kernel memory reads ------------------------------------------------------------------ */

/* 1 when `x` has an array type: the comma operator decays arrays but nothing else. */
#define __bcc_is_array(x) (!__builtin_types_compatible_p(typeof(x), typeof(((void)0, (x)))))
/* A read of kernel (or user) memory BCC's rewriter found: `p[i]`, `*p`, `((u8 *)p)[13]` on a
 * pointer into kernel memory. An array stays its address, as in a chain. */
#define __bcc_kread(x)                                                                            \
	__builtin_choose_expr(__bcc_is_array(x), (x), ({                                          \
		__typeof__(x) ____bcc_v;                                                          \
		bpf_probe_read_kernel(&____bcc_v, sizeof(____bcc_v), &(x));                      \
		____bcc_v;                                                                        \
	}))
#define __bcc_uread(x)                                                                            \
	__builtin_choose_expr(__bcc_is_array(x), (x), ({                                          \
		__typeof__(x) ____bcc_v;                                                          \
		bpf_probe_read_user(&____bcc_v, sizeof(____bcc_v), &(x));                        \
		____bcc_v;                                                                        \
	}))

/* ---- helpers BCC programs call ------------------------------------------------------------ */

/* BCC's bpf_trace_printk(fmt, args...): the format is a string literal, at most 3 arguments.
 * The parenthesised name calls libbpf's helper declaration, not this macro. */
#undef bpf_trace_printk
#define bpf_trace_printk(fmt, ...)                                                              \
	({                                                                                      \
		char ____bcc_fmt[] = fmt;                                                       \
		(bpf_trace_printk)(____bcc_fmt, sizeof(____bcc_fmt), ##__VA_ARGS__);            \
	})

/* __data_loc fields of tracepoint args: the low 16 bits are the offset, the high 16 the size. */
#define TP_DATA_LOC_READ_CONST(dst, field, length)                                              \
	do {                                                                                    \
		unsigned short __offset = args->data_loc_##field & 0xFFFF;                      \
		bpf_probe_read_kernel((void *)(dst), length, (char *)args + __offset);          \
	} while (0)
#define TP_DATA_LOC_READ(dst, field)                                                            \
	do {                                                                                    \
		unsigned short __offset = args->data_loc_##field & 0xFFFF;                      \
		unsigned short __length = args->data_loc_##field >> 16;                         \
		bpf_probe_read_kernel((void *)(dst), __length, (char *)args + __offset);        \
	} while (0)
#define TP_DATA_LOC_READ_STR(dst, field, length)                                                \
	do {                                                                                    \
		unsigned short __offset = args->data_loc_##field & 0xFFFF;                      \
		bpf_probe_read_kernel_str((void *)(dst), length, (char *)args + __offset);      \
	} while (0)

/* BCC's USDT arguments are numbered from 1; libbpf's from 0. The rewriter includes
 * <bpf/usdt.bpf.h> (which defines libbpf's USDT maps) only in programs that use this. */
#define bpf_usdt_readarg(n, ctx, addr)                                                          \
	({                                                                                      \
		long __bcc_arg = 0;                                                             \
		int __bcc_rc = bpf_usdt_arg((struct pt_regs *)(ctx), (n) - 1, &__bcc_arg);     \
		*(addr) = (typeof(*(addr)))__bcc_arg;                                           \
		__bcc_rc;                                                                       \
	})
#define bpf_usdt_readarg_p(n, ctx, buf, len)                                                    \
	({                                                                                      \
		long __bcc_arg = 0;                                                             \
		int __bcc_rc = bpf_usdt_arg((struct pt_regs *)(ctx), (n) - 1, &__bcc_arg);     \
		if (!__bcc_rc)                                                                  \
			__bcc_rc = bpf_probe_read_user_str(buf, len, (void *)__bcc_arg);        \
		__bcc_rc;                                                                       \
	})

#define lock_xadd(ptr, val) ((void)__sync_fetch_and_add(ptr, val))

#endif
