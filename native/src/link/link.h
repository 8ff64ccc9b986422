/* Internal to src/link/: the one link type every attach kind returns, and what the kinds
 * share. Like libbpf's struct bpf_link, a link carries its own detach and dealloc: each kind
 * embeds struct bpfpm_link first and sets them, so bpfpm_link__destroy never asks what kind a
 * link is. */
#ifndef BPFPM_LINK_INTERNAL_H
#define BPFPM_LINK_INTERNAL_H
#include <stdint.h>

#include <linux/perf_event.h>

#include "bpfpm_link.h"
#include "../internal.h"

struct bpfpm_link {
	/* Undoes the attachment and closes the kernel objects the kind holds (fd included);
	 * 0 or a bpfpm_fail() -errno. NULL: closing fd is all it takes. */
	int (*detach)(struct bpfpm_link *l);
	/* Frees the kind's struct (NULL: free()). */
	void (*dealloc)(struct bpfpm_link *l);
	int fd;		 /* what stands for it (a bpf link fd, a perf event, a socket); -1 if none */
	int count;	 /* kernel attachments it groups */
	int one_link;	 /* fd is one bpf link for all count attachments (a multi link) */
	int bpf_link;	 /* fd is a bpf link: it has a kernel id and can be pinned */
	int own_prog_fd; /* a program loaded for this link (the syscall fallback twin), -1 if none */
	char *pin_path;	 /* where bpfpm_link__pin pinned it, NULL if not */
};

/* Fills the base of a kind's freshly allocated struct (zeroed): no fd, one attachment. */
void link_init(struct bpfpm_link *l);
/* A link owning the one fd (a bpf link fd when bpf_link); on out of memory the fd is closed
 * and NULL returned with the error set. */
struct bpfpm_link *link_of_fd(int fd, int bpf_link);

/* The kernel's info (struct bpf_link_info, bpf_prog_info) on a bpf fd, zeroed first as the
 * kernel wants; -1 with errno. */
int obj_info(int fd, void *info, uint32_t len);

/* ---- perf events (perf.c): tracepoints, uprobes, kprobes, perf_event sampling ---- */

/* A link over n perf events, each connected to the program by a BPF_PERF_EVENT link (5.15+)
 * or, before that, by ioctl. */
struct perf_link {
	struct bpfpm_link link;
	int n;
	int *fds;      /* per event: the bpf link fd, or (ioctl) the perf event fd */
	int *perf_fds; /* per event: the perf event fd a bpf link holds, or -1 */
	int ioctl;     /* connected by ioctl: no bpf link */
	char kprobe_event[128];	     /* legacy kprobe_events entry to remove, "" if none */
	char kprobe_events_path[96]; /* the tracefs kprobe_events file it was written to */
};

struct perf_link *perf_link_new(int n);
/* Connects prog_fd to perf event pfd as event i of pl (pl takes pfd); -errno on failure
 * (pfd then stays the caller's). */
int perf_link_connect(struct perf_link *pl, int i, int prog_fd, int pfd, uint64_t cookie);
/* A link of one perf event connected to prog_fd; on failure pfd is closed and -errno stored
 * in *err (NULL returned). */
struct bpfpm_link *perf_link_of(int prog_fd, int pfd, uint64_t cookie, int *err);

long perf_event_open(struct perf_event_attr *attr, int pid, int cpu, int group, unsigned long flags);
struct perf_event_attr perf_attr(uint32_t type, uint64_t config);
/* A system-wide perf event on the tracepoint with perf id id; -1 with errno on failure. */
int perf_open_tracepoint(int id);
/* The bit a PMU's format file (e.g. ".../uprobe/format/retprobe" = "config:0") names; -1. */
int pmu_format_bit(const char *pmu, const char *field);
/* The perf event of a uprobe/kprobe PMU (type read from its sysfs dir) on name+offset. */
struct perf_event_attr probe_attr(const char *pmu, int type, int retprobe, const char *name,
				  uint64_t offset);
/* Why connecting a program to a perf event failed, in words. */
const char *perf_bpf_reason(int err);

/* ---- network namespaces (netns.c): XDP, TC, socket filters ---- */

/* What a network attach names; each kind reads the fields it needs. */
struct net_attach {
	int prog_fd;
	const char *ifname;
	uint32_t flags;
	int sock_fd;
};

/* Runs attach in network namespace netns (NULL or "": this one). attach gets that namespace's
 * fd (-1: this one) and keeps a dup of it if its detach must run there too (netlink XDP/TC). */
struct bpfpm_link *attach_in_netns(const char *netns,
				   struct bpfpm_link *(*attach)(const struct net_attach *a, int netns_fd),
				   const struct net_attach *a);
/* Runs detach(l) inside network namespace netns_fd (-1: this one). */
int detach_in_netns(int netns_fd, int (*detach)(struct bpfpm_link *l), struct bpfpm_link *l);
/* The interface's index, or -ENODEV with the error set. */
int ifindex_of(const char *ifname);

#endif
