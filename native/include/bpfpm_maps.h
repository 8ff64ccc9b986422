/* bpfpm native layer, maps (src/maps.c): map elements on an fd, one at a time or many per
 * call, and bpffs pinning. Every call returns 0 (or a count) or -errno, with
 * bpfpm_last_error() saying why (the rules are at the top of bpfpm.h). */
#ifndef BPFPM_MAPS_H
#define BPFPM_MAPS_H
#include "bpfpm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- maps: single elements on an fd --- */
/* Creates a map from user space; returns the fd. inner_map_fd < 0 means none. */
BPFPM_API int bpfpm_map__create(uint32_t type, const char *name, uint32_t key_size,
				uint32_t value_size, uint32_t max_entries, uint32_t flags,
				int inner_map_fd, uint64_t map_extra);
/* Fills a 64-byte record: u32 type, id, key_size, value_size, max_entries, flags, btf_id,
 * btf_key_type_id, btf_value_type_id, pad; u64 map_extra; char name[16]. */
BPFPM_API int bpfpm_map__fd_info(int fd, void *out64);
BPFPM_API int bpfpm_map__lookup(int fd, const void *key, void *value, uint64_t flags);
BPFPM_API int bpfpm_map__update(int fd, const void *key, const void *value, uint64_t flags);
BPFPM_API int bpfpm_map__delete(int fd, const void *key);
/* Pops (queue/stack: key NULL) or takes an element out of a hash. */
BPFPM_API int bpfpm_map__lookup_and_delete(int fd, const void *key, void *value);
/* Counts the keys by walking them (key_size bytes each); returns the count. */
BPFPM_API int64_t bpfpm_map__count(int fd, uint32_t key_size);
BPFPM_API int bpfpm_map__close(int fd);
BPFPM_API int bpfpm_num_possible_cpus(void);

/* --- maps: many elements per call --- */
/* Updates/deletes count elements (batch syscall, element by element where the kernel has none);
 * value_size is the full user-space value size (per-CPU: rounded size x CPUs). */
BPFPM_API int bpfpm_map__update_many(int fd, const void *keys, const void *values, uint32_t count,
				     uint32_t key_size, uint32_t value_size, uint64_t flags);
BPFPM_API int bpfpm_map__delete_many(int fd, const void *keys, uint32_t count, uint32_t key_size);
/* A dump cursor: each next() fills up to cap keys and values (batch lookup where the kernel
 * has it, else get_next_key + lookup) and returns how many; 0 at the end. Options:
 * BPFPM_ITER_NO_BATCH forces the element-by-element walk; BPFPM_ITER_DELETE deletes what it
 * returns. */
#define BPFPM_ITER_NO_BATCH 1u
#define BPFPM_ITER_DELETE 2u
struct bpfpm_map_iter;
BPFPM_API struct bpfpm_map_iter *bpfpm_map__iter_new(int fd, uint32_t key_size, uint32_t value_size,
						      uint32_t options);
BPFPM_API int64_t bpfpm_map__iter_next(struct bpfpm_map_iter *it, void *keys, void *values,
				       uint32_t cap);
/* 1 if the cursor used batch syscalls, 0 if it fell back. */
BPFPM_API int bpfpm_map__iter_batched(struct bpfpm_map_iter *it);
BPFPM_API void bpfpm_map__iter_free(struct bpfpm_map_iter *it);

/* --- pinning (bpffs) --- */
BPFPM_API int bpfpm_obj__pin(int fd, const char *path);
BPFPM_API int bpfpm_obj__unpin(const char *path);
BPFPM_API int bpfpm_obj__open_pinned(const char *path);

#ifdef __cplusplus
}
#endif
#endif
