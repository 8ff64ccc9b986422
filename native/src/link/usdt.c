/* USDT probes through libbpf's USDT manager (its spec table, bpf_usdt_arg() in usdt.bpf.h): the
 * link holds libbpf's own link, which groups a uprobe per call site. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "link.h"

struct usdt_link {
	struct bpfpm_link link;
	struct bpf_link *libbpf;
};

static int usdt_detach(struct bpfpm_link *l)
{
	struct usdt_link *u = (struct usdt_link *)l;
	int err = bpf_link__destroy(u->libbpf);
	u->libbpf = NULL;
	l->fd = -1;
	return err ? bpfpm_fail(err, "detaching a USDT link failed: %s", strerror(-err)) : 0;
}

BPFPM_API struct bpfpm_link *bpfpm_program__attach_usdt(const struct bpf_program *prog, int32_t pid,
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
			return bpfpm_fail_null(err, "USDT probe %s:%s not found in %s (list them with usdtProbes())",
					       provider, name, binary);
		if (err == ESRCH)
			return bpfpm_fail_null(err, "process %d does not exist (it may have exited)", pid);
		return bpfpm_fail_null(err, "attaching USDT %s:%s in %s failed: %s%s%s%s", provider, name, binary,
				       strerror(err), line[0] ? " (" : "", line, line[0] ? ")" : "");
	}
	bpfpm_text_free(&log);
	struct usdt_link *u = calloc(1, sizeof(*u));
	if (!u) {
		bpf_link__destroy(lb);
		return bpfpm_fail_null(ENOMEM, "out of memory");
	}
	link_init(&u->link);
	u->link.detach = usdt_detach;
	u->link.count = 0;
	u->link.fd = bpf_link__fd(lb);
	u->libbpf = lb;
	return &u->link;
}
