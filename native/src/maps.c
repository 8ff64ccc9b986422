/* Map access on fds: single elements, batches with an element-by-element fallback, dump
 * cursors, user-space creation and bpffs pinning. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "bpfpm_maps.h"
#include "internal.h"

#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif
#define BPF_FS_MAGIC_ 0xcafe4a11
#define BPFFS_ROOT "/sys/fs/bpf"

/* The kernel answers EINVAL or ENOTSUPP when a map type has no batch operations. */
static int no_batch(int err) { return err == EINVAL || err == ENOTSUPP || err == EOPNOTSUPP; }

BPFPM_API int bpfpm_map__create(uint32_t type, const char *name, uint32_t key_size,
				uint32_t value_size, uint32_t max_entries, uint32_t flags,
				int inner_map_fd, uint64_t map_extra)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags, .map_extra = map_extra);
	if (inner_map_fd >= 0)
		opts.inner_map_fd = inner_map_fd;
	int fd = bpf_map_create(type, name && *name ? name : NULL, key_size, value_size,
				max_entries, &opts);
	if (fd < 0)
		return bpfpm_fail(errno,
				  "cannot create map %s (type %u, key %u B, value %u B, %u entries, "
				  "flags 0x%x): %s",
				  name ? name : "", type, key_size, value_size, max_entries, flags,
				  strerror(errno));
	return fd;
}

BPFPM_API int bpfpm_map__fd_info(int fd, void *out64)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return bpfpm_fail(errno, "cannot read map info of fd %d: %s", fd, strerror(errno));
	uint32_t *u = out64;
	u[0] = info.type;
	u[1] = info.id;
	u[2] = info.key_size;
	u[3] = info.value_size;
	u[4] = info.max_entries;
	u[5] = info.map_flags;
	u[6] = info.btf_id;
	u[7] = info.btf_key_type_id;
	u[8] = info.btf_value_type_id;
	u[9] = 0;
	memcpy((char *)out64 + 40, &info.map_extra, 8);
	memcpy((char *)out64 + 48, info.name, 16);
	return 0;
}

BPFPM_API int bpfpm_map__lookup(int fd, const void *key, void *value, uint64_t flags)
{
	if (bpf_map_lookup_elem_flags(fd, key, value, flags))
		return errno == ENOENT ? -ENOENT
				       : bpfpm_fail(errno, "map lookup failed: %s", strerror(errno));
	return 0;
}

BPFPM_API int bpfpm_map__update(int fd, const void *key, const void *value, uint64_t flags)
{
	if (bpf_map_update_elem(fd, key, value, flags))
		return bpfpm_fail(errno, "map update failed: %s%s", strerror(errno),
				  errno == E2BIG ? " (the map is full)" : "");
	return 0;
}

BPFPM_API int bpfpm_map__delete(int fd, const void *key)
{
	if (bpf_map_delete_elem(fd, key))
		return errno == ENOENT ? -ENOENT
				       : bpfpm_fail(errno, "map delete failed: %s", strerror(errno));
	return 0;
}

BPFPM_API int bpfpm_map__lookup_and_delete(int fd, const void *key, void *value)
{
	if (bpf_map_lookup_and_delete_elem(fd, key, value))
		return errno == ENOENT ? -ENOENT
				       : bpfpm_fail(errno, "map lookup-and-delete failed: %s",
						    strerror(errno));
	return 0;
}

BPFPM_API int64_t bpfpm_map__count(int fd, uint32_t key_size)
{
	char *a = calloc(2, key_size ? key_size : 1);
	if (!a)
		return bpfpm_fail(ENOMEM, "out of memory");
	char *cur = a, *next = a + key_size;
	int64_t n = 0;
	const void *prev = NULL;
	while (!bpf_map_get_next_key(fd, prev, next)) {
		n++;
		char *t = cur;
		cur = next;
		next = t;
		prev = cur;
	}
	int err = errno;
	free(a);
	if (err != ENOENT)
		return bpfpm_fail(err, "cannot walk the map keys: %s", strerror(err));
	return n;
}

BPFPM_API int bpfpm_map__close(int fd) { return close(fd) ? -errno : 0; }

