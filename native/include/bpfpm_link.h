/* bpfpm native layer, links (src/link/): every attach kind returns one struct bpfpm_link,
 * which owns whatever keeps the program attached (a bpf link fd, one perf event per CPU, a
 * raw socket, a netlink XDP/TC attachment, a legacy kprobe_events entry, a libbpf USDT link)
 * and releases it in bpfpm_link__destroy. The rules are at the top of bpfpm.h: constructors
 * return NULL and record errno + message (bpfpm_last_errno, bpfpm_last_error); calls return
 * 0 or -errno.
 *
 * Wherever the kernel offers a bpf link it is used: a link fd detaches when its last
 * reference goes away, so a SIGKILLed process leaves nothing attached. The netlink paths
 * (XDP replace, clsact TC on kernels before tcx) do outlive the process; they are taken only
 * when asked for or when no link kind exists. */
#ifndef BPFPM_LINK_H
#define BPFPM_LINK_H
#include "bpfpm.h"

#ifdef __cplusplus
extern "C" {
#endif

struct bpfpm_link;

/* flags of uprobe/kprobe (and multi) */
#define BPFPM_PROBE_RETURN 1u
/* flags of multi: a session program (runs at entry and at return) */
#define BPFPM_PROBE_SESSION 2u
/* flags of perf_event: sample is a frequency (Hz), not a period */
#define BPFPM_PERF_FREQ 1u
/* flags of xdp */
#define BPFPM_XDP_SKB 1u     /* generic mode */
#define BPFPM_XDP_DRV 2u     /* native (driver) mode */
#define BPFPM_XDP_REPLACE 4u /* netlink attach replacing what is there (outlives the process) */
/* flags of tc */
#define BPFPM_TC_EGRESS 1u
#define BPFPM_TC_CLSACT 2u /* netlink clsact filter even where tcx links exist */
/* flags of tracing: the target is a kernel function reached through ftrace (fentry, fexit,
 * fmod_ret, lsm), so a kernel that denies ftrace function ops is named as the cause */
#define BPFPM_TRACING_FTRACE 1u

/* ---- attach kinds (src/link/<kind>.c) ---- */

/* Tracepoint category:event (tracefs events/<category>/<event>): a perf event with the
 * program attached. */
BPFPM_API struct bpfpm_link *bpfpm_program__attach_tracepoint(int prog_fd, const char *category,
							       const char *event);
/* Raw tracepoint name (e.g. "sched_switch"). */
BPFPM_API struct bpfpm_link *bpfpm_program__attach_raw_tracepoint(int prog_fd, const char *name);
/* BTF-typed programs (tp_btf, fentry/fexit/fmod_ret, lsm) on the target they were loaded for;
 * what names the program in errors; flags: BPFPM_TRACING_FTRACE. */
BPFPM_API struct bpfpm_link *bpfpm_program__attach_tracing(int prog_fd, const char *what, uint32_t flags);
/* uprobe/uretprobe on binary at file offset; pid -1 for every process; ref_ctr_offset is a USDT
 * semaphore's file offset (0: none); cookie is bpf_get_attach_cookie()'s value (5.15+). */
BPFPM_API struct bpfpm_link *bpfpm_program__attach_uprobe(int prog_fd, const char *binary, uint64_t offset,
							   int32_t pid, uint32_t flags, uint64_t ref_ctr_offset,
							   uint64_t cookie);
/* kprobe/kretprobe on kernel function func+offset; maxactive > 0 uses kprobe_events. */
BPFPM_API struct bpfpm_link *bpfpm_program__attach_kprobe(int prog_fd, const char *func, uint64_t offset,
							   uint32_t flags, int32_t maxactive, uint64_t cookie);
/* Multi-attach: one bpf link on many places. binary NULL or "": kprobe.multi, kretprobe.multi
 * (BPFPM_PROBE_RETURN) or kprobe.session (BPFPM_PROBE_SESSION) on cnt kernel functions, whose
 * names lie back to back, NUL-terminated, in names. binary a path: uprobe.multi,
 * uretprobe.multi or uprobe.session on cnt file offsets of it (offsets), pid -1 for every
 * process. cookies: cnt bpf_get_attach_cookie() values, or NULL. bpfpm_link__count is cnt. */
BPFPM_API struct bpfpm_link *bpfpm_program__attach_multi(int prog_fd, const char *binary, const char *names,
							  const uint64_t *offsets, const uint64_t *cookies,
							  uint32_t cnt, int32_t pid, uint32_t flags);
/* Syscall kprobe fallback: reloads prog's instructions as a tracepoint program and attaches that
 * twin to the n tracepoints whose perf ids are tp_ids (tracefs events/<cat>/<event>/id; what
 * names them in errors); the link owns the twin (bpfpm_link__own_program_id) and groups the n
 * events (bpfpm_link__count). */
BPFPM_API struct bpfpm_link *bpfpm_program__attach_syscall_twin(const struct bpf_program *prog,
								 const int32_t *tp_ids, uint32_t n,
								 const char *what);
/* perf event type/config sampled every `sample` events (or at `sample` Hz with BPFPM_PERF_FREQ);
 * pid -1 and cpu -1: one event per online CPU, all in this link. */
BPFPM_API struct bpfpm_link *bpfpm_program__attach_perf_event(int prog_fd, uint32_t type, uint64_t config,
							       uint64_t sample, uint32_t flags, int32_t pid,
							       int32_t cpu);
/* XDP, TC and socket filters take netns: a name under /var/run/netns (or a path) whose interface
 * ifname is meant; NULL or "" for this process's namespace. */
BPFPM_API struct bpfpm_link *bpfpm_program__attach_xdp(int prog_fd, const char *ifname, uint32_t flags,
							const char *netns);
/* TC ingress/egress: a tcx link (6.6+) or a clsact filter through netlink. */
BPFPM_API struct bpfpm_link *bpfpm_program__attach_tc(int prog_fd, const char *ifname, uint32_t flags,
						       const char *netns);
/* Socket filter on sock_fd, or (sock_fd -1) on a new AF_PACKET raw socket bound to ifname
 * (NULL or "": every interface); bpfpm_link__fd is that socket. */
BPFPM_API struct bpfpm_link *bpfpm_program__attach_socket(int prog_fd, const char *ifname, int sock_fd,
							   const char *netns);
/* cgroup program on the cgroup2 directory path with attach_type (enum bpf_attach_type). */
BPFPM_API struct bpfpm_link *bpfpm_program__attach_cgroup(int prog_fd, const char *path, uint32_t attach_type);
BPFPM_API struct bpfpm_link *bpfpm_program__attach_iter(int prog_fd);
/* USDT provider:name in binary through libbpf's USDT manager (programs include <bpf/usdt.bpf.h>). */
BPFPM_API struct bpfpm_link *bpfpm_program__attach_usdt(const struct bpf_program *prog, int32_t pid,
							 const char *binary, const char *provider, const char *name,
							 uint64_t cookie);

/* ---- the link (src/link/link.c) ---- */

/* Detaches (a pinned bpf link stays attached through its pin) and frees the link. */
BPFPM_API int bpfpm_link__destroy(struct bpfpm_link *link);
/* The fd that stands for it: a bpf link fd, a perf event, the socket of a socket filter;
 * -EBADF when there is none (netlink XDP/TC). */
BPFPM_API int bpfpm_link__fd(const struct bpfpm_link *link);
/* How many kernel attachments it groups (per-CPU perf events: one per CPU). */
BPFPM_API int bpfpm_link__count(const struct bpfpm_link *link);
/* Kernel link id (0 when it is not one bpf link). */
BPFPM_API int64_t bpfpm_link__id(const struct bpfpm_link *link);
/* The id of the program the link loaded for itself (the syscall fallback twin), 0 if none. */
BPFPM_API int64_t bpfpm_link__own_program_id(const struct bpfpm_link *link);
/* Pins a single bpf link at path on bpffs / removes that pin. */
BPFPM_API int bpfpm_link__pin(struct bpfpm_link *link, const char *path);
BPFPM_API int bpfpm_link__unpin(struct bpfpm_link *link);
/* Opens the bpf link pinned at path (its pin remembered for bpfpm_link__unpin). */
BPFPM_API struct bpfpm_link *bpfpm_link__open_pinned(const char *path);

/* ---- iterators (src/link/iter.c) ---- */

/* Starts one pass of an iterator link: an fd to read with bpfpm_iter__read and close with
 * bpfpm_fd__close. */
BPFPM_API int bpfpm_link__iter_open(const struct bpfpm_link *link);
/* Reads up to cap bytes of iterator output; 0 at the end, -errno on error. */
BPFPM_API int64_t bpfpm_iter__read(int fd, uint8_t *buf, uint64_t cap);
BPFPM_API int bpfpm_fd__close(int fd);

#ifdef __cplusplus
}
#endif
#endif
