/* BCC compatibility: <uapi/linux/if_ether.h> is the BTF-generated vmlinux.h plus the constants BTF lacks. */
#include "bcc/compat.h"
