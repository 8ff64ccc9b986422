/* The link every attach kind returns: destroy, fd, id, pinning, and the plain kind that is
 * one fd (a bpf link from bpf_link_create or raw_tracepoint_open). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "link.h"

void link_init(struct bpfpm_link *l)
{
	l->fd = -1;
	l->count = 1;
	l->own_prog_fd = -1;
}

static int fd_detach(struct bpfpm_link *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	return 0;
}

struct bpfpm_link *link_of_fd(int fd, int bpf_link)
{
	struct bpfpm_link *l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return bpfpm_fail_null(ENOMEM, "out of memory");
	}
	link_init(l);
	l->detach = fd_detach;
	l->fd = fd;
	l->bpf_link = bpf_link;
	return l;
}

int obj_info(int fd, void *info, uint32_t len)
{
	memset(info, 0, len);
	return bpf_obj_get_info_by_fd(fd, info, &len);
}

BPFPM_API int bpfpm_link__destroy(struct bpfpm_link *l)
{
	if (!l)
		return 0;
	bpfpm_clear_error();
	int ret = l->detach ? l->detach(l) : fd_detach(l);
	if (l->own_prog_fd >= 0)
		close(l->own_prog_fd);
	free(l->pin_path);
	if (l->dealloc)
		l->dealloc(l);
	else
		free(l);
	return ret;
}

BPFPM_API int bpfpm_link__fd(const struct bpfpm_link *l) { return l && l->fd >= 0 ? l->fd : -EBADF; }

BPFPM_API int bpfpm_link__count(const struct bpfpm_link *l) { return l ? l->count : 0; }

BPFPM_API int64_t bpfpm_link__id(const struct bpfpm_link *l)
{
	if (!l || !l->bpf_link || l->fd < 0)
		return 0;
	struct bpf_link_info info;
	if (obj_info(l->fd, &info, sizeof(info)) < 0)
		return bpfpm_fail(errno, "reading link info failed: %s", strerror(errno));
	return info.id;
}

BPFPM_API int64_t bpfpm_link__own_program_id(const struct bpfpm_link *l)
{
	if (!l || l->own_prog_fd < 0)
		return 0;
	struct bpf_prog_info info;
	if (obj_info(l->own_prog_fd, &info, sizeof(info)) < 0)
		return 0;
	return info.id;
}

BPFPM_API int bpfpm_link__pin(struct bpfpm_link *l, const char *path)
{
	bpfpm_clear_error();
	if (!l || !l->bpf_link || (l->count != 1 && !l->one_link) || l->fd < 0)
		return bpfpm_fail(EOPNOTSUPP, "only a single bpf link can be pinned (not a socket filter, a "
					      "netlink XDP/TC attachment, a USDT link or a per-CPU perf event group)");
	char *copy = strdup(path);
	if (!copy)
		return bpfpm_fail(ENOMEM, "out of memory");
	if (bpf_obj_pin(l->fd, path) < 0) {
		int err = errno;
		free(copy);
		if (err == ENOENT || err == EPERM)
			return bpfpm_fail(err, "pinning to %s failed: %s (is bpffs mounted? mount -t bpf bpf /sys/fs/bpf)",
					  path, strerror(err));
		return bpfpm_fail(err, "pinning to %s failed: %s", path, strerror(err));
	}
	free(l->pin_path);
	l->pin_path = copy;
	return 0;
}

BPFPM_API int bpfpm_link__unpin(struct bpfpm_link *l)
{
	bpfpm_clear_error();
	if (!l || !l->pin_path)
		return bpfpm_fail(EINVAL, "the link is not pinned");
	if (unlink(l->pin_path) < 0 && errno != ENOENT)
		return bpfpm_fail(errno, "unpinning %s failed: %s", l->pin_path, strerror(errno));
	free(l->pin_path);
	l->pin_path = NULL;
	return 0;
}

BPFPM_API struct bpfpm_link *bpfpm_link__open_pinned(const char *path)
{
	bpfpm_clear_error();
	int fd = bpf_obj_get(path);
	if (fd < 0) {
		int err = errno;
		return bpfpm_fail_null(err, "opening the pinned link %s failed: %s", path,
				       err == ENOENT ? "no such pin" : strerror(err));
	}
	struct bpf_link_info info;
	if (obj_info(fd, &info, sizeof(info)) < 0) {
		close(fd);
		return bpfpm_fail_null(EINVAL, "%s is pinned but is not a bpf link (a map or program?)", path);
	}
	struct bpfpm_link *l = link_of_fd(fd, 1);
	if (l && !(l->pin_path = strdup(path))) {
		bpfpm_link__destroy(l);
		return bpfpm_fail_null(ENOMEM, "out of memory");
	}
	return l;
}
