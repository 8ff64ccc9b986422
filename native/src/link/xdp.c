/* XDP: a bpf link on the interface, or (BPFPM_XDP_REPLACE) a netlink attachment that replaces
 * what is there and outlives the process; its detach removes only our program. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "link.h"

struct xdp_netlink_link {
	struct bpfpm_link link;
	int ifindex;
	uint32_t xdp_flags;
	int prog_fd; /* a dup of ours: detach only if our program is still there */
	int netns_fd;
};

static int xdp_netlink_detach_here(struct bpfpm_link *l)
{
	struct xdp_netlink_link *x = (struct xdp_netlink_link *)l;
	LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = x->prog_fd);
	int ret = 0;
	if (bpf_xdp_detach(x->ifindex, x->xdp_flags | XDP_FLAGS_REPLACE, &o) < 0 && errno != ENODEV &&
	    errno != EEXIST)
		ret = bpfpm_fail(errno, "detaching XDP from ifindex %d failed: %s", x->ifindex, strerror(errno));
	close(x->prog_fd);
	return ret;
}

static int xdp_netlink_detach(struct bpfpm_link *l)
{
	struct xdp_netlink_link *x = (struct xdp_netlink_link *)l;
	return detach_in_netns(x->netns_fd, xdp_netlink_detach_here, l);
}

static struct bpfpm_link *attach_xdp_here(const struct net_attach *a, int netns_fd)
{
	int ifindex = ifindex_of(a->ifname);
	if (ifindex < 0)
		return NULL;
	uint32_t xflags = 0;
	if (a->flags & BPFPM_XDP_SKB)
		xflags |= XDP_FLAGS_SKB_MODE;
	if (a->flags & BPFPM_XDP_DRV)
		xflags |= XDP_FLAGS_DRV_MODE;
	if (a->flags & BPFPM_XDP_REPLACE) {
		struct xdp_netlink_link *x = calloc(1, sizeof(*x));
		if (!x)
			return bpfpm_fail_null(ENOMEM, "out of memory");
		if (bpf_xdp_attach(ifindex, a->prog_fd, xflags, NULL) < 0) {
			int err = errno;
			free(x);
			return bpfpm_fail_null(err, "attaching XDP to %s failed: %s", a->ifname, strerror(err));
		}
		link_init(&x->link);
		x->link.detach = xdp_netlink_detach;
		x->link.count = 0;
		x->ifindex = ifindex;
		x->xdp_flags = xflags;
		x->prog_fd = fcntl(a->prog_fd, F_DUPFD_CLOEXEC, 3);
		x->netns_fd = netns_fd >= 0 ? fcntl(netns_fd, F_DUPFD_CLOEXEC, 3) : -1;
		return &x->link;
	}
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = xflags);
	int fd = bpf_link_create(a->prog_fd, ifindex, BPF_XDP, &opts);
	if (fd < 0) {
		int err = errno;
		if (err == EBUSY || err == EEXIST)
			return bpfpm_fail_null(err, "%s already has an XDP program: pass { replace: true } to replace it",
					       a->ifname);
		if (err == EOPNOTSUPP && (a->flags & BPFPM_XDP_DRV))
			return bpfpm_fail_null(err, "the driver of %s has no native XDP: use { mode: \"generic\" }",
					       a->ifname);
		return bpfpm_fail_null(err, "attaching XDP to %s failed: %s", a->ifname, strerror(err));
	}
	return link_of_fd(fd, 1);
}

BPFPM_API struct bpfpm_link *bpfpm_program__attach_xdp(int prog_fd, const char *ifname, uint32_t flags,
							const char *netns)
{
	struct net_attach a = {.prog_fd = prog_fd, .ifname = ifname, .flags = flags};
	return attach_in_netns(netns, attach_xdp_here, &a);
}
