/* cgroup programs: a bpf link on a cgroup2 directory. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "link.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

BPFPM_API struct bpfpm_link *bpfpm_program__attach_cgroup(int prog_fd, const char *path, uint32_t attach_type)
{
	bpfpm_clear_error();
	int cg = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		int err = errno;
		if (err == ENOENT)
			return bpfpm_fail_null(err, "cgroup %s does not exist: create it (mkdir) or pass an existing "
						    "cgroup2 directory",
					       path);
		return bpfpm_fail_null(err, "opening cgroup %s failed: %s", path, strerror(err));
	}
	struct statfs sfs;
	if (fstatfs(cg, &sfs) == 0 && sfs.f_type != CGROUP2_SUPER_MAGIC) {
		close(cg);
		return bpfpm_fail_null(EINVAL, "%s is not a cgroup2 directory: BPF cgroup programs need cgroup v2 "
					       "(mounted at /sys/fs/cgroup or /sys/fs/cgroup/unified)",
				       path);
	}
	int fd = bpf_link_create(prog_fd, cg, attach_type, NULL);
	int err = errno;
	close(cg);
	if (fd < 0)
		return bpfpm_fail_null(err, "attaching the program to cgroup %s failed: %s", path,
				       err == EINVAL ? "the program's type or expected attach type does not fit "
						       "(e.g. cgroup_skb/ingress, cgroup/sock_create, cgroup/connect4)"
						     : strerror(err));
	return link_of_fd(fd, 1);
}
