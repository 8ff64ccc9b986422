/* TC ingress/egress: a tcx link (6.6+), or on older kernels (or with BPFPM_TC_CLSACT) a clsact
 * filter through netlink, which outlives the process; its detach removes only that filter. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "link.h"

struct tc_netlink_link {
	struct bpfpm_link link;
	struct bpf_tc_hook hook;
	struct bpf_tc_opts opts;
	int netns_fd;
};

static int tc_netlink_detach_here(struct bpfpm_link *l)
{
	struct tc_netlink_link *t = (struct tc_netlink_link *)l;
	struct bpf_tc_opts o = t->opts;
	o.prog_fd = 0;
	o.prog_id = 0;
	o.flags = 0;
	if (bpf_tc_detach(&t->hook, &o) < 0 && errno != ENOENT && errno != ENODEV && errno != EINVAL)
		return bpfpm_fail(errno, "detaching the TC filter from ifindex %d failed: %s", t->hook.ifindex,
				  strerror(errno));
	return 0;
}

static int tc_netlink_detach(struct bpfpm_link *l)
{
	struct tc_netlink_link *t = (struct tc_netlink_link *)l;
	return detach_in_netns(t->netns_fd, tc_netlink_detach_here, l);
}

static int tcx_link_create(int prog_fd, int ifindex, int egress)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.link_create.prog_fd = prog_fd;
	attr.link_create.target_fd = ifindex; /* target_ifindex shares this slot */
	attr.link_create.attach_type = egress ? BPFPM_TCX_EGRESS : BPFPM_TCX_INGRESS;
	int fd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
	return fd < 0 ? -errno : fd;
}

static struct bpfpm_link *attach_tc_here(const struct net_attach *a, int netns_fd)
{
	int ifindex = ifindex_of(a->ifname);
	if (ifindex < 0)
		return NULL;
	int egress = (a->flags & BPFPM_TC_EGRESS) != 0;
	const char *dir = egress ? "egress" : "ingress";
	if (!(a->flags & BPFPM_TC_CLSACT)) {
		int fd = tcx_link_create(a->prog_fd, ifindex, egress);
		if (fd >= 0)
			return link_of_fd(fd, 1);
		if (fd != -EINVAL)
			return bpfpm_fail_null(-fd, "attaching TC %s to %s failed: %s", dir, a->ifname, strerror(-fd));
		/* EINVAL: no tcx in this kernel (before 6.6); use clsact through netlink. */
	}
	struct tc_netlink_link *t = calloc(1, sizeof(*t));
	if (!t)
		return bpfpm_fail_null(ENOMEM, "out of memory");
	t->hook.sz = sizeof(t->hook);
	t->hook.ifindex = ifindex;
	t->hook.attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS;
	int ret = bpf_tc_hook_create(&t->hook);
	if (ret < 0 && ret != -EEXIST) {
		free(t);
		return bpfpm_fail_null(-ret, "creating the clsact qdisc on %s failed: %s", a->ifname, strerror(-ret));
	}
	t->opts.sz = sizeof(t->opts);
	t->opts.prog_fd = a->prog_fd;
	ret = bpf_tc_attach(&t->hook, &t->opts);
	if (ret < 0) {
		free(t);
		return bpfpm_fail_null(-ret, "attaching TC %s to %s failed: %s", dir, a->ifname,
				       -ret == EINVAL ? "the program must be a TC classifier (SEC(\"tc\"))"
						      : strerror(-ret));
	}
	link_init(&t->link);
	t->link.detach = tc_netlink_detach;
	t->link.count = 0;
	t->netns_fd = netns_fd >= 0 ? fcntl(netns_fd, F_DUPFD_CLOEXEC, 3) : -1;
	return &t->link;
}

BPFPM_API struct bpfpm_link *bpfpm_program__attach_tc(int prog_fd, const char *ifname, uint32_t flags,
						       const char *netns)
{
	struct net_attach a = {.prog_fd = prog_fd, .ifname = ifname, .flags = flags};
	return attach_in_netns(netns, attach_tc_here, &a);
}
