/* Multi-attach links: one bpf link attaches a program at many kernel functions (kprobe.multi,
 * kretprobe.multi, kprobe.session: 5.18, sessions 6.10, through fprobe) or at many offsets
 * of one binary (uprobe.multi, uretprobe.multi, uprobe.session: 6.6, sessions 6.13), through
 * BPF_LINK_CREATE's kprobe_multi and uprobe_multi attributes. The system's UAPI header and
 * libbpf 1.1 predate most of them, so the attributes and the sections libbpf does not know are
 * declared here (the attach types in internal.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "bpfpm_features.h"
#include "link.h"

enum {
	MULTI_RETURN = 1,  /* BPF_F_KPROBE_MULTI_RETURN, BPF_F_UPROBE_MULTI_RETURN */
	PROG_SLEEPABLE = 16, /* BPF_F_SLEEPABLE */
};

/* BPF_LINK_CREATE's attributes for the multi kinds (the kernel zero-extends a shorter attr). */
struct multi_attr {
	uint32_t prog_fd, target_fd, attach_type, flags;
	union {
		struct {
			uint32_t flags, cnt;
			uint64_t syms, addrs, cookies;
		} kprobe;
		struct {
			uint64_t path, offsets, ref_ctr_offsets, cookies;
			uint32_t cnt, flags, pid;
		} uprobe;
	};
};

/* The multi sections libbpf 1.1 lacks (it knows kprobe.multi and kretprobe.multi), registered
 * as libbpf's own custom sections are: the program type and expected attach type libbpf loads
 * them with, and the sleepable flag of the .s forms. */
static const struct {
	const char *sec;
	int attach_type;
	long sleepable;
} multi_sections[] = {
	{"uprobe.multi.s+", BPFPM_TRACE_UPROBE_MULTI, 1},   {"uprobe.multi+", BPFPM_TRACE_UPROBE_MULTI, 0},
	{"uretprobe.multi.s+", BPFPM_TRACE_UPROBE_MULTI, 1}, {"uretprobe.multi+", BPFPM_TRACE_UPROBE_MULTI, 0},
	{"uprobe.session.s+", BPFPM_TRACE_UPROBE_SESSION, 1}, {"uprobe.session+", BPFPM_TRACE_UPROBE_SESSION, 0},
	{"kprobe.session+", BPFPM_TRACE_KPROBE_SESSION, 0},
};

static int set_sleepable(struct bpf_program *prog, long cookie)
{
	if (cookie)
		return bpf_program__set_flags(prog, bpf_program__flags(prog) | PROG_SLEEPABLE);
	return 0;
}

static void register_sections(void)
{
	for (size_t i = 0; i < sizeof(multi_sections) / sizeof(multi_sections[0]); i++) {
		LIBBPF_OPTS(libbpf_prog_handler_opts, opts, .cookie = multi_sections[i].sleepable,
			    .prog_setup_fn = set_sleepable);
		libbpf_register_prog_handler(multi_sections[i].sec, BPF_PROG_TYPE_KPROBE,
					     multi_sections[i].attach_type, &opts);
	}
}

void bpfpm_register_sections(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, register_sections);
}

static const char *multi_reason(int err, int kernel)
{
	switch (err) {
	case EINVAL:
		return kernel ? "the program must be a kprobe.multi/kretprobe.multi/kprobe.session program, loaded "
				"from such a section"
			      : "the program must be a uprobe.multi/uretprobe.multi/uprobe.session program, loaded "
				"from such a section";
	case EPERM:
	case EACCES:
		return "permission denied (needs CAP_BPF and CAP_PERFMON)";
	default:
		return strerror(err);
	}
}