BPFPM_API int bpfpm_num_possible_cpus(void)
{
	int n = libbpf_num_possible_cpus();
	return n > 0 ? n : bpfpm_fail(-n, "cannot read /sys/devices/system/cpu/possible");
}

BPFPM_API int bpfpm_map__update_many(int fd, const void *keys, const void *values, uint32_t count,
				     uint32_t key_size, uint32_t value_size, uint64_t flags)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = flags);
	__u32 n = count;
	if (count == 0)
		return 0;
	if (!bpf_map_update_batch(fd, keys, values, &n, &opts))
		return 0;
	if (!no_batch(errno))
		return bpfpm_fail(errno, "batch update failed after %u of %u elements: %s", n,
				  count, strerror(errno));
	for (uint32_t i = 0; i < count; i++)
		if (bpf_map_update_elem(fd, (const char *)keys + (size_t)i * key_size,
					(const char *)values + (size_t)i * value_size, flags))
			return bpfpm_fail(errno, "update failed at element %u of %u: %s", i, count,
					  strerror(errno));
	return 0;
}

BPFPM_API int bpfpm_map__delete_many(int fd, const void *keys, uint32_t count, uint32_t key_size)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 n = count;
	if (count == 0)
		return 0;
	if (!bpf_map_delete_batch(fd, keys, &n, &opts))
		return 0;
	if (!no_batch(errno))
		return bpfpm_fail(errno, "batch delete failed after %u of %u elements: %s", n,
				  count, strerror(errno));
	for (uint32_t i = 0; i < count; i++)
		if (bpf_map_delete_elem(fd, (const char *)keys + (size_t)i * key_size) &&
		    errno != ENOENT)
			return bpfpm_fail(errno, "delete failed at element %u of %u: %s", i, count,
					  strerror(errno));
	return 0;
}

enum iter_mode { ITER_BATCH_UNKNOWN, ITER_BATCH, ITER_WALK };

struct bpfpm_map_iter {
	int fd;
	uint32_t key_size, value_size, options;
	enum iter_mode mode;
	int started, done;
	/* Batch tokens are 4 bytes (hash) or key_size (others); room for both. */
	char *token_in, *token_out, *prev_key;
};

