/* Attach kinds on program fds: every attachment is one opaque bpfpm_link that owns the
 * kernel objects behind it (bpf link fds, perf event fds, a raw socket, a netlink-attached
 * XDP/TC program, a legacy kprobe_events entry) and releases them in bpfpm_attachment__destroy.
 *
 * Wherever the kernel offers a bpf link, it is used: a link fd detaches when its last
 * reference goes away, so a SIGKILLed process leaves nothing attached. The netlink paths
 * (XDP replace, clsact TC on kernels before tcx) do outlive the process; they are documented
 * as such and only taken when asked for or when no link kind exists. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/perf_event.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "bpfpm_attach.h"
#include "internal.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
/* tcx (kernel 6.6) postdates the uapi headers of Debian 12's libbpf 1.1. */
#define BPFPM_TCX_INGRESS 46
#define BPFPM_TCX_EGRESS 47

enum link_kind {
	LINK_FD = 1,     /* fds[0] is a bpf link fd (plus perf fds it holds) */
	LINK_PERF,       /* perf event fds with PERF_EVENT_IOC_SET_BPF (pre-5.15 kernels) */
	LINK_SOCKET,     /* fds[0] is the raw socket carrying the filter */
	LINK_XDP_NETLINK,
	LINK_TC_NETLINK,
};

struct bpfpm_attachment {
	enum link_kind kind;
	int nfds;
	int *fds;      /* owned fds; fds[0] is the one pinned/reported */
	int *perf_fds; /* perf event fds paired with fds[] (or -1) */
	int ifindex;
	__u32 xdp_flags;
	int prog_fd_dup; /* for netlink detach: only detach if our program is still there */
	struct bpf_tc_hook tc_hook;
	struct bpf_tc_opts tc_opts;
	char kprobe_event[128]; /* legacy kprobe_events entry to remove, "" if none */
	char kprobe_events_path[96]; /* the tracefs kprobe_events file it was written to */
	struct bpf_link *lb; /* a libbpf link (USDT), destroyed with the attachment */
	int netns_fd;        /* netlink kinds made in another network namespace: detach there */
	int borrowed_socket; /* LINK_SOCKET on a caller's socket: detach the filter, keep the socket */
	char pin_path[4096];
};

/* Frees an attachment that holds no kernel object yet. */
static void link_free(struct bpfpm_attachment *l)
{
	free(l->fds);
	free(l->perf_fds);
	free(l);
}

static struct bpfpm_attachment *link_new(enum link_kind kind, int n)
{
	struct bpfpm_attachment *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->kind = kind;
	l->fds = calloc(n > 0 ? n : 1, sizeof(int));
	l->perf_fds = calloc(n > 0 ? n : 1, sizeof(int));
	if (!l->fds || !l->perf_fds) {
		link_free(l);
		return NULL;
	}
	for (int i = 0; i < n; i++)
		l->fds[i] = l->perf_fds[i] = -1;
	l->prog_fd_dup = -1;
	l->netns_fd = -1;
	return l;
}

static void *fail_null(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void *fail_null(int err, const char *fmt, ...)
{
	char msg[3072];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bpfpm_fail(err, "%s", msg);
	errno = err;
	return NULL;
}

/* An attachment owning the one fd (a bpf link, or a perf event until connected); on out of
 * memory the fd is closed and NULL returned with the error set. */
static struct bpfpm_attachment *link_of_fd(int fd)
{
	struct bpfpm_attachment *l = link_new(LINK_FD, 1);
	if (!l) {
		close(fd);
		return fail_null(ENOMEM, "out of memory");
	}
	l->fds[0] = fd;
	l->nfds = 1;
	return l;
}

static long perf_event_open(struct perf_event_attr *attr, pid_t pid, int cpu, int group, unsigned long flags)
{
	return syscall(__NR_perf_event_open, attr, pid, cpu, group, flags);
}

static struct perf_event_attr perf_attr(__u32 type, __u64 config)
{
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = type;
	attr.config = config;
	return attr;
}

/* A system-wide perf event on the tracepoint with perf id id; -1 with errno on failure. */
static int perf_open_tracepoint(int id)
{
	struct perf_event_attr attr = perf_attr(PERF_TYPE_TRACEPOINT, id);
	return perf_event_open(&attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
}

/* Reads a small integer file such as /sys/bus/event_source/devices/uprobe/type; -errno if absent. */
static int read_int_file(const char *path, int *out)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	int ok = fscanf(f, "%d", out) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

/* The bit a PMU's format file (e.g. ".../uprobe/format/retprobe" = "config:0") names. */
static int pmu_format_bit(const char *pmu, const char *field)
{
	char path[256], buf[64];
	snprintf(path, sizeof(path), "/sys/bus/event_source/devices/%s/format/%s", pmu, field);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int bit = -1;
	if (fgets(buf, sizeof(buf), f) && sscanf(buf, "config:%d", &bit) != 1)
		bit = -1;
	fclose(f);
	return bit;
}

/* The perf event of a uprobe/kprobe PMU (type read from its sysfs dir) on name+offset. */
static struct perf_event_attr probe_attr(const char *pmu, int type, int retprobe, const char *name,
					 uint64_t offset)
{
	struct perf_event_attr attr = perf_attr(type, 0);
	if (retprobe) {
		int bit = pmu_format_bit(pmu, "retprobe");
		attr.config |= 1ull << (bit < 0 ? 0 : bit);
	}
	attr.config1 = (uint64_t)(uintptr_t)name;
	attr.config2 = offset;
	return attr;
}

/* Connects a BPF program to a perf event fd: a BPF_PERF_EVENT link where the kernel has one
 * (5.15+, carries the cookie), else the older ioctl. Fills slot i of l. */
static int link_perf_event(struct bpfpm_attachment *l, int i, int prog_fd, int pfd, __u64 cookie)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .perf_event.bpf_cookie = cookie);
	int lfd = bpf_link_create(prog_fd, pfd, BPF_PERF_EVENT, &opts);
	if (lfd >= 0) {
		l->fds[i] = lfd;
		l->perf_fds[i] = pfd;
		return 0;
	}
	int err = errno;
	if (err != EINVAL && err != EOPNOTSUPP)
		return -err;
	if (cookie)
		return -EOPNOTSUPP;
	if (ioctl(pfd, PERF_EVENT_IOC_SET_BPF, prog_fd) < 0 || ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0) < 0)
		return -errno;
	l->kind = LINK_PERF;
	l->fds[i] = pfd;
	return 0;
}

