/* BTF-typed programs: tp_btf, fentry/fexit/fmod_ret and lsm, attached to the target named at
 * load (the program's attach_btf_id). One way for all of them. */
#include <errno.h>
#include <string.h>

#include <bpf/bpf.h>

#include "link.h"

#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif

BPFPM_API struct bpfpm_link *bpfpm_program__attach_tracing(int prog_fd, const char *what, uint32_t flags)
{
	bpfpm_clear_error();
	int fd = bpf_raw_tracepoint_open(NULL, prog_fd);
	if (fd < 0) {
		int err = errno;
		if ((flags & BPFPM_TRACING_FTRACE) &&
		    (err == EPERM || err == ENOTSUPP || err == EOPNOTSUPP || err == ENODEV))
			return bpfpm_fail_null(err,
					       "cannot attach %s: this kernel denies ftrace function ops (%s); "
					       "fentry/fexit need CONFIG_FUNCTION_TRACER and "
					       "CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS, or use a tracepoint instead",
					       what, strerror(err));
		return bpfpm_fail_null(err, "attaching %s failed: %s", what, strerror(err));
	}
	return link_of_fd(fd, 1);
}
