/* BCC compatibility: <uapi/linux/capability.h> is the BTF-generated vmlinux.h plus the constants BTF lacks. */
#include "bcc/compat.h"
