/* bpfpm native layer, feature probes (src/features.c): tiny programs and attach attempts that
 * tell which program, map and attach kinds this kernel has. Each returns 1 (yes), 0 (no) or
 * -errno (cannot tell); on 0 the last error says why. */
#ifndef BPFPM_FEATURES_H
#define BPFPM_FEATURES_H
#include "bpfpm.h"

#ifdef __cplusplus
extern "C" {
#endif

BPFPM_API int bpfpm_probe__prog_type(uint32_t type);
BPFPM_API int bpfpm_probe__map_type(uint32_t type);
/* A BTF-typed attach (enum bpf_attach_type) on kernel function func; do_attach also attaches. */
BPFPM_API int bpfpm_probe__tracing(uint32_t attach_type, const char *func, int do_attach);
/* tcx links (6.6+). */
BPFPM_API int bpfpm_probe__tcx(void);
/* kprobes at all: the kprobe PMU (4.17+) or tracefs kprobe_events. */
BPFPM_API int bpfpm_probe__kprobes(void);

#ifdef __cplusplus
}
#endif
#endif