/* Connects prog_fd to the perf event l holds in slot 0 (link_of_fd). On failure l is destroyed,
 * the event with it, and the -errno returned for the caller's message. */
static int connect_perf_or_destroy(struct bpfpm_attachment *l, int prog_fd, __u64 cookie)
{
	int ret = link_perf_event(l, 0, prog_fd, l->fds[0], cookie);
	if (ret < 0)
		bpfpm_attachment__destroy(l);
	return ret;
}

/* The kernel's info (struct bpf_link_info, bpf_prog_info) on a bpf fd, zeroed first as the kernel
 * wants; -1 with errno. */
static int obj_info(int fd, void *info, __u32 len)
{
	memset(info, 0, len);
	return bpf_obj_get_info_by_fd(fd, info, &len);
}

static const char *perf_bpf_reason(int err)
{
	switch (err) {
	case EINVAL:
		return "the program's type does not fit this event (a probe needs a kprobe/uprobe program)";
	case EEXIST:
		return "a program is already attached to this event";
	case EPERM:
	case EACCES:
		return "permission denied (needs CAP_BPF and CAP_PERFMON)";
	default:
		return strerror(err);
	}
}

BPFPM_API int bpfpm_attachment__destroy(struct bpfpm_attachment *l)
{
	if (!l)
		return 0;
	bpfpm_clear_error();
	int ret = 0;
	int saved = -1;
	if (l->netns_fd >= 0) {
		saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (saved >= 0 && setns(l->netns_fd, CLONE_NEWNET) < 0) {
			close(saved);
			saved = -1;
		}
	}
	switch (l->kind) {
	case LINK_XDP_NETLINK: {
		LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = l->prog_fd_dup);
		if (bpf_xdp_detach(l->ifindex, l->xdp_flags | XDP_FLAGS_REPLACE, &o) < 0 && errno != ENODEV &&
		    errno != EEXIST)
			ret = bpfpm_fail(errno, "detaching XDP from ifindex %d failed: %s", l->ifindex, strerror(errno));
		break;
	}
	case LINK_TC_NETLINK: {
		struct bpf_tc_opts o = l->tc_opts;
		o.prog_fd = 0;
		o.prog_id = 0;
		o.flags = 0;
		if (bpf_tc_detach(&l->tc_hook, &o) < 0 && errno != ENOENT && errno != ENODEV && errno != EINVAL)
			ret = bpfpm_fail(errno, "detaching the TC filter from ifindex %d failed: %s", l->ifindex,
					 strerror(errno));
		break;
	}
	default:
		break;
	}
	if (saved >= 0) {
		setns(saved, CLONE_NEWNET);
		close(saved);
	}
	if (l->netns_fd >= 0)
		close(l->netns_fd);
	int unused = 0; /* the kernel wants an int-sized option even for a detach */
	if (l->kind == LINK_SOCKET && l->borrowed_socket && l->nfds > 0 && l->fds[0] >= 0 &&
	    setsockopt(l->fds[0], SOL_SOCKET, SO_DETACH_BPF, &unused, sizeof(unused)) < 0 && errno != ENOENT)
		ret = bpfpm_fail(errno, "detaching the socket filter failed: %s", strerror(errno));
	for (int i = 0; i < l->nfds; i++) {
		if (l->kind == LINK_PERF && l->fds[i] >= 0)
			ioctl(l->fds[i], PERF_EVENT_IOC_DISABLE, 0);
		if (l->fds[i] >= 0)
			close(l->fds[i]);
		if (l->perf_fds[i] >= 0)
			close(l->perf_fds[i]);
	}
	if (l->prog_fd_dup >= 0)
		close(l->prog_fd_dup);
	if (l->lb)
		bpf_link__destroy(l->lb);
	if (l->kprobe_event[0]) {
		char cmd[128];
		int fd = open(l->kprobe_events_path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd >= 0) {
			int n = snprintf(cmd, sizeof(cmd), "-:%s\n", l->kprobe_event);
			if (write(fd, cmd, n) < 0 && !ret)
				ret = bpfpm_fail(errno, "removing kprobe event %s failed: %s", l->kprobe_event,
						 strerror(errno));
			close(fd);
		}
	}
	free(l->fds);
	free(l->perf_fds);
	free(l);
	return ret;
}

