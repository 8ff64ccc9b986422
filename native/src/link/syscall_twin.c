/* The syscall kprobe fallback: a kernel without kprobes still has syscall tracepoints. The
 * link loads a twin of a loaded kprobe program as a tracepoint program (same instructions, map
 * fds already relocated in them), owns it, and attaches it to the tracepoint. Works for
 * programs that do not read pt_regs (the verifier refuses those: a tracepoint's context is
 * its record, not registers). One twin serves every tracepoint of a multi kprobe's syscalls. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "link.h"

BPFPM_API struct bpfpm_link *bpfpm_program__attach_syscall_twin(const struct bpf_program *prog,
								 const int32_t *tp_ids, uint32_t n,
								 const char *tracepoint)
{
	bpfpm_clear_error();
	const struct bpf_insn *insns = bpf_program__insns(prog);
	size_t cnt = bpf_program__insn_cnt(prog);
	int prog_fd = bpf_program__fd(prog);
	if (!insns || !cnt || prog_fd < 0)
		return bpfpm_fail_null(EINVAL, "program '%s' has no instructions to reload as a tracepoint program",
				       bpf_program__name(prog));
	struct bpf_prog_info info;
	if (obj_info(prog_fd, &info, sizeof(info)) < 0)
		return bpfpm_fail_null(errno, "reading program info failed: %s", strerror(errno));
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
		return bpfpm_fail_null(err,
				       "program '%s' cannot run on tracepoint %s (%s): a syscall tracepoint has no "
				       "pt_regs, so a kprobe program that reads its arguments from registers cannot "
				       "fall back; use TRACEPOINT_PROBE(syscalls, ...) and args->... instead",
				       bpf_program__name(prog), tracepoint, last ? last : strerror(err));
	}
	struct perf_link *pl = perf_link_new(n);
	if (!pl) {
		close(twin);
		return NULL;
	}
	pl->link.own_prog_fd = twin; /* destroying pl closes the twin */
	for (uint32_t i = 0; i < n; i++) {
		int pfd = perf_open_tracepoint(tp_ids[i]);
		if (pfd < 0) {
			int err = errno;
			bpfpm_link__destroy(&pl->link);
			return bpfpm_fail_null(err, "opening tracepoint %s failed: %s", tracepoint, strerror(err));
		}
		int ret = perf_link_connect(pl, i, twin, pfd, 0);
		if (ret < 0) {
			close(pfd);
			bpfpm_link__destroy(&pl->link);
			if (ret == -EACCES)
				return bpfpm_fail_null(EACCES,
						       "program '%s' reads past the record of tracepoint %s: it reads its "
						       "arguments from pt_regs, which a syscall tracepoint does not have; use "
						       "TRACEPOINT_PROBE(syscalls, ...) and args->... instead",
						       bpf_program__name(prog), tracepoint);
			return bpfpm_fail_null(-ret, "attaching to tracepoint %s failed: %s", tracepoint,
					       strerror(-ret));
		}
	}
	return &pl->link;
}
