/* Network namespaces for XDP, TC and socket filters: the attach runs in the namespace whose
 * interface is meant (setns on this thread only, undone after); a netlink attachment made
 * there also detaches there. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "link.h"

static int netns_enter(const char *netns, int *saved, int *target)
{
	*saved = -1;
	*target = -1;
	if (!netns || !*netns)
		return 0;
	char path[512];
	if (netns[0] == '/')
		snprintf(path, sizeof(path), "%s", netns);
	else
		snprintf(path, sizeof(path), "/var/run/netns/%s", netns);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bpfpm_fail(errno, "network namespace %s does not exist (%s): see ip netns list", netns,
				  strerror(errno));
	*saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*saved < 0 || setns(fd, CLONE_NEWNET) < 0) {
		int err = errno;
		close(fd);
		if (*saved >= 0)
			close(*saved);
		*saved = -1;
		return bpfpm_fail(err, "entering network namespace %s failed: %s", netns, strerror(err));
	}
	*target = fd;
	return 0;
}

static void netns_leave(int saved)
{
	if (saved < 0)
		return;
	int err = errno;
	setns(saved, CLONE_NEWNET);
	close(saved);
	errno = err;
}

int ifindex_of(const char *ifname)
{
	unsigned idx = if_nametoindex(ifname);
	if (!idx) {
		int ret = bpfpm_fail(ENODEV, "network interface %s does not exist (see ip link)", ifname);
		errno = ENODEV;
		return ret;
	}
	return (int)idx;
}

struct bpfpm_link *attach_in_netns(const char *netns,
				   struct bpfpm_link *(*attach)(const struct net_attach *a, int netns_fd),
				   const struct net_attach *a)
{
	bpfpm_clear_error();
	int saved, target;
	if (netns_enter(netns, &saved, &target) < 0) {
		errno = bpfpm_last_errno();
		return NULL;
	}
	struct bpfpm_link *l = attach(a, target);
	netns_leave(saved);
	if (target >= 0)
		close(target);
	return l;
}

int detach_in_netns(int netns_fd, int (*detach)(struct bpfpm_link *l), struct bpfpm_link *l)
{
	int saved = -1;
	if (netns_fd >= 0) {
		saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (saved >= 0 && setns(netns_fd, CLONE_NEWNET) < 0) {
			close(saved);
			saved = -1;
		}
	}
	int ret = detach(l);
	if (saved >= 0) {
		setns(saved, CLONE_NEWNET);
		close(saved);
	}
	if (netns_fd >= 0)
		close(netns_fd);
	return ret;
}