BPFPM_API int bpfpm_attachment__fd(const struct bpfpm_attachment *l)
{
	if (l && l->lb)
		return bpf_link__fd(l->lb);
	return l && l->nfds > 0 ? l->fds[0] : -EBADF;
}

BPFPM_API int bpfpm_attachment__count(const struct bpfpm_attachment *l) { return l ? l->nfds : 0; }

/* The kernel id of the bpf link (0 when the attachment is not a bpf link, e.g. a socket filter). */
BPFPM_API int64_t bpfpm_attachment__id(const struct bpfpm_attachment *l)
{
	if (!l || l->kind != LINK_FD || l->nfds < 1)
		return 0;
	struct bpf_link_info info;
	if (obj_info(l->fds[0], &info, sizeof(info)) < 0)
		return bpfpm_fail(errno, "reading link info failed: %s", strerror(errno));
	return info.id;
}

/* ---- uprobe / kprobe ---------------------------------------------------------------------- */


BPFPM_API struct bpfpm_attachment *bpfpm_attach__uprobe(int prog_fd, const char *binary, uint64_t offset, int32_t pid,
						    uint32_t flags, uint64_t ref_ctr_offset, uint64_t cookie)
{
	bpfpm_clear_error();
	int type;
	if (read_int_file("/sys/bus/event_source/devices/uprobe/type", &type) < 0)
		return fail_null(EOPNOTSUPP, "this kernel has no uprobe PMU (/sys/bus/event_source/devices/uprobe is "
					     "missing; CONFIG_UPROBE_EVENTS is not set)");
	struct perf_event_attr attr = probe_attr("uprobe", type, flags & BPFPM_PROBE_RETURN, binary, offset);
	if (ref_ctr_offset) {
		int bit = pmu_format_bit("uprobe", "ref_ctr_offset");
		if (bit < 0)
			return fail_null(EOPNOTSUPP, "this kernel cannot count USDT semaphores in uprobes (needs 4.20+)");
		attr.config |= ref_ctr_offset << bit;
	}
	int pfd = perf_event_open(&attr, pid >= 0 ? pid : -1, pid >= 0 ? -1 : 0, -1, PERF_FLAG_FD_CLOEXEC);
	if (pfd < 0) {
		int err = errno;
		if (err == ESRCH)
			return fail_null(err, "process %d does not exist (it may have exited): pass a live pid or none",
					 pid);
		if (err == ENOENT)
			return fail_null(err, "binary %s does not exist", binary);
		return fail_null(err, "opening a %s on %s+0x%llx failed: %s",
				 flags & BPFPM_PROBE_RETURN ? "uretprobe" : "uprobe", binary,
				 (unsigned long long)offset, strerror(err));
	}
	struct bpfpm_attachment *l = link_of_fd(pfd);
	int ret = l ? connect_perf_or_destroy(l, prog_fd, cookie) : 0;
	if (ret < 0)
		return fail_null(-ret, "attaching the program to the uprobe on %s+0x%llx failed: %s", binary,
				 (unsigned long long)offset, perf_bpf_reason(-ret));
	return l;
}

static int tracefs_dir(char *out, size_t n)
{
	if (access("/sys/kernel/tracing/events", F_OK) == 0) {
		snprintf(out, n, "/sys/kernel/tracing");
		return 0;
	}
	if (access("/sys/kernel/debug/tracing/events", F_OK) == 0) {
		snprintf(out, n, "/sys/kernel/debug/tracing");
		return 0;
	}
	return -ENOENT;
}

/* Does this kernel have kprobes at all? 1 yes, 0 no. The kprobe PMU (4.17+) or kprobe_events. */
BPFPM_API int bpfpm_probe__kprobes(void)
{
	int type;
	char dir[64], path[128];
	if (read_int_file("/sys/bus/event_source/devices/kprobe/type", &type) == 0)
		return 1;
	if (tracefs_dir(dir, sizeof(dir)) == 0) {
		snprintf(path, sizeof(path), "%s/kprobe_events", dir);
		return access(path, F_OK) == 0;
	}
	return 0;
}

static void *no_kprobes(const char *what)
{
	return fail_null(EOPNOTSUPP,
			 "cannot attach %s: this kernel has no kprobes (CONFIG_KPROBES is not set); use a tracepoint "
			 "(e.g. syscalls:sys_enter_*) or a kernel built with CONFIG_KPROBES=y",
			 what);
}

/* Connects prog_fd to the kprobe perf event l holds (link_of_fd); NULL with the error set on failure. */
static struct bpfpm_attachment *kprobe_connect(struct bpfpm_attachment *l, int prog_fd, const char *func,
					       uint64_t cookie)
{
	int ret = connect_perf_or_destroy(l, prog_fd, cookie);
	if (ret < 0)
		return fail_null(-ret, "attaching the program to kprobe %s failed: %s", func, perf_bpf_reason(-ret));
	return l;
}

