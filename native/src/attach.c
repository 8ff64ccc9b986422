/* Links: attach a loaded program (tracepoint, raw tracepoint, BTF-typed, by section) and
 * detach it. Each attach kind in runtime/attach/ calls one of these. */
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Runs an attach call with libbpf's log captured, and turns a failure into the last error. */
static struct bpf_link *finish(struct bpf_link *link, struct bpfpm_text *log, const char *what,
			       const struct bpf_program *prog)
{
	int err = link ? 0 : errno;
	bpfpm_log_capture_end();
	if (!link) {
		char line[1024];
		bpfpm_log_last_line(log, line, sizeof(line));
		err = err ? err : EINVAL;
		if (line[0])
			bpfpm_fail(err, "cannot attach program '%s' to %s: %s (%s)", bpf_program__name(prog), what,
				   strerror(err), line);
		else
			bpfpm_fail(err, "cannot attach program '%s' to %s: %s", bpf_program__name(prog), what,
				   strerror(err));
	}
	bpfpm_text_free(log);
	return link;
}

BPFPM_API struct bpf_link *bpfpm_program__attach_tracepoint(const struct bpf_program *prog,
							     const char *category, const char *event)
{
	bpfpm_clear_error();
	struct bpfpm_text log = {0};
	char what[512];
	snprintf(what, sizeof(what), "tracepoint %s:%s", category, event);
	bpfpm_log_capture_begin(&log);
	return finish(bpf_program__attach_tracepoint(prog, category, event), &log, what, prog);
}

BPFPM_API struct bpf_link *bpfpm_program__attach_raw_tracepoint(const struct bpf_program *prog,
								 const char *name)
{
	bpfpm_clear_error();
	struct bpfpm_text log = {0};
	char what[512];
	snprintf(what, sizeof(what), "raw tracepoint %s", name);
	bpfpm_log_capture_begin(&log);
	return finish(bpf_program__attach_raw_tracepoint(prog, name), &log, what, prog);
}

BPFPM_API struct bpf_link *bpfpm_program__attach_trace(const struct bpf_program *prog)
{
	bpfpm_clear_error();
	struct bpfpm_text log = {0};
	char what[512];
	snprintf(what, sizeof(what), "its BTF target (section %s)", bpf_program__section_name(prog));
	bpfpm_log_capture_begin(&log);
	return finish(bpf_program__attach_trace(prog), &log, what, prog);
}

BPFPM_API int bpfpm_link__fd(const struct bpf_link *link) { return bpf_link__fd(link); }

BPFPM_API int bpfpm_link__destroy(struct bpf_link *link)
{
	bpfpm_clear_error();
	int err = bpf_link__destroy(link);
	return err ? bpfpm_fail(err, "cannot detach a link: %s", strerror(-err)) : 0;
}
