/* bpfpm native layer, attach kinds (src/attach_kinds.c) and feature probes
 * (src/attach_features.c). Declared in runtime/_ffi.ts under "// --- attach ---".
 *
 * An attachment owns whatever keeps a program attached (bpf link fds, perf event fds, a raw
 * socket, a netlink XDP/TC attachment, a legacy kprobe event, a libbpf USDT link) and frees it
 * in bpfpm_attachment__destroy. Constructors return NULL and record errno + message
 * (bpfpm_last_errno, bpfpm_last_error); calls return 0 or -errno. */
#ifndef BPFPM_ATTACH_H
#define BPFPM_ATTACH_H
#include "bpfpm.h"

#ifdef __cplusplus
extern "C" {
#endif

struct bpfpm_attachment;

/* flags of uprobe/kprobe */
#define BPFPM_PROBE_RETURN 1u
/* flags of perf_event: sample is a frequency (Hz), not a period */
#define BPFPM_PERF_FREQ 1u
/* flags of xdp */
#define BPFPM_XDP_SKB 1u     /* generic mode */
#define BPFPM_XDP_DRV 2u     /* native (driver) mode */
#define BPFPM_XDP_REPLACE 4u /* netlink attach replacing what is there (outlives the process) */
/* flags of tc */
#define BPFPM_TC_EGRESS 1u
#define BPFPM_TC_CLSACT 2u /* netlink clsact filter even where tcx links exist */

/* uprobe/uretprobe on binary at file offset; pid -1 for every process; ref_ctr_offset is a USDT
 * semaphore's file offset (0: none); cookie is bpf_get_attach_cookie()'s value (5.15+). */
BPFPM_API struct bpfpm_attachment *bpfpm_attach__uprobe(int prog_fd, const char *binary, uint64_t offset,
							 int32_t pid, uint32_t flags, uint64_t ref_ctr_offset,
							 uint64_t cookie);
/* kprobe/kretprobe on kernel function func+offset; maxactive > 0 uses kprobe_events. */
BPFPM_API struct bpfpm_attachment *bpfpm_attach__kprobe(int prog_fd, const char *func, uint64_t offset,
							 uint32_t flags, int32_t maxactive, uint64_t cookie);
/* fentry/fexit/fmod_ret/lsm on the BTF target the program was loaded for; what names it in errors. */
BPFPM_API struct bpfpm_attachment *bpfpm_attach__tracing(int prog_fd, const char *what);
/* perf event type/config sampled every `sample` events (or at `sample` Hz with BPFPM_PERF_FREQ);
 * pid -1 and cpu -1: one event per online CPU, all in this attachment. */
BPFPM_API struct bpfpm_attachment *bpfpm_attach__perf_event(int prog_fd, uint32_t type, uint64_t config,
							     uint64_t sample, uint32_t flags, int32_t pid, int32_t cpu);
/* XDP, TC and socket filters take netns: a name under /var/run/netns (or a path) whose interface
 * ifname is meant; NULL or "" for this process's namespace. */
BPFPM_API struct bpfpm_attachment *bpfpm_attach__xdp(int prog_fd, const char *ifname, uint32_t flags,
						      const char *netns);
/* TC ingress/egress: a tcx link (6.6+) or a clsact filter through netlink. */
BPFPM_API struct bpfpm_attachment *bpfpm_attach__tc(int prog_fd, const char *ifname, uint32_t flags,
						     const char *netns);
/* Socket filter on sock_fd, or (sock_fd -1) on a new AF_PACKET raw socket bound to ifname
 * (NULL or "": every interface); bpfpm_attachment__fd is that socket. */
BPFPM_API struct bpfpm_attachment *bpfpm_attach__socket(int prog_fd, const char *ifname, int sock_fd,
							 const char *netns);
/* cgroup program on the cgroup2 directory path with attach_type (enum bpf_attach_type). */
BPFPM_API struct bpfpm_attachment *bpfpm_attach__cgroup(int prog_fd, const char *path, uint32_t attach_type);
BPFPM_API struct bpfpm_attachment *bpfpm_attach__iter(int prog_fd);
/* USDT provider:name in binary through libbpf's USDT manager (programs include <bpf/usdt.bpf.h>). */
BPFPM_API struct bpfpm_attachment *bpfpm_attach__usdt(const struct bpf_program *prog, int32_t pid,
							const char *binary, const char *provider, const char *name,
							uint64_t cookie);

/* Syscall kprobe fallback: reloads prog's instructions as a tracepoint program and attaches that
 * twin to the tracepoint whose perf id is tp_id (tracefs events/<cat>/<event>/id). */
BPFPM_API struct bpfpm_attachment *bpfpm_attach__tracepoint_twin(const struct bpf_program *prog, int tp_id,
								  const char *tracepoint);
/* The id of the program the attachment loaded itself (the fallback twin), 0 if none. */
BPFPM_API int64_t bpfpm_attachment__own_program_id(const struct bpfpm_attachment *a);

BPFPM_API int bpfpm_attachment__destroy(struct bpfpm_attachment *a);
BPFPM_API int bpfpm_attachment__fd(const struct bpfpm_attachment *a);
/* How many kernel attachments it groups (per-CPU perf events: one per CPU). */
BPFPM_API int bpfpm_attachment__count(const struct bpfpm_attachment *a);
/* Kernel link id (0 when not a bpf link). */
BPFPM_API int64_t bpfpm_attachment__id(const struct bpfpm_attachment *a);
BPFPM_API int bpfpm_attachment__pin(struct bpfpm_attachment *a, const char *path);
BPFPM_API int bpfpm_attachment__unpin(struct bpfpm_attachment *a);
BPFPM_API struct bpfpm_attachment *bpfpm_attachment__open_pinned(const char *path);
/* Starts one iterator pass: an fd to read with bpfpm_iter__read and close with bpfpm_fd__close. */
BPFPM_API int bpfpm_attachment__iter_open(const struct bpfpm_attachment *a);
BPFPM_API int64_t bpfpm_iter__read(int fd, uint8_t *buf, uint64_t cap);
BPFPM_API int bpfpm_fd__close(int fd);

BPFPM_API int bpfpm_probe__prog_type(uint32_t type);
BPFPM_API int bpfpm_probe__map_type(uint32_t type);
BPFPM_API int bpfpm_probe__helper(uint32_t prog_type, uint32_t helper);
BPFPM_API int bpfpm_probe__tracing(uint32_t attach_type, const char *func, int do_attach);
BPFPM_API int bpfpm_probe__tcx(void);
BPFPM_API int bpfpm_probe__kprobes(void);

#ifdef __cplusplus
}
#endif
#endif
