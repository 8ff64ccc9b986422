/* Feature probes for runtime/features.ts (declared in bpfpm_features.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "bpfpm_features.h"
#include "internal.h"

/* libbpf's probe answer r (1 yes, 0 no, -errno), a no recorded as "this kernel cannot <what> %u". */
static int probe_answer(int r, const char *what, uint32_t type)
{
	if (r == 0)
		bpfpm_fail(EOPNOTSUPP, "this kernel cannot %s %u", what, type);
	return r;
}

/* Loads "r0 = 0; exit" as a program of type with opts: its fd, or -1 with errno. */
static int load_noop(enum bpf_prog_type type, const struct bpf_prog_load_opts *opts)
{
	static const struct bpf_insn insns[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
		{.code = BPF_JMP | BPF_EXIT},
	};
	return bpf_prog_load(type, "bpfpm_probe", "GPL", insns, 2, opts);
}

BPFPM_API int bpfpm_probe__prog_type(uint32_t type)
{
	bpfpm_clear_error();
	return probe_answer(libbpf_probe_bpf_prog_type((enum bpf_prog_type)type, NULL), "load BPF program type",
			    type);
}

BPFPM_API int bpfpm_probe__map_type(uint32_t type)
{
	bpfpm_clear_error();
	return probe_answer(libbpf_probe_bpf_map_type((enum bpf_map_type)type, NULL), "create BPF map type", type);
}

/* Loads "r0 = 0; exit" as a tracing program of attach_type on vmlinux function func and, if
 * do_attach, attaches it: 1 if that works. Everything made is closed again. */
BPFPM_API int bpfpm_probe__tracing(uint32_t attach_type, const char *func, int do_attach)
{
	bpfpm_clear_error();
	struct btf *btf = btf__load_vmlinux_btf();
	if (!btf)
		return bpfpm_fail(errno, "cannot read the kernel's BTF (/sys/kernel/btf/vmlinux): %s", strerror(errno));
	int id;
	if (attach_type == BPF_TRACE_RAW_TP) {
		/* tp_btf targets are the typedefs btf_trace_<tracepoint>. */
		char name[256];
		snprintf(name, sizeof(name), "btf_trace_%s", func);
		id = btf__find_by_name_kind(btf, name, BTF_KIND_TYPEDEF);
	} else {
		id = btf__find_by_name_kind(btf, func, BTF_KIND_FUNC);
	}
	btf__free(btf);
	if (id < 0)
		return bpfpm_fail(ENOENT, "kernel function %s has no BTF", func);
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach_type, .attach_btf_id = id);
	enum bpf_prog_type type = attach_type == BPF_LSM_MAC ? BPF_PROG_TYPE_LSM : BPF_PROG_TYPE_TRACING;
	int fd = load_noop(type, &opts);
	if (fd < 0) {
		int err = errno;
		bpfpm_fail(err, "loading a probe program on %s failed: %s", func, strerror(err));
		return 0;
	}
	if (!do_attach) {
		close(fd);
		return 1;
	}
	int lfd = bpf_raw_tracepoint_open(NULL, fd);
	int err = errno;
	close(fd);
	if (lfd < 0) {
		bpfpm_fail(err, "attaching a probe program to %s failed: %s", func, strerror(err));
		return 0;
	}
	close(lfd);
	return 1;
}

/* tcx (6.6+): a link create on ifindex 0 answers ENODEV where the attach type exists and
 * EINVAL where it does not; nothing is attached either way. */
BPFPM_API int bpfpm_probe__tcx(void)
{
	bpfpm_clear_error();
	int fd = load_noop(BPF_PROG_TYPE_SCHED_CLS, NULL);
	if (fd < 0)
		return bpfpm_fail(errno, "loading a TC probe program failed: %s", strerror(errno));
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.link_create.prog_fd = fd;
	attr.link_create.target_fd = 0;
	attr.link_create.attach_type = BPFPM_TCX_INGRESS;
	int lfd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
	int err = errno;
	close(fd);
	if (lfd >= 0) {
		close(lfd);
		return 1;
	}
	if (err == ENODEV)
		return 1;
	bpfpm_fail(err, "this kernel has no tcx links (6.6+): TC attaches through clsact");
	return 0;
}

/* Does this kernel have kprobes at all? 1 yes, 0 no. The kprobe PMU (4.17+) or kprobe_events. */
BPFPM_API int bpfpm_probe__kprobes(void)
{
	int type;
	char dir[64], path[128];
	if (bpfpm_read_int_file("/sys/bus/event_source/devices/kprobe/type", &type) == 0)
		return 1;
	if (bpfpm_tracefs_dir(dir, sizeof(dir)) == 0) {
		snprintf(path, sizeof(path), "%s/kprobe_events", dir);
		return access(path, F_OK) == 0;
	}
	return 0;
}