static struct bpfpm_attachment *kprobe_legacy(int prog_fd, const char *func, uint64_t offset, int retprobe,
					int maxactive, uint64_t cookie)
{
	static int seq;
	char dir[64], path[192], event[64], cmd[256];
	if (tracefs_dir(dir, sizeof(dir)) < 0)
		return fail_null(ENOENT, "tracefs is not mounted: run mount -t tracefs tracefs /sys/kernel/tracing");
	snprintf(event, sizeof(event), "bpfpm_%d_%d", getpid(), __sync_add_and_fetch(&seq, 1));
	char maxa[16] = "";
	if (retprobe && maxactive > 0)
		snprintf(maxa, sizeof(maxa), "%d", maxactive);
	int n = snprintf(cmd, sizeof(cmd), "%c%s:bpfpm/%s %s+%llu\n", retprobe ? 'r' : 'p', maxa, event, func,
			 (unsigned long long)offset);
	snprintf(path, sizeof(path), "%s/kprobe_events", dir);
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return no_kprobes(func);
	if (write(fd, cmd, n) < 0) {
		int err = errno;
		close(fd);
		return fail_null(err, "creating a kprobe on %s failed: %s (is the symbol in /proc/kallsyms?)", func,
				 strerror(err));
	}
	close(fd);
	struct bpfpm_attachment *l = link_new(LINK_FD, 1);
	if (!l)
		return fail_null(ENOMEM, "out of memory");
	snprintf(l->kprobe_event, sizeof(l->kprobe_event), "bpfpm/%s", event);
	snprintf(l->kprobe_events_path, sizeof(l->kprobe_events_path), "%s/kprobe_events", dir);
	snprintf(path, sizeof(path), "%s/events/bpfpm/%s/id", dir, event);
	int id;
	if (read_int_file(path, &id) < 0) {
		bpfpm_attachment__destroy(l);
		return fail_null(ENOENT, "kprobe event %s has no id", event);
	}
	int pfd = perf_open_tracepoint(id);
	if (pfd < 0) {
		int err = errno;
		bpfpm_attachment__destroy(l);
		return fail_null(err, "opening kprobe event %s failed: %s", event, strerror(err));
	}
	l->fds[0] = pfd;
	l->nfds = 1;
	return kprobe_connect(l, prog_fd, func, cookie);
}

