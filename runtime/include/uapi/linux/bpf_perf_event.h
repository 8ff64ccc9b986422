/* BCC compatibility: <uapi/linux/bpf_perf_event.h> is the BTF-generated vmlinux.h plus the constants BTF lacks. */
#include "bcc/compat.h"
