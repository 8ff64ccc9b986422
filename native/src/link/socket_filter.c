/* Socket filters: SO_ATTACH_BPF on the caller's socket, or on a new AF_PACKET raw socket bound
 * to an interface, which the link owns (its fd). */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "link.h"

/* A caller's socket stays the caller's: the link holds a dup, detaches the filter through it
 * and closes only the dup. */
static int borrowed_socket_detach(struct bpfpm_link *l)
{
	int ret = 0, unused = 0; /* the kernel wants an int-sized option even for a detach */
	if (l->fd >= 0 && setsockopt(l->fd, SOL_SOCKET, SO_DETACH_BPF, &unused, sizeof(unused)) < 0 &&
	    errno != ENOENT)
		ret = bpfpm_fail(errno, "detaching the socket filter failed: %s", strerror(errno));
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	return ret;
}

static struct bpfpm_link *attach_socket_here(const struct net_attach *a, int netns_fd)
{
	int sock_fd = a->sock_fd;
	int own = sock_fd < 0;
	if (own) {
		int ifindex = 0;
		if (a->ifname && *a->ifname) {
			ifindex = ifindex_of(a->ifname);
			if (ifindex < 0)
				return NULL;
		}
		sock_fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
		if (sock_fd < 0)
			return bpfpm_fail_null(errno, "opening a raw socket failed: %s (needs CAP_NET_RAW)",
					       strerror(errno));
		struct sockaddr_ll sll;
		memset(&sll, 0, sizeof(sll));
		sll.sll_family = AF_PACKET;
		sll.sll_ifindex = ifindex;
		sll.sll_protocol = htons(ETH_P_ALL);
		if (bind(sock_fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
			int err = errno;
			close(sock_fd);
			return bpfpm_fail_null(err, "binding the raw socket to %s failed: %s", a->ifname, strerror(err));
		}
	}
	if (setsockopt(sock_fd, SOL_SOCKET, SO_ATTACH_BPF, &a->prog_fd, sizeof(a->prog_fd)) < 0) {
		int err = errno;
		if (own)
			close(sock_fd);
		return bpfpm_fail_null(err, "attaching the socket filter failed: %s",
				       err == EINVAL ? "the program must be a socket filter (SEC(\"socket\"))"
						     : strerror(err));
	}
	struct bpfpm_link *l = link_of_fd(own ? sock_fd : fcntl(sock_fd, F_DUPFD_CLOEXEC, 3), 0);
	if (l && !own)
		l->detach = borrowed_socket_detach;
	return l;
}

BPFPM_API struct bpfpm_link *bpfpm_program__attach_socket(int prog_fd, const char *ifname, int sock_fd,
							   const char *netns)
{
	struct net_attach a = {.prog_fd = prog_fd, .ifname = ifname, .sock_fd = sock_fd};
	return attach_in_netns(netns, attach_socket_here, &a);
}