BPFPM_API struct bpfpm_attachment *bpfpm_attach__kprobe(int prog_fd, const char *func, uint64_t offset, uint32_t flags,
						    int32_t maxactive, uint64_t cookie)
{
	bpfpm_clear_error();
	int retprobe = (flags & BPFPM_PROBE_RETURN) != 0;
	int type;
	if (read_int_file("/sys/bus/event_source/devices/kprobe/type", &type) < 0 || maxactive > 0) {
		if (!bpfpm_probe__kprobes())
			return no_kprobes(func);
		return kprobe_legacy(prog_fd, func, offset, retprobe, maxactive, cookie);
	}
	struct perf_event_attr attr = probe_attr("kprobe", type, retprobe, func, offset);
	int pfd = perf_event_open(&attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	if (pfd < 0) {
		int err = errno;
		return fail_null(err, "opening a %s on %s+%llu failed: %s (is the symbol in /proc/kallsyms?)",
				 retprobe ? "kretprobe" : "kprobe", func, (unsigned long long)offset, strerror(err));
	}
	struct bpfpm_attachment *l = link_of_fd(pfd);
	return l ? kprobe_connect(l, prog_fd, func, cookie) : NULL;
}

/* ---- BTF-based tracing: fentry / fexit / fmod_ret / lsm / tp_btf ------------------------- */

BPFPM_API struct bpfpm_attachment *bpfpm_attach__tracing(int prog_fd, const char *what)
{
	bpfpm_clear_error();
	int fd = bpf_raw_tracepoint_open(NULL, prog_fd);
	if (fd < 0) {
		int err = errno;
		if (err == EPERM || err == 524 /* ENOTSUPP */ || err == EOPNOTSUPP || err == ENODEV)
			return fail_null(err,
					 "cannot attach %s: this kernel denies ftrace function ops (%s); fentry/fexit "
					 "need CONFIG_FUNCTION_TRACER and CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS, or use "
					 "a tracepoint instead",
					 what, strerror(err));
		return fail_null(err, "attaching %s failed: %s", what, strerror(err));
	}
	return link_of_fd(fd);
}

/* ---- perf_event ----------------------------------------------------------------------------- */


static int online_cpus(int *cpus, int max)
{
	FILE *f = fopen("/sys/devices/system/cpu/online", "re");
	if (!f)
		return -errno;
	char buf[1024];
	int n = 0;
	if (fgets(buf, sizeof(buf), f)) {
		char *s = buf;
		while (*s && *s != '\n') {
			int a, b;
			int used;
			if (sscanf(s, "%d%n", &a, &used) != 1)
				break;
			s += used;
			b = a;
			if (*s == '-') {
				s++;
				if (sscanf(s, "%d%n", &b, &used) != 1)
					break;
				s += used;
			}
			for (int c = a; c <= b && n < max; c++)
				cpus[n++] = c;
			if (*s == ',')
				s++;
		}
	}
	fclose(f);
	return n;
}

BPFPM_API struct bpfpm_attachment *bpfpm_attach__perf_event(int prog_fd, uint32_t type, uint64_t config,
							uint64_t sample, uint32_t flags, int32_t pid, int32_t cpu)
{
	bpfpm_clear_error();
	int cpus[1024];
	int ncpu;
	if (cpu >= 0) {
		cpus[0] = cpu;
		ncpu = 1;
	} else if (pid >= 0) {
		cpus[0] = -1;
		ncpu = 1;
	} else {
		ncpu = online_cpus(cpus, 1024);
		if (ncpu <= 0)
			return fail_null(ncpu < 0 ? -ncpu : ENOENT, "cannot read the online CPUs");
	}
	struct bpfpm_attachment *l = link_new(LINK_FD, ncpu);
	if (!l)
		return fail_null(ENOMEM, "out of memory");
	for (int i = 0; i < ncpu; i++) {
		struct perf_event_attr attr = perf_attr(type, config);
		attr.sample_period = sample;
		attr.freq = (flags & BPFPM_PERF_FREQ) != 0;
		int pfd = perf_event_open(&attr, pid >= 0 ? pid : -1, cpus[i], -1, PERF_FLAG_FD_CLOEXEC);
		if (pfd < 0) {
			int err = errno;
			bpfpm_attachment__destroy(l);
			if (err == ESRCH)
				return fail_null(err, "process %d does not exist (it may have exited)", pid);
			if (err == ENOENT || err == EOPNOTSUPP)
				return fail_null(err,
						 "this kernel or machine has no perf event type %u config %llu (%s); "
						 "virtual machines often lack hardware counters: use a software event "
						 "such as cpu-clock",
						 type, (unsigned long long)config, strerror(err));
			return fail_null(err, "opening perf event type %u config %llu on CPU %d failed: %s", type,
					 (unsigned long long)config, cpus[i], strerror(err));
		}
		l->nfds = i + 1;
		int ret = link_perf_event(l, i, prog_fd, pfd, 0);
		if (ret < 0) {
			close(pfd);
			bpfpm_attachment__destroy(l);
			return fail_null(-ret, "attaching the program to the perf event failed: %s",
					 -ret == EINVAL ? "the program must be a perf_event program (SEC(\"perf_event\"))"
							: strerror(-ret));
		}
	}
	return l;
}

/* ---- networking: XDP, TC, socket filters ---------------------------------------------------- */

/* Runs the next steps in network namespace netns (a name under /var/run/netns, or a path):
 * setns on this thread only, undone by netns_leave. Links made inside keep their device. */
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

static int ifindex_of(const char *ifname)
{
	unsigned idx = if_nametoindex(ifname);
	if (!idx) {
		int ret = bpfpm_fail(ENODEV, "network interface %s does not exist (see ip link)", ifname);
		errno = ENODEV;
		return ret;
	}
	return (int)idx;
}


/* What a network attach names; each kind reads the fields it needs. */
struct net_attach {
	int prog_fd;
	const char *ifname;
	uint32_t flags;
	int sock_fd;
};

static struct bpfpm_attachment *attach_xdp_here(const struct net_attach *a)
{
	int ifindex = ifindex_of(a->ifname);
	if (ifindex < 0)
		return NULL;
	__u32 xflags = 0;
	if (a->flags & BPFPM_XDP_SKB)
		xflags |= XDP_FLAGS_SKB_MODE;
	if (a->flags & BPFPM_XDP_DRV)
		xflags |= XDP_FLAGS_DRV_MODE;
	if (a->flags & BPFPM_XDP_REPLACE) {
		if (bpf_xdp_attach(ifindex, a->prog_fd, xflags, NULL) < 0)
			return fail_null(errno, "attaching XDP to %s failed: %s", a->ifname, strerror(errno));
		struct bpfpm_attachment *l = link_new(LINK_XDP_NETLINK, 0);
		if (!l)
			return fail_null(ENOMEM, "out of memory");
		l->ifindex = ifindex;
		l->xdp_flags = xflags;
		l->prog_fd_dup = fcntl(a->prog_fd, F_DUPFD_CLOEXEC, 3);
		return l;
	}
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = xflags);
	int fd = bpf_link_create(a->prog_fd, ifindex, BPF_XDP, &opts);
	if (fd < 0) {
		int err = errno;
		if (err == EBUSY || err == EEXIST)
			return fail_null(err, "%s already has an XDP program: pass { replace: true } to replace it",
					 a->ifname);
		if (err == EOPNOTSUPP && (a->flags & BPFPM_XDP_DRV))
			return fail_null(err, "the driver of %s has no native XDP: use { mode: \"generic\" }",
					 a->ifname);
		return fail_null(err, "attaching XDP to %s failed: %s", a->ifname, strerror(err));
	}
	struct bpfpm_attachment *l = link_of_fd(fd);
	if (l)
		l->ifindex = ifindex;
	return l;
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


static struct bpfpm_attachment *attach_tc_here(const struct net_attach *a)
{
	int ifindex = ifindex_of(a->ifname);
	if (ifindex < 0)
		return NULL;
	int egress = (a->flags & BPFPM_TC_EGRESS) != 0;
	const char *dir = egress ? "egress" : "ingress";
	if (!(a->flags & BPFPM_TC_CLSACT)) {
		int fd = tcx_link_create(a->prog_fd, ifindex, egress);
		if (fd >= 0) {
			struct bpfpm_attachment *l = link_of_fd(fd);
			if (l)
				l->ifindex = ifindex;
			return l;
		}
		if (fd != -EINVAL)
			return fail_null(-fd, "attaching TC %s to %s failed: %s", dir, a->ifname, strerror(-fd));
		/* EINVAL: no tcx in this kernel (before 6.6); use clsact through netlink. */
	}
	struct bpfpm_attachment *l = link_new(LINK_TC_NETLINK, 0);
	if (!l)
		return fail_null(ENOMEM, "out of memory");
	l->ifindex = ifindex;
	l->tc_hook.sz = sizeof(l->tc_hook);
	l->tc_hook.ifindex = ifindex;
	l->tc_hook.attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS;
	int ret = bpf_tc_hook_create(&l->tc_hook);
	if (ret < 0 && ret != -EEXIST) {
		link_free(l);
		return fail_null(-ret, "creating the clsact qdisc on %s failed: %s", a->ifname, strerror(-ret));
	}
	l->tc_opts.sz = sizeof(l->tc_opts);
	l->tc_opts.prog_fd = a->prog_fd;
	ret = bpf_tc_attach(&l->tc_hook, &l->tc_opts);
	if (ret < 0) {
		link_free(l);
		return fail_null(-ret, "attaching TC %s to %s failed: %s", dir, a->ifname,
				 -ret == EINVAL ? "the program must be a TC classifier (SEC(\"tc\"))" : strerror(-ret));
	}
	return l;
}

static struct bpfpm_attachment *attach_socket_here(const struct net_attach *a)
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
			return fail_null(errno, "opening a raw socket failed: %s (needs CAP_NET_RAW)", strerror(errno));
		struct sockaddr_ll sll;
		memset(&sll, 0, sizeof(sll));
		sll.sll_family = AF_PACKET;
		sll.sll_ifindex = ifindex;
		sll.sll_protocol = htons(ETH_P_ALL);
		if (bind(sock_fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
			int err = errno;
			close(sock_fd);
			return fail_null(err, "binding the raw socket to %s failed: %s", a->ifname, strerror(err));
		}
	}
	if (setsockopt(sock_fd, SOL_SOCKET, SO_ATTACH_BPF, &a->prog_fd, sizeof(a->prog_fd)) < 0) {
		int err = errno;
		if (own)
			close(sock_fd);
		return fail_null(err, "attaching the socket filter failed: %s",
				 err == EINVAL ? "the program must be a socket filter (SEC(\"socket\"))" : strerror(err));
	}
	struct bpfpm_attachment *l = link_new(LINK_SOCKET, 1);
	if (!l) {
		if (own)
			close(sock_fd);
		return fail_null(ENOMEM, "out of memory");
	}
	/* A caller's socket stays the caller's: destroy detaches the filter through a dup and
	 * closes only the dup. */
	l->fds[0] = own ? sock_fd : fcntl(sock_fd, F_DUPFD_CLOEXEC, 3);
	l->nfds = 1;
	l->borrowed_socket = !own;
	return l;
}