BPFPM_API struct bpfpm_link *bpfpm_program__attach_multi(int prog_fd, const char *binary, const char *names,
							  const uint64_t *offsets, const uint64_t *cookies,
							  uint32_t cnt, int32_t pid, uint32_t flags)
{
	bpfpm_clear_error();
	int kernel = !binary || !*binary;
	int session = (flags & BPFPM_PROBE_SESSION) != 0;
	const char *what = kernel ? (session ? "kprobe.session" : flags & BPFPM_PROBE_RETURN ? "kretprobe.multi" : "kprobe.multi")
				  : (session ? "uprobe.session" : flags & BPFPM_PROBE_RETURN ? "uretprobe.multi" : "uprobe.multi");
	if (!cnt)
		return bpfpm_fail_null(EINVAL, "a %s link needs at least one %s", what, kernel ? "function" : "offset");
	struct multi_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.prog_fd = prog_fd;
	const char **syms = NULL;
	if (kernel) {
		syms = calloc(cnt, sizeof(*syms));
		if (!syms)
			return bpfpm_fail_null(ENOMEM, "out of memory");
		const char *p = names;
		for (uint32_t i = 0; i < cnt; p += strlen(p) + 1)
			syms[i++] = p;
		attr.attach_type = session ? BPFPM_TRACE_KPROBE_SESSION : BPFPM_TRACE_KPROBE_MULTI;
		attr.kprobe.flags = !session && (flags & BPFPM_PROBE_RETURN) ? MULTI_RETURN : 0;
		attr.kprobe.cnt = cnt;
		attr.kprobe.syms = (uint64_t)(uintptr_t)syms;
		attr.kprobe.cookies = (uint64_t)(uintptr_t)cookies;
	} else {
		attr.attach_type = session ? BPFPM_TRACE_UPROBE_SESSION : BPFPM_TRACE_UPROBE_MULTI;
		attr.uprobe.flags = !session && (flags & BPFPM_PROBE_RETURN) ? MULTI_RETURN : 0;
		attr.uprobe.cnt = cnt;
		attr.uprobe.path = (uint64_t)(uintptr_t)binary;
		attr.uprobe.offsets = (uint64_t)(uintptr_t)offsets;
		attr.uprobe.cookies = (uint64_t)(uintptr_t)cookies;
		attr.uprobe.pid = pid > 0 ? (uint32_t)pid : 0;
	}
	int fd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
	int err = errno;
	free(syms);
	if (fd < 0) {
		if (kernel && (err == EOPNOTSUPP) && !bpfpm_probe__kprobes())
			return bpfpm_fail_null(EOPNOTSUPP,
					       "cannot attach %s: this kernel has no kprobes (CONFIG_KPROBES is not set; "
					       "%s also needs CONFIG_FPROBE); use a tracepoint (e.g. syscalls:sys_enter_*) "
					       "or a kernel built with CONFIG_KPROBES=y and CONFIG_FPROBE=y",
					       what, what);
		if (kernel && (err == EOPNOTSUPP))
			return bpfpm_fail_null(EOPNOTSUPP, "cannot attach %s: this kernel has no multi-kprobes "
							   "(needs 5.18+ with CONFIG_FPROBE=y; sessions 6.10+)",
					       what);
		if (!kernel && err == EINVAL && session)
			return bpfpm_fail_null(err, "attaching %s on %s failed: %s (uprobe sessions need 6.13+)",
					       what, binary, multi_reason(err, kernel));
		if (!kernel && err == ENOENT)
			return bpfpm_fail_null(err, "binary %s does not exist", binary);
		if (!kernel && err == ESRCH)
			return bpfpm_fail_null(err, "process %d does not exist (it may have exited): pass a live pid or none",
					       pid);
		if (kernel && (err == ENOENT || err == ESRCH))
			return bpfpm_fail_null(err, "attaching %s failed: a function is not traceable (check each name in "
						    "/sys/kernel/tracing/available_filter_functions)",
					       what);
		if (kernel)
			return bpfpm_fail_null(err, "attaching %s on %u kernel functions failed: %s", what, cnt,
					       multi_reason(err, kernel));
		return bpfpm_fail_null(err, "attaching %s on %u offsets of %s failed: %s", what, cnt, binary,
				       multi_reason(err, kernel));
	}
	struct bpfpm_link *l = link_of_fd(fd, 1);
	if (l) {
		l->count = cnt;
		l->one_link = 1;
	}
	return l;
}
