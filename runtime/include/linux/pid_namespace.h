/* BCC compatibility: <linux/pid_namespace.h> is the BTF-generated vmlinux.h plus the constants BTF lacks. */
#include "bcc/compat.h"