/* ---- cgroup, iterators ---------------------------------------------------------------------- */

BPFPM_API struct bpfpm_attachment *bpfpm_attach__cgroup(int prog_fd, const char *path, uint32_t attach_type)
{
	bpfpm_clear_error();
	int cg = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		int err = errno;
		if (err == ENOENT)
			return fail_null(err, "cgroup %s does not exist: create it (mkdir) or pass an existing cgroup2 "
					      "directory",
					 path);
		return fail_null(err, "opening cgroup %s failed: %s", path, strerror(err));
	}
	struct statfs sfs;
	if (fstatfs(cg, &sfs) == 0 && sfs.f_type != CGROUP2_SUPER_MAGIC) {
		close(cg);
		return fail_null(EINVAL, "%s is not a cgroup2 directory: BPF cgroup programs need cgroup v2 "
					 "(mounted at /sys/fs/cgroup or /sys/fs/cgroup/unified)",
				 path);
	}
	int fd = bpf_link_create(prog_fd, cg, attach_type, NULL);
	int err = errno;
	close(cg);
	if (fd < 0)
		return fail_null(err, "attaching the program to cgroup %s failed: %s", path,
				 err == EINVAL ? "the program's type or expected attach type does not fit "
						 "(e.g. cgroup_skb/ingress, cgroup/sock_create, cgroup/connect4)"
					       : strerror(err));
	return link_of_fd(fd);
}

BPFPM_API struct bpfpm_attachment *bpfpm_attach__iter(int prog_fd)
{
	bpfpm_clear_error();
	int fd = bpf_link_create(prog_fd, 0, BPF_TRACE_ITER, NULL);
	if (fd < 0)
		return fail_null(errno, "creating the iterator link failed: %s",
				 errno == EINVAL ? "the program must be an iterator (SEC(\"iter/task\") etc.)"
						 : strerror(errno));
	return link_of_fd(fd);
}