BPFPM_API struct bpfpm_map_iter *bpfpm_map__iter_new(int fd, uint32_t key_size, uint32_t value_size,
						      uint32_t options)
{
	struct bpfpm_map_iter *it = calloc(1, sizeof(*it));
	size_t tok = (key_size > 8 ? key_size : 8);
	if (!it || !(it->token_in = calloc(3, tok))) {
		free(it);
		bpfpm_fail(ENOMEM, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	it->token_out = it->token_in + tok;
	it->prev_key = it->token_out + tok;
	it->fd = fd;
	it->key_size = key_size;
	it->value_size = value_size;
	it->options = options;
	it->mode = (options & BPFPM_ITER_NO_BATCH) ? ITER_WALK : ITER_BATCH_UNKNOWN;
	return it;
}

BPFPM_API int bpfpm_map__iter_batched(struct bpfpm_map_iter *it) { return it->mode == ITER_BATCH; }

static int64_t iter_batch(struct bpfpm_map_iter *it, char *keys, char *values, uint32_t cap)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint32_t total = 0;
	size_t tok = it->key_size > 8 ? it->key_size : 8;
	while (total < cap && !it->done) {
		__u32 n = cap - total;
		int r = (it->options & BPFPM_ITER_DELETE)
				? bpf_map_lookup_and_delete_batch(
					  it->fd, it->started ? it->token_in : NULL, it->token_out,
					  keys + (size_t)total * it->key_size,
					  values + (size_t)total * it->value_size, &n, &opts)
				: bpf_map_lookup_batch(it->fd, it->started ? it->token_in : NULL,
						       it->token_out,
						       keys + (size_t)total * it->key_size,
						       values + (size_t)total * it->value_size, &n,
						       &opts);
		int err = r ? errno : 0;
		if (err && err != ENOENT) {
			if (it->mode == ITER_BATCH_UNKNOWN && !it->started && no_batch(err)) {
				it->mode = ITER_WALK;
				return -EAGAIN;
			}
			/* A hash bucket larger than the room left: return what we have first. */
			if (err == ENOSPC && total > 0)
				break;
			return bpfpm_fail(err, "batch lookup failed: %s%s", strerror(err),
					  err == ENOSPC ? " (a hash bucket holds more elements "
							  "than the buffer; use a larger one)"
							: "");
		}
		it->mode = ITER_BATCH;
		it->started = 1;
		total += n;
		memcpy(it->token_in, it->token_out, tok);
		if (err == ENOENT)
			it->done = 1;
	}
	return total;
}

static int64_t iter_walk(struct bpfpm_map_iter *it, char *keys, char *values, uint32_t cap)
{
	uint32_t total = 0;
	while (total < cap && !it->done) {
		char *k = keys + (size_t)total * it->key_size;
		/* Deleting as we go: the first key is always the next one. */
		int del = it->options & BPFPM_ITER_DELETE;
		if (bpf_map_get_next_key(it->fd, it->started && !del ? it->prev_key : NULL, k)) {
			if (errno != ENOENT)
				return bpfpm_fail(errno, "map get_next_key failed: %s",
						  strerror(errno));
			it->done = 1;
			break;
		}
		it->started = 1;
		memcpy(it->prev_key, k, it->key_size);
		char *v = values + (size_t)total * it->value_size;
		int r = del ? bpf_map_lookup_and_delete_elem(it->fd, k, v)
			    : bpf_map_lookup_elem(it->fd, k, v);
		if (r && del && (errno == EINVAL || errno == ENOTSUPP || errno == EOPNOTSUPP)) {
			r = bpf_map_lookup_elem(it->fd, k, v);
			if (!r && bpf_map_delete_elem(it->fd, k))
				return bpfpm_fail(errno, "map delete failed: %s", strerror(errno));
		}
		if (r) {
			if (errno == ENOENT)
				continue; /* removed meanwhile */
			return bpfpm_fail(errno, "map lookup failed: %s", strerror(errno));
		}
		total++;
	}
	return total;
}

BPFPM_API int64_t bpfpm_map__iter_next(struct bpfpm_map_iter *it, void *keys, void *values,
				       uint32_t cap)
{
	if (cap == 0)
		return bpfpm_fail(EINVAL, "the dump buffer must hold at least one element");
	if (it->mode != ITER_WALK) {
		int64_t n = iter_batch(it, keys, values, cap);
		if (n != -EAGAIN)
			return n;
	}
	return iter_walk(it, keys, values, cap);
}

BPFPM_API void bpfpm_map__iter_free(struct bpfpm_map_iter *it)
{
	if (!it)
		return;
	free(it->token_in);
	free(it);
}

/* Pinning needs bpffs at /sys/fs/bpf: mount it when it is absent. */
static int ensure_bpffs(const char *path)
{
	struct statfs st;
	if (strncmp(path, BPFFS_ROOT "/", sizeof(BPFFS_ROOT)) != 0)
		return 0;
	if (statfs(BPFFS_ROOT, &st) == 0 && (unsigned long)st.f_type == BPF_FS_MAGIC_)
		return 0;
	if (mount("bpf", BPFFS_ROOT, "bpf", 0, NULL))
		return bpfpm_fail(errno,
				  "bpffs is not mounted at " BPFFS_ROOT
				  " and mounting it failed (%s): run mount -t bpf bpf " BPFFS_ROOT,
				  strerror(errno));
	return 0;
}

BPFPM_API int bpfpm_obj__pin(int fd, const char *path)
{
	int r = ensure_bpffs(path);
	if (r)
		return r;
	if (bpf_obj_pin(fd, path))
		return bpfpm_fail(errno, "cannot pin at %s: %s%s", path, strerror(errno),
				  errno == EEXIST ? " (unpin the old object first)" : "");
	return 0;
}

BPFPM_API int bpfpm_obj__unpin(const char *path)
{
	if (unlink(path))
		return bpfpm_fail(errno, "cannot unpin %s: %s", path, strerror(errno));
	return 0;
}

BPFPM_API int bpfpm_obj__open_pinned(const char *path)
{
	int r = ensure_bpffs(path);
	if (r)
		return r;
	int fd = bpf_obj_get(path);
	if (fd < 0)
		return bpfpm_fail(errno, "cannot open the pinned object %s: %s", path,
				  strerror(errno));
	return fd;
}