/* Starts one pass of an iterator link: an fd whose read() runs the program. Close it when done. */
BPFPM_API int bpfpm_attachment__iter_open(const struct bpfpm_attachment *l)
{
	bpfpm_clear_error();
	if (!l || l->kind != LINK_FD || l->nfds < 1)
		return bpfpm_fail(EINVAL, "not an iterator link");
	int fd = bpf_iter_create(l->fds[0]);
	if (fd < 0)
		return bpfpm_fail(errno, "starting the iterator failed: %s", strerror(errno));
	return fd;
}

/* Reads up to cap bytes of iterator output; 0 at the end, -errno on error. */
BPFPM_API int64_t bpfpm_iter__read(int fd, uint8_t *buf, uint64_t cap)
{
	for (;;) {
		ssize_t n = read(fd, buf, cap);
		if (n >= 0)
			return n;
		if (errno != EINTR && errno != EAGAIN)
			return bpfpm_fail(errno, "reading the iterator failed: %s", strerror(errno));
	}
}

BPFPM_API int bpfpm_fd__close(int fd) { return close(fd) < 0 ? -errno : 0; }

/* ---- pinning -------------------------------------------------------------------------------- */

BPFPM_API int bpfpm_attachment__pin(struct bpfpm_attachment *l, const char *path)
{
	bpfpm_clear_error();
	if (!l || l->kind != LINK_FD || l->nfds != 1)
		return bpfpm_fail(EOPNOTSUPP, "only a single bpf link can be pinned (not a socket filter, a "
					      "netlink XDP/TC attachment or a per-CPU perf event group)");
	if (bpf_obj_pin(l->fds[0], path) < 0) {
		int err = errno;
		if (err == ENOENT || err == EPERM)
			return bpfpm_fail(err, "pinning to %s failed: %s (is bpffs mounted? mount -t bpf bpf /sys/fs/bpf)",
					  path, strerror(err));
		return bpfpm_fail(err, "pinning to %s failed: %s", path, strerror(err));
	}
	snprintf(l->pin_path, sizeof(l->pin_path), "%s", path);
	return 0;
}

BPFPM_API int bpfpm_attachment__unpin(struct bpfpm_attachment *l)
{
	bpfpm_clear_error();
	if (!l || !l->pin_path[0])
		return bpfpm_fail(EINVAL, "the link is not pinned");
	if (unlink(l->pin_path) < 0 && errno != ENOENT)
		return bpfpm_fail(errno, "unpinning %s failed: %s", l->pin_path, strerror(errno));
	l->pin_path[0] = '\0';
	return 0;
}

BPFPM_API struct bpfpm_attachment *bpfpm_attachment__open_pinned(const char *path)
{
	bpfpm_clear_error();
	int fd = bpf_obj_get(path);
	if (fd < 0) {
		int err = errno;
		return fail_null(err, "opening the pinned link %s failed: %s", path,
				 err == ENOENT ? "no such pin" : strerror(err));
	}
	struct bpf_link_info info;
	if (obj_info(fd, &info, sizeof(info)) < 0) {
		close(fd);
		return fail_null(EINVAL, "%s is pinned but is not a bpf link (a map or program?)", path);
	}
	struct bpfpm_attachment *l = link_of_fd(fd);
	if (l)
		snprintf(l->pin_path, sizeof(l->pin_path), "%s", path);
	return l;
}

/* ---- USDT (libbpf's USDT manager: spec table + bpf_usdt_arg() in usdt.bpf.h) ------------- */

BPFPM_API struct bpfpm_attachment *bpfpm_attach__usdt(const struct bpf_program *prog, int32_t pid,
							const char *binary, const char *provider, const char *name,
							uint64_t cookie)
{
	bpfpm_clear_error();
	struct bpfpm_text log = {0};
	LIBBPF_OPTS(bpf_usdt_opts, opts, .usdt_cookie = cookie);
	bpfpm_log_capture_begin(&log);
	struct bpf_link *lb = bpf_program__attach_usdt(prog, pid >= 0 ? pid : -1, binary, provider, name, &opts);
	int err = lb ? 0 : errno;
	bpfpm_log_capture_end();
	if (!lb) {
		char line[1024];
		bpfpm_log_last_line(&log, line, sizeof(line));
		bpfpm_text_free(&log);
		err = err ? err : EINVAL;
		if (err == ENOENT)
			return fail_null(err, "USDT probe %s:%s not found in %s (list them with usdtProbes())", provider,
					 name, binary);
		if (err == ESRCH)
			return fail_null(err, "process %d does not exist (it may have exited)", pid);
		return fail_null(err, "attaching USDT %s:%s in %s failed: %s%s%s%s", provider, name, binary,
				 strerror(err), line[0] ? " (" : "", line, line[0] ? ")" : "");
	}
	bpfpm_text_free(&log);
	struct bpfpm_attachment *l = link_new(LINK_FD, 0);
	if (!l) {
		bpf_link__destroy(lb);
		return fail_null(ENOMEM, "out of memory");
	}
	l->lb = lb;
	return l;
}

/* ---- syscall kprobe fallback -------------------------------------------------------------- */

/* Loads a twin of a loaded kprobe program as a tracepoint program (same instructions, map fds
 * already relocated in them) and attaches it to the tracepoint with perf id tp_id. The twin
 * is owned by the attachment. Works for programs that do not read pt_regs (the verifier
 * refuses those: a tracepoint's context is its record, not registers). */
BPFPM_API struct bpfpm_attachment *bpfpm_attach__tracepoint_twin(const struct bpf_program *prog, int tp_id,
								  const char *tracepoint)
{
	bpfpm_clear_error();
	const struct bpf_insn *insns = bpf_program__insns(prog);
	size_t cnt = bpf_program__insn_cnt(prog);
	int prog_fd = bpf_program__fd(prog);
	if (!insns || !cnt || prog_fd < 0)
		return fail_null(EINVAL, "program '%s' has no instructions to reload as a tracepoint program",
				 bpf_program__name(prog));
	struct bpf_prog_info info;
	if (obj_info(prog_fd, &info, sizeof(info)) < 0)
		return fail_null(errno, "reading program info failed: %s", strerror(errno));
	static char log[65536];
	log[0] = '\0';
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .log_buf = log, .log_size = sizeof(log), .log_level = 1);
	int twin = bpf_prog_load(BPF_PROG_TYPE_TRACEPOINT, bpf_program__name(prog),
				 info.gpl_compatible ? "GPL" : "Proprietary", insns, cnt, &opts);
	if (twin < 0) {
		int err = errno;
		/* The verifier's last non-empty line says why. */
		char *last = NULL, *p = log;
		for (char *nl; (nl = strchr(p, '\n')); p = nl + 1) {
			if (nl > p && strncmp(p, "processed ", 10) && strncmp(p, "verification time", 17)) {
				*nl = '\0';
				last = p;
			}
		}
		return fail_null(err,
				 "program '%s' cannot run on tracepoint %s (%s): a syscall tracepoint has no "
				 "pt_regs, so a kprobe program that reads its arguments from registers cannot fall "
				 "back; use TRACEPOINT_PROBE(syscalls, ...) and args->... instead",
				 bpf_program__name(prog), tracepoint, last ? last : strerror(err));
	}
	int pfd = perf_open_tracepoint(tp_id);
	if (pfd < 0) {
		int err = errno;
		close(twin);
		return fail_null(err, "opening tracepoint %s failed: %s", tracepoint, strerror(err));
	}
	struct bpfpm_attachment *l = link_of_fd(pfd);
	if (!l) {
		close(twin);
		return NULL;
	}
	l->prog_fd_dup = twin;
	int ret = connect_perf_or_destroy(l, twin, 0);
	if (ret < 0) {
		if (ret == -EACCES)
			return fail_null(EACCES,
					 "program '%s' reads past the record of tracepoint %s: it reads its "
					 "arguments from pt_regs, which a syscall tracepoint does not have; use "
					 "TRACEPOINT_PROBE(syscalls, ...) and args->... instead",
					 bpf_program__name(prog), tracepoint);
		return fail_null(-ret, "attaching to tracepoint %s failed: %s", tracepoint, strerror(-ret));
	}
	return l;
}

/* The kernel id of the program an attachment loaded for itself (the syscall fallback twin), 0 if none. */
BPFPM_API int64_t bpfpm_attachment__own_program_id(const struct bpfpm_attachment *l)
{
	if (!l || l->kind == LINK_XDP_NETLINK || l->prog_fd_dup < 0)
		return 0;
	struct bpf_prog_info info;
	if (obj_info(l->prog_fd_dup, &info, sizeof(info)) < 0)
		return 0;
	return info.id;
}

/* Runs attach in network namespace netns (none: this one). A netlink attachment made there keeps
 * the namespace to detach in it; a bpf link or socket needs none. */
static struct bpfpm_attachment *attach_in_netns(const char *netns,
						struct bpfpm_attachment *(*attach)(const struct net_attach *),
						const struct net_attach *a)
{
	bpfpm_clear_error();
	int saved, target;
	if (netns_enter(netns, &saved, &target) < 0) {
		errno = bpfpm_last_errno();
		return NULL;
	}
	struct bpfpm_attachment *l = attach(a);
	netns_leave(saved);
	if (l && target >= 0 && (l->kind == LINK_XDP_NETLINK || l->kind == LINK_TC_NETLINK))
		l->netns_fd = target;
	else if (target >= 0)
		close(target);
	return l;
}

BPFPM_API struct bpfpm_attachment *bpfpm_attach__xdp(int prog_fd, const char *ifname, uint32_t flags, const char *netns)
{
	struct net_attach a = {.prog_fd = prog_fd, .ifname = ifname, .flags = flags};
	return attach_in_netns(netns, attach_xdp_here, &a);
}

BPFPM_API struct bpfpm_attachment *bpfpm_attach__tc(int prog_fd, const char *ifname, uint32_t flags, const char *netns)
{
	struct net_attach a = {.prog_fd = prog_fd, .ifname = ifname, .flags = flags};
	return attach_in_netns(netns, attach_tc_here, &a);
}

BPFPM_API struct bpfpm_attachment *bpfpm_attach__socket(int prog_fd, const char *ifname, int sock_fd, const char *netns)
{
	struct net_attach a = {.prog_fd = prog_fd, .ifname = ifname, .sock_fd = sock_fd};
	return attach_in_netns(netns, attach_socket_here, &a);
}
